"""ConditionalGetMiddleware: strong ETags on buffered 200s, 304 on If-None-Match."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_magic.web import (
    App,
    CompressionMiddleware,
    ConditionalGetMiddleware,
    PlainTextResponse,
    Request,
    SessionMiddleware,
    StreamingResponse,
)
from asgi_magic.web.conditional import etag_matches

PAGE = "a dynamic page " * 100


def make_app() -> App:
    app = App()

    @app.get("/page")
    async def page(request: Request) -> PlainTextResponse:
        request.session["seen"] = True
        return PlainTextResponse(
            PAGE, headers={"Cache-Control": "no-cache", "Content-Language": "en"}
        )

    @app.get("/own-etag")
    async def own() -> PlainTextResponse:
        return PlainTextResponse("x", headers={"ETag": 'W/"v1"'})

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(iter(["a", "b"]), media_type="text/plain")

    @app.get("/private")
    async def private() -> PlainTextResponse:
        return PlainTextResponse("secret", headers={"Cache-Control": "no-store"})

    @app.get("/missing")
    async def missing() -> PlainTextResponse:
        return PlainTextResponse("nope", status_code=404)

    @app.post("/page")
    async def post() -> str:
        return PAGE

    app.add_middleware(ConditionalGetMiddleware)
    app.add_middleware(SessionMiddleware, secret_key="s")
    app.add_middleware(CompressionMiddleware)
    return app


def test_etag_and_304(client_factory: Any) -> None:
    with client_factory(make_app()) as client:
        first = client.get("/page", headers={"accept-encoding": "identity"})
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')  # strong
        assert client.get("/page", headers={"accept-encoding": "identity"}).headers["etag"] == etag

        r = client.get("/page", headers={"if-none-match": etag, "accept-encoding": "identity"})
        assert r.status_code == 304
        assert r.content == b""
        # RFC 9110 §15.4.5: the headers a 200 would carry, without content metadata
        assert r.headers["etag"] == etag
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["vary"] == "Accept-Encoding"
        assert "content-type" not in r.headers and "content-language" not in r.headers
        assert "content-length" not in r.headers or r.headers["content-length"] == "0"

        other = client.get("/page", headers={"if-none-match": '"other"'})
        assert other.status_code == 200 and other.text == PAGE


def test_weak_comparison_through_compression(client_factory: Any) -> None:
    with client_factory(make_app()) as client:
        gz = client.get("/page", headers={"accept-encoding": "gzip"})
        assert gz.headers["content-encoding"] == "gzip"
        weak = gz.headers["etag"]
        assert weak.startswith('W/"')  # weakened: the gzip bytes differ
        r = client.get("/page", headers={"if-none-match": weak, "accept-encoding": "gzip"})
        assert r.status_code == 304
        assert r.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    ("header", "etag", "expected"),
    [
        (b'"a"', b'"a"', True),
        (b'W/"a"', b'"a"', True),
        (b'"a"', b'W/"a"', True),
        (b'"b", W/"a"', b'"a"', True),
        (b"*", b'"a"', True),
        (b'"b"', b'"a"', False),
        (b'"A"', b'"a"', False),
        (b"a", b'"a"', False),
        (b"", b'"a"', False),
    ],
)
def test_etag_matches(header: bytes, etag: bytes, expected: bool) -> None:
    assert etag_matches(header, etag) is expected


def test_what_is_left_alone(client_factory: Any) -> None:
    with client_factory(make_app()) as client:
        own = client.get("/own-etag")
        assert own.headers["etag"] == 'W/"v1"'
        assert client.get("/own-etag", headers={"if-none-match": '"v1"'}).status_code == 304
        assert client.head("/own-etag", headers={"if-none-match": '"v1"'}).status_code == 304
        assert client.head("/page", headers={"if-none-match": '"x"'}).status_code == 200
        stream = client.get("/stream")
        assert "etag" not in stream.headers and stream.text == "ab"
        assert "etag" not in client.get("/private").headers
        assert "etag" not in client.get("/missing").headers
        etag = client.get("/page").headers["etag"]
        assert client.post("/page", headers={"if-none-match": etag}).status_code == 200


def test_set_cookie_survives_the_304() -> None:
    from asgi_magic.web.testclient import TestClient

    with TestClient(make_app()) as client:
        etag = client.get("/page", headers={"accept-encoding": "identity"}).headers["etag"]
        client.cookies.clear()
        r = client.get("/page", headers={"if-none-match": etag, "accept-encoding": "identity"})
        assert r.status_code == 304
        assert r.headers["set-cookie"].startswith("session=")
