"""Conformance in the manner of h2spec (not packaged for Debian or PyPI): one raw case
per rule of RFC 9113 / RFC 7541 that h2spec's generic and http2 sections check, each
sent to the real server as bytes after the preface and an empty SETTINGS.

A case lists the answers the RFC allows: a connection error (GOAWAY with that code),
a stream error (RST_STREAM with that code), or frames that must come back (ACKs)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hpack import Encoder

from tests.support.live_server import run_server

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 §6) and error codes (§7).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = 0, 1, 2, 3, 4, 5, 6, 7
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED = 0, 1, 3, 5
FRAME_SIZE_ERROR, COMPRESSION_ERROR = 6, 9


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes([kind, flags])
        + stream_id.to_bytes(4, "big")
        + payload
    )


def block(*extra: tuple[bytes, bytes], method: bytes = b"GET", path: bytes = b"/") -> bytes:
    fields = [(b":method", method), (b":scheme", b"http"), (b":path", path), (b":authority", b"t")]
    return Encoder().encode(fields + list(extra))


def raw_block(fields: list[tuple[bytes, bytes]]) -> bytes:
    return Encoder().encode(fields)


def request(stream_id: int = 1, end: bool = True) -> bytes:
    return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), stream_id, block())


def setting(ident: int, value: int) -> bytes:
    return ident.to_bytes(2, "big") + value.to_bytes(4, "big")


# (id, bytes to send, allowed answers). An answer is ("goaway", code),
# ("rst", code) or ("frame", type, flags).
CASES: list[tuple[str, bytes, set[tuple[int | str, ...]]]] = [
    # 3.4 / 3.5: the preface
    ("3.4/invalid-preface", b"", {("goaway", PROTOCOL_ERROR), ("closed",)}),
    # 4.1: unknown frame types are ignored (the PING after it is answered)
    ("4.1/unknown-type", frame(0xEE, 0, 0, b"xx") + frame(PING, 0, 0, b"8bytes!!"), {("frame", PING, ACK)}),
    # 4.2: frame size
    ("4.2/data-too-large", request(1, end=False) + frame(DATA, 0, 1, b"x" * 16385), {("goaway", FRAME_SIZE_ERROR)}),
    ("4.2/headers-too-large", frame(HEADERS, END_HEADERS, 1, b"x" * 16385), {("goaway", FRAME_SIZE_ERROR)}),
    # 4.3: header compression
    ("4.3/invalid-block", frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xbe"), {("goaway", COMPRESSION_ERROR)}),
    # 5.1: stream states
    ("5.1/data-on-idle", frame(DATA, 0, 1, b"x"), {("goaway", PROTOCOL_ERROR)}),
    ("5.1/rst-on-idle", frame(RST_STREAM, 0, 1, (8).to_bytes(4, "big")), {("goaway", PROTOCOL_ERROR)}),
    ("5.1/window-update-on-idle", frame(WINDOW_UPDATE, 0, 1, (1).to_bytes(4, "big")), {("goaway", PROTOCOL_ERROR)}),
    (
        "5.1/data-on-half-closed-remote",
        request(1) + frame(DATA, 0, 1, b"x"),
        {("goaway", STREAM_CLOSED), ("rst", STREAM_CLOSED)},
    ),
    (
        "5.1/headers-on-half-closed-remote",
        request(1) + frame(HEADERS, END_HEADERS | END_STREAM, 1, block()),
        {("goaway", STREAM_CLOSED), ("rst", STREAM_CLOSED), ("goaway", PROTOCOL_ERROR)},
    ),
    # 5.1.1: stream identifiers
    ("5.1.1/even-stream-id", frame(HEADERS, END_HEADERS | END_STREAM, 2, block()), {("goaway", PROTOCOL_ERROR)}),
    ("5.1.1/decreasing-id", request(5) + request(3), {("goaway", PROTOCOL_ERROR)}),
    # 5.5: nothing may interrupt a header block
    (
        "5.5/frame-inside-header-block",
        frame(HEADERS, 0, 1, block()) + frame(PING, 0, 0, b"8bytes!!"),
        {("goaway", PROTOCOL_ERROR)},
    ),
    # 6.1 DATA
    ("6.1/data-stream-0", frame(DATA, 0, 0, b"x"), {("goaway", PROTOCOL_ERROR)}),
    ("6.1/bad-padding", request(1, end=False) + frame(DATA, PADDED, 1, b"\x09abc"), {("goaway", PROTOCOL_ERROR)}),
    # 6.2 HEADERS
    ("6.2/headers-stream-0", frame(HEADERS, END_HEADERS, 0, block()), {("goaway", PROTOCOL_ERROR)}),
    # 6.3 PRIORITY
    ("6.3/priority-stream-0", frame(PRIORITY, 0, 0, b"\x00\x00\x00\x01\x10"), {("goaway", PROTOCOL_ERROR)}),
    ("6.3/priority-bad-length", frame(PRIORITY, 0, 1, b"\x00\x00\x00"), {("goaway", FRAME_SIZE_ERROR), ("rst", FRAME_SIZE_ERROR)}),
    # 6.4 RST_STREAM
    ("6.4/rst-stream-0", frame(RST_STREAM, 0, 0, b"\x00\x00\x00\x08"), {("goaway", PROTOCOL_ERROR)}),
    ("6.4/rst-bad-length", request(1, end=False) + frame(RST_STREAM, 0, 1, b"\x00\x00\x08"), {("goaway", FRAME_SIZE_ERROR)}),
    # 6.5 SETTINGS
    ("6.5/ack-with-payload", frame(SETTINGS, ACK, 0, setting(3, 1)), {("goaway", FRAME_SIZE_ERROR)}),
    ("6.5/settings-on-stream", frame(SETTINGS, 0, 1, setting(3, 1)), {("goaway", PROTOCOL_ERROR)}),
    ("6.5/bad-length", frame(SETTINGS, 0, 0, b"\x00\x03\x00"), {("goaway", FRAME_SIZE_ERROR)}),
    ("6.5.2/enable-push-2", frame(SETTINGS, 0, 0, setting(2, 2)), {("goaway", PROTOCOL_ERROR)}),
    ("6.5.2/window-too-large", frame(SETTINGS, 0, 0, setting(4, 2**31)), {("goaway", FLOW_CONTROL_ERROR)}),
    ("6.5.2/frame-size-too-small", frame(SETTINGS, 0, 0, setting(5, 16383)), {("goaway", PROTOCOL_ERROR)}),
    ("6.5.3/settings-acked", frame(SETTINGS, 0, 0, setting(3, 10)), {("frame", SETTINGS, ACK)}),
    ("6.5.2/unknown-setting-ignored", frame(SETTINGS, 0, 0, setting(0xFF, 1)), {("frame", SETTINGS, ACK)}),
    # 6.7 PING
    ("6.7/ping-acked", frame(PING, 0, 0, b"8bytes!!"), {("frame", PING, ACK)}),
    ("6.7/ping-on-stream", frame(PING, 0, 1, b"8bytes!!"), {("goaway", PROTOCOL_ERROR)}),
    ("6.7/ping-bad-length", frame(PING, 0, 0, b"7bytes!"), {("goaway", FRAME_SIZE_ERROR)}),
    # 6.8 GOAWAY
    ("6.8/goaway-on-stream", frame(GOAWAY, 0, 1, b"\x00" * 8), {("goaway", PROTOCOL_ERROR)}),
    # 6.9 WINDOW_UPDATE
    ("6.9/zero-increment", frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x00"), {("goaway", PROTOCOL_ERROR)}),
    (
        "6.9.1/window-overflow",
        frame(WINDOW_UPDATE, 0, 0, (2**31 - 1).to_bytes(4, "big")),
        {("goaway", FLOW_CONTROL_ERROR)},
    ),
    ("6.9/bad-length", frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"), {("goaway", FRAME_SIZE_ERROR)}),
    # 6.10 CONTINUATION
    ("6.10/continuation-alone", frame(CONTINUATION, END_HEADERS, 1, block()), {("goaway", PROTOCOL_ERROR)}),
    (
        "6.10/continuation-other-stream",
        frame(HEADERS, 0, 1, block()) + frame(CONTINUATION, END_HEADERS, 3, b""),
        {("goaway", PROTOCOL_ERROR)},
    ),
    # 8.1.1: Content-Length must match the DATA
    (
        "8.1.1/content-length-mismatch",
        frame(HEADERS, END_HEADERS, 1, block((b"content-length", b"5"), method=b"POST"))
        + frame(DATA, END_STREAM, 1, b"abc"),
        {("goaway", PROTOCOL_ERROR), ("rst", PROTOCOL_ERROR)},
    ),
    # 8.2: field validity
    *[
        (
            f"8.2/{name}",
            frame(HEADERS, END_HEADERS | END_STREAM, 1, raw_block(fields)),
            {("goaway", PROTOCOL_ERROR), ("rst", PROTOCOL_ERROR)},
        )
        for name, fields in [
            ("uppercase-name", [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b"X-Up", b"1")]),
            ("connection-field", [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b"connection", b"close")]),
            ("te-not-trailers", [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b"te", b"gzip")]),
            ("pseudo-after-regular", [(b":method", b"GET"), (b"x", b"1"), (b":scheme", b"http"), (b":path", b"/")]),
            ("unknown-pseudo", [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":foo", b"1")]),
            ("response-pseudo", [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":status", b"200")]),
            ("missing-method", [(b":scheme", b"http"), (b":path", b"/"), (b":authority", b"t")]),
            ("missing-path", [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t")]),
            ("duplicate-path", [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":path", b"/")]),
            ("empty-path", [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b""), (b":authority", b"t")]),
            ("cr-in-value", [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b"x", b"a\rb")]),
            ("nul-in-name", [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b"x\x00", b"1")]),
        ]
    ],
    # RFC 7541 §4.2 / §6.3: a table size update larger than our SETTINGS allow
    (
        "hpack/table-size-update-too-large",
        frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x3f\xe1\x7f" + block()),
        {("goaway", COMPRESSION_ERROR)},
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    async def app(scope: object, receive: object, send: object) -> None:
        if scope["type"] != "http":  # type: ignore[index]
            return
        await send({"type": "http.response.start", "status": 200})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    with run_server(app, timeout_keep_alive=5) as url:
        yield url


def _exchange(
    url: str, data: bytes, preface: bytes = PREFACE
) -> tuple[list[tuple[int, int, int, bytes]], bool]:
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(preface + frame(SETTINGS, 0, 0) + data)
        raw = b""
        closed = False
        sock.settimeout(0.3)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            raw += chunk
    frames = []
    while len(raw) >= 9:
        length = int.from_bytes(raw[:3], "big")
        frames.append((raw[3], raw[4], int.from_bytes(raw[5:9], "big"), raw[9 : 9 + length]))
        raw = raw[9 + length :]
    return frames, closed


@pytest.mark.parametrize(("data", "allowed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_conformance(server_url: str, data: bytes, allowed: set[tuple[int | str, ...]]) -> None:
    preface = PREFACE
    if not data and ("closed",) in allowed:
        preface = b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"  # 3.4: a broken preface
    frames, closed = _exchange(server_url, data, preface)
    answers: set[tuple[int | str, ...]] = set()
    for kind, flags, _stream, payload in frames:
        if kind == GOAWAY:
            answers.add(("goaway", int.from_bytes(payload[4:8], "big")))
        elif kind == RST_STREAM:
            answers.add(("rst", int.from_bytes(payload[:4], "big")))
        elif kind in (PING, SETTINGS):
            answers.add(("frame", kind, flags & ACK))
    if closed:
        answers.add(("closed",))
    assert answers & allowed, f"got {sorted(answers, key=str)}, want one of {allowed}"


def test_server_still_serves_after_the_cases(server_url: str) -> None:
    frames, _ = _exchange(server_url, request(1))
    kinds = [kind for kind, *_ in frames]
    assert HEADERS in kinds and DATA in kinds
