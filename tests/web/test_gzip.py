"""GZipMiddleware: streaming compression, skips, Accept-Encoding q-values, Vary."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from asgi_magic.asgi_types import Message, Receive, Send
from asgi_magic.web.gzip import GZipMiddleware, accepts_gzip

TEXT = b"".join(b"line %d of a compressible body\n" % i for i in range(200))
CHUNKS = [TEXT[:1000], TEXT[1000:3000], TEXT[3000:]]


async def app(scope: Any, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    status = 200
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    body = TEXT
    if path == "/small":
        body = b"tiny"
    elif path == "/encoded":
        headers.append((b"content-encoding", b"identity-but-set"))
    elif path == "/events":
        headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
    elif path == "/no-transform":
        headers.append((b"cache-control", b"public, no-transform"))
    elif path == "/etag":
        headers.append((b"etag", b'"abc"'))
    elif path == "/204":
        status, body, headers = 204, b"", []
    elif path == "/304":
        status, body = 304, b""
    if path == "/stream":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"content-length", str(len(TEXT)).encode())],
            }
        )
        for chunk in CHUNKS:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if status not in (204, 304) and scope["method"] != "HEAD":
        headers.append((b"content-length", str(len(body)).encode()))
    elif scope["method"] == "HEAD":
        headers.append((b"content-length", str(len(body)).encode()))
        body = b""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


GZ = {"accept-encoding": "gzip"}


def test_whole_body_is_compressed_with_its_length(client_factory: Callable[..., Any]) -> None:
    with client_factory(GZipMiddleware(app, minimum_size=100)) as client:
        with client.stream("GET", "/", headers=GZ) as response:
            raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Accept-Encoding"
        assert int(response.headers["content-length"]) == len(raw) < len(TEXT) / 3
        assert gzip.decompress(raw) == TEXT


def test_streamed_body_is_compressed_without_content_length(
    client_factory: Callable[..., Any],
) -> None:
    with client_factory(GZipMiddleware(app)) as client:
        with client.stream("GET", "/stream", headers=GZ) as response:
            raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert "content-length" not in response.headers
        assert gzip.decompress(raw) == TEXT


async def test_each_streamed_chunk_is_flushed_to_the_client() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/stream",
        "headers": [(b"accept-encoding", b"gzip")],
    }
    await GZipMiddleware(app)(scope, receive, send)
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    # Every chunk decompresses to exactly what the app sent, as soon as it arrives.
    for message, chunk in zip(bodies, CHUNKS, strict=False):
        assert message["more_body"] is True
        assert decompressor.decompress(message["body"]) == chunk
    assert bodies[-1]["more_body"] is False
    assert decompressor.decompress(bodies[-1]["body"]) == b""
    assert decompressor.eof


@pytest.mark.parametrize("path", ["/small", "/encoded", "/events", "/no-transform", "/204", "/304"])
def test_responses_that_are_not_compressed(client_factory: Callable[..., Any], path: str) -> None:
    with client_factory(GZipMiddleware(app, minimum_size=500)) as client:
        response = client.get(path, headers=GZ)
        assert response.headers.get("content-encoding") != "gzip"
        if path == "/small":
            assert response.content == b"tiny"
            assert response.headers["vary"] == "Accept-Encoding"
        if path in ("/encoded", "/events", "/no-transform"):
            assert response.headers["content-length"] == str(len(TEXT))


def test_head_is_not_compressed_but_varies(client_factory: Callable[..., Any]) -> None:
    with client_factory(GZipMiddleware(app)) as client:
        response = client.head("/", headers=GZ)
        assert "content-encoding" not in response.headers
        assert response.headers["vary"] == "Accept-Encoding"


def test_client_that_refuses_gzip_gets_identity(client_factory: Callable[..., Any]) -> None:
    with client_factory(GZipMiddleware(app)) as client:
        for value in ("identity", "gzip;q=0", "br", "*;q=0"):
            response = client.get("/", headers={"accept-encoding": value})
            assert "content-encoding" not in response.headers
            assert response.content == TEXT
            assert response.headers["vary"] == "Accept-Encoding"


def test_strong_etag_is_weakened_when_compressing(client_factory: Callable[..., Any]) -> None:
    with client_factory(GZipMiddleware(app)) as client:
        assert client.get("/etag", headers=GZ).headers["etag"] == 'W/"abc"'
        assert (
            client.get("/etag", headers={"accept-encoding": "identity"}).headers["etag"] == '"abc"'
        )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"gzip", True),
        (b"GZIP", True),
        (b"x-gzip", True),
        (b"deflate, gzip;q=1.0, *;q=0.5", True),
        (b"br, gzip;q=0.5", True),
        (b"gzip;q=0", False),
        (b"gzip; q=0.000", False),
        (b"gzip;q=0, *", False),
        (b"*", True),
        (b"*;q=0", False),
        (b"*;q=0.1, gzip;q=0", False),
        (b"identity", False),
        (b"gzip;q=abc", False),
        (b"gzip;q=1.5", False),
        (b"", False),
        (None, False),
        (b",,, ;;;", False),
        (b"gzipx", False),
    ],
)
def test_accept_encoding_parsing(header: bytes | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        GZipMiddleware(app, compresslevel=10)
    with pytest.raises(ValueError):
        GZipMiddleware(app, minimum_size=-1)
