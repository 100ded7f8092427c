"""Every form limit gives the same verdict whatever the TCP split (issue 13, failing
input 7), and urlencoded bodies are decoded as browsers encode them (failing input 8).

Each limit is tested at the limit (accepted) and one past it (refused), with the body
fed whole, byte by byte, and split in two at every offset, as tests/http11 does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from asgi_magic.web.exceptions import HTTPException
from asgi_magic.web.multipart import parse_multipart
from asgi_magic.web.requests import Request

BOUNDARY = "b0"
CT = f"multipart/form-data; boundary={BOUNDARY}"


def _splits(body: bytes) -> Iterator[list[bytes]]:
    yield [body]
    yield [body[i : i + 1] for i in range(len(body))]
    for cut in range(1, len(body)):
        yield [body[:cut], body[cut:]]


def _part(name: str, value: bytes, filename: str | None = None, extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n".encode()
        + value
        + b"\r\n"
    )


def _body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def _multipart_verdict(chunks: list[bytes], **limits: Any) -> int:
    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    try:
        form = await parse_multipart(stream(), CT, **limits)
    except HTTPException as exc:
        return exc.status_code
    await form.close()
    return 200


def _verdicts(body: bytes, **limits: Any) -> set[int]:
    async def run() -> set[int]:
        return {await _multipart_verdict(chunks, **limits) for chunks in _splits(body)}

    return asyncio.run(run())


# (limit name, value, body at the limit, body one past it, the refusal status)
HEADER_LINE = "Content-Type: text/plain\r\n"
MULTIPART_CASES = [
    ("max_part_size", 4, _body(_part("a", b"1234")), _body(_part("a", b"12345")), 413),
    (
        "max_file_size",
        4,
        _body(_part("f", b"1234", "f.txt")),
        _body(_part("f", b"12345", "f.txt")),
        413,
    ),
    (
        "max_fields",
        2,
        _body(_part("a", b"1"), _part("b", b"2")),
        _body(*[_part("a", b"1")] * 3),
        400,
    ),
    (
        "max_files",
        1,
        _body(_part("f", b"1", "a")),
        _body(_part("f", b"1", "a"), _part("f", b"2", "b")),
        400,
    ),
    (
        "max_body_size",
        len(_body(_part("a", b"1234"))),
        _body(_part("a", b"1234")),
        _body(_part("a", b"12345")),
        413,
    ),
    (
        "max_part_header_size",
        len(f'Content-Disposition: form-data; name="a"\r\n{HEADER_LINE}'.rstrip("\r\n")),
        _body(_part("a", b"1", extra=HEADER_LINE)),
        _body(_part("a", b"1", extra=HEADER_LINE.replace("plain", "plainx"))),
        413,
    ),
]


@pytest.mark.parametrize(
    ("limit", "value", "ok_body", "over_body", "status"),
    MULTIPART_CASES,
    ids=[case[0] for case in MULTIPART_CASES],
)
def test_multipart_limit_verdict_is_split_independent(
    limit: str, value: int, ok_body: bytes, over_body: bytes, status: int
) -> None:
    limits = {limit: value}
    assert _verdicts(ok_body, **limits) == {200}
    assert _verdicts(over_body, **limits) == {status}


# --- urlencoded -------------------------------------------------------------------------


async def _form_verdict(
    chunks: list[bytes], content_type: str = "application/x-www-form-urlencoded", **limits: Any
) -> tuple[int, list[tuple[str, Any]]]:
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> Any:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", content_type.encode())],
    }
    try:
        form = await Request(scope, receive).form(**limits)  # type: ignore[arg-type]
    except HTTPException as exc:
        return exc.status_code, []
    return 200, list(form.multi_items())


URLENCODED_CASES = [
    ("max_fields", 2, b"a=1&b=2", b"a=1&b=2&c=3", 400),
    ("max_part_size", 3, b"a=%41%42%43", b"a=%41%42%43%44", 413),
    ("max_part_size", 3, b"abc=1", b"abcd=1", 413),
    ("max_body_size", 7, b"a=1&b=2", b"a=1&b=22", 413),
]


@pytest.mark.parametrize(
    ("limit", "value", "ok_body", "over_body", "status"),
    URLENCODED_CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(URLENCODED_CASES)],
)
def test_urlencoded_limit_verdict_is_split_independent(
    limit: str, value: int, ok_body: bytes, over_body: bytes, status: int
) -> None:
    async def run(body: bytes) -> set[int]:
        return {(await _form_verdict(c, **{limit: value}))[0] for c in _splits(body)}

    assert asyncio.run(run(ok_body)) == {200}
    assert asyncio.run(run(over_body)) == {status}


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"name=Zo%C3%AB", "", [("name", "Zoë")]),
        (b"name=%FF", "", [("name", "\ufffd")]),  # a browser shows U+FFFD, so do we
        (b"name=Zo\xc3\xab", "", [("name", "Zoë")]),  # raw bytes are bytes too
        (b"name=Zo%EB", "; charset=iso-8859-1", [("name", "Zoë")]),
        (b"name=Zo%EB", '; charset="ISO-8859-1"', [("name", "Zoë")]),
        (b"name=%82%A0", "; charset=shift_jis", [("name", "あ")]),
        (b"a+b=c+d%2B", "", [("a b", "c d+")]),
        (b"a=1;b=2", "", [("a", "1;b=2")]),  # WHATWG: only & separates
        (b"&&a&=x&", "", [("a", ""), ("", "x")]),
        (b"a=%zz%", "", [("a", "%zz%")]),  # a bad escape is kept as text
        (b"", "", []),
    ],
)
def test_urlencoded_decoding_follows_whatwg(
    body: bytes, content_type: str, expected: list[tuple[str, str]]
) -> None:
    async def run() -> tuple[int, list[tuple[str, Any]]]:
        return await _form_verdict([body], "application/x-www-form-urlencoded" + content_type)

    assert asyncio.run(run()) == (200, expected)


def test_unknown_form_charset_is_400() -> None:
    async def run() -> tuple[int, list[tuple[str, Any]]]:
        return await _form_verdict([b"a=1"], "application/x-www-form-urlencoded; charset=klingon")

    assert asyncio.run(run())[0] == 400
