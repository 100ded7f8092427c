"""CompressionMiddleware: br and zstd beside gzip, chosen by q-value, streamed, with
the GZip skip rules; Vary on the 304 and 206 of a compressible resource (issue 13)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from asgi_magic.asgi_types import Message, Receive, Send
from asgi_magic.web import compression
from asgi_magic.web.compression import (
    CompressionMiddleware,
    available_encodings,
    select_encoding,
)
from asgi_magic.web.gzip import GZipMiddleware
from asgi_magic.web.staticfiles import StaticFiles

TEXT = b"".join(b"line %d of a compressible body\n" % i for i in range(200))
CHUNKS = [TEXT[:1000], TEXT[1000:3000], TEXT[3000:]]

DECODE: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
}


async def app(scope: Any, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for chunk in CHUNKS:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if scope["path"] == "/events":
        headers = [(b"content-type", b"text/event-stream")]
    headers.append((b"content-length", str(len(TEXT)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": TEXT})


def _raw(client: Any, path: str, accept: str) -> tuple[Any, bytes]:
    with client.stream("GET", path, headers={"accept-encoding": accept}) as response:
        return response, b"".join(response.iter_raw())


def test_all_codings_are_installed_for_the_tests() -> None:
    assert available_encodings() == ["zstd", "br", "gzip"]


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
@pytest.mark.parametrize("path", ["/", "/stream"])
def test_each_coding_round_trips(client_factory: Any, coding: str, path: str) -> None:
    with client_factory(CompressionMiddleware(app)) as client:
        response, raw = _raw(client, path, coding)
    assert response.headers["content-encoding"] == coding
    assert response.headers["vary"] == "Accept-Encoding"
    assert DECODE[coding](raw) == TEXT
    if path == "/":
        assert int(response.headers["content-length"]) == len(raw) < len(TEXT) / 3
    else:
        assert "content-length" not in response.headers


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
async def test_each_streamed_chunk_decodes_on_arrival(coding: str) -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/stream", "headers": []}
    scope["headers"] = [(b"accept-encoding", coding.encode())]
    await CompressionMiddleware(app)(scope, receive, send)
    decoders: dict[str, Any] = {
        "gzip": zlib.decompressobj(16 + zlib.MAX_WBITS),
        "br": brotli.Decompressor(),
        "zstd": zstandard.ZstdDecompressor().decompressobj(),
    }
    decoder = decoders[coding]
    feed = decoder.process if coding == "br" else decoder.decompress
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    for message, chunk in zip(bodies, CHUNKS, strict=False):
        assert message["more_body"] is True
        assert feed(message["body"]) == chunk  # nothing held back by the encoder
    assert bodies[-1]["more_body"] is False
    feed(bodies[-1]["body"])


OFFERED = ("zstd", "br", "gzip")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        (b"", None),
        (b"gzip", "gzip"),
        (b"gzip, deflate, br", "br"),  # equal q: the server's preference
        (b"gzip, deflate, br, zstd", "zstd"),
        (b"br;q=0.5, gzip;q=0.8", "gzip"),
        (b"zstd;q=0.1, br;q=0.2, gzip;q=0.3", "gzip"),
        (b"*", "zstd"),
        (b"*;q=0.5, gzip", "gzip"),
        (b"*, zstd;q=0", "br"),
        (b"*;q=0", None),
        (b"gzip;q=0", None),
        (b"br;q=0, gzip;q=0", None),
        (b"identity", None),
        (b"identity;q=1, gzip;q=0.5", None),  # identity weighed higher
        (b"identity;q=0, gzip;q=0.5", "gzip"),
        (b"GZIP;Q=1", "gzip"),
        (b"x-gzip", "gzip"),
        (b"gzip;q=abc", None),  # an unparsable q is a refusal
        (b"gzip;q=2", None),
        (b"deflate, compress", None),
        (b",,, ;q=1", None),
    ],
)
def test_selection_by_q_value(header: bytes | None, expected: str | None) -> None:
    assert select_encoding(header, OFFERED) == expected


def test_offered_order_decides_ties() -> None:
    assert select_encoding(b"br, gzip, zstd", ("gzip", "br")) == "gzip"


@pytest.mark.parametrize("path", ["/events"])
def test_skip_rules_hold_for_every_coding(client_factory: Any, path: str) -> None:
    with client_factory(CompressionMiddleware(app)) as client:
        response, raw = _raw(client, path, "br, zstd")
    assert "content-encoding" not in response.headers
    assert raw == TEXT


def test_head_is_not_compressed(client_factory: Any) -> None:
    with client_factory(CompressionMiddleware(app)) as client:
        response = client.head("/", headers={"accept-encoding": "br"})
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = compression._import
    monkeypatch.setattr(
        compression, "_import", lambda name: None if name == "brotli" else real(name)
    )
    with pytest.raises(RuntimeError, match=r"asgi-magic\[brotli\]"):
        CompressionMiddleware(app, encodings=["br"])
    # by default, a coding without its library is simply not offered
    assert "br" not in CompressionMiddleware(app).encodings


def test_bad_options() -> None:
    for kwargs in (
        {"encodings": ["deflate"]},
        {"encodings": []},
        {"gzip_level": 10},
        {"brotli_quality": 12},
        {"zstd_level": 0},
        {"minimum_size": -1},
    ):
        with pytest.raises(ValueError):
            CompressionMiddleware(app, **kwargs)


# --- issue 13, failing input 4: the 304 and 206 carry the Vary the 200 carries ---------


@pytest.mark.parametrize("middleware", [GZipMiddleware, CompressionMiddleware])
def test_304_and_206_carry_vary_like_the_200(
    client_factory: Any, tmp_path: Path, middleware: Any
) -> None:
    (tmp_path / "page.txt").write_bytes(TEXT)
    with client_factory(middleware(StaticFiles(directory=tmp_path))) as client:
        ok = client.get("/page.txt", headers={"accept-encoding": "gzip"})
        assert ok.status_code == 200 and ok.headers["vary"] == "Accept-Encoding"
        etag = ok.headers["etag"]
        plain = client.get("/page.txt", headers={"accept-encoding": "identity"})
        assert plain.headers["vary"] == "Accept-Encoding"
        not_modified = client.get(
            "/page.txt", headers={"accept-encoding": "gzip", "if-none-match": plain.headers["etag"]}
        )
        assert not_modified.status_code == 304
        assert not_modified.headers["vary"] == "Accept-Encoding"
        partial = client.get("/page.txt", headers={"accept-encoding": "gzip", "range": "bytes=0-9"})
        assert partial.status_code == 206
        assert partial.headers["vary"] == "Accept-Encoding"
        assert "content-encoding" not in partial.headers
        assert partial.content == TEXT[:10]
        assert etag
