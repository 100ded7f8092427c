"""Issue 13, failing input 2: the charset label and the encoder come from one place."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_magic.web import (
    App,
    EventSourceResponse,
    HTMLResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from asgi_magic.web.testclient import TestClient


def _client(response: Any) -> TestClient:
    app = App()

    @app.get("/")
    async def index() -> Any:
        return response()

    return TestClient(app)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Response("café", media_type="text/plain; charset=iso-8859-1"),
        lambda: PlainTextResponse("café", media_type="text/plain; charset=iso-8859-1"),
        lambda: HTMLResponse("café", headers={"Content-Type": "text/html; charset=iso-8859-1"}),
        lambda: StreamingResponse(iter(["ca", "fé"]), media_type="text/plain; charset=ISO-8859-1"),
    ],
)
def test_latin1_label_gets_latin1_bytes(make: Any) -> None:
    with _client(make) as client:
        r = client.get("/")
    assert r.content == "café".encode("iso-8859-1")
    assert "charset=iso-8859-1" in r.headers["content-type"].lower()
    assert r.text == "café"  # httpx decodes by the label


def test_subclass_media_type_charset() -> None:
    class Latin1(PlainTextResponse):
        media_type = "text/plain; charset=latin-1"

    assert Latin1("é").body == b"\xe9"
    assert dict(Latin1("é").raw_headers)[b"content-type"] == b"text/plain; charset=latin-1"


def test_default_stays_utf8() -> None:
    r = PlainTextResponse("café")
    assert r.body == "café".encode()
    assert dict(r.raw_headers)[b"content-type"] == b"text/plain; charset=utf-8"


def test_unencodable_character_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cannot be encoded as iso-8859-1"):
        Response("snow ☃", media_type="text/plain; charset=iso-8859-1")


def test_unknown_charset_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown charset"):
        Response("x", media_type="text/plain; charset=klingon")


def test_streaming_unencodable_chunk_fails_loudly() -> None:
    app = App()

    @app.get("/")
    async def index() -> Any:
        return StreamingResponse(iter(["ok", "☃"]), media_type="text/plain; charset=ascii")

    with (
        TestClient(app, raise_server_exceptions=True) as client,
        pytest.raises(ValueError, match="cannot be encoded as ascii"),
    ):
        client.get("/")


def test_event_stream_refuses_a_non_utf8_label() -> None:
    async def events() -> Any:
        yield "x"

    with pytest.raises(ValueError, match="always UTF-8"):
        EventSourceResponse(events(), media_type="text/event-stream; charset=latin-1")
    EventSourceResponse(events(), media_type="text/event-stream; charset=utf-8")


def test_json_refuses_a_non_utf8_label() -> None:
    from asgi_magic.web import JSONResponse

    with pytest.raises(ValueError, match="always UTF-8"):
        JSONResponse({"a": "é"}, media_type="application/json; charset=iso-8859-1")
    assert JSONResponse({"a": "é"}, media_type="application/json; charset=UTF-8").body == (
        '{"a":"é"}'.encode()
    )
