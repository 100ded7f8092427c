"""Responses: types, JSON (orjson and stdlib), redirects, cookies, streaming, background."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from asgi_magic.web import (
    App,
    BackgroundTask,
    BackgroundTasks,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from asgi_magic.web import responses as responses_module
from asgi_magic.web.testclient import TestClient

from .conftest import ClientFactory


def test_handler_return_values(client_factory: ClientFactory) -> None:
    app = App()

    @app.get("/dict")
    async def as_dict() -> dict[str, Any]:
        return {"a": 1, "ü": "ö"}

    @app.get("/list")
    def as_list() -> list[int]:  # sync handler: runs in the thread pool
        return [1, 2]

    @app.get("/str")
    async def as_str() -> str:
        return "text"

    @app.get("/html", response_class=HTMLResponse)
    async def as_html() -> str:
        return "<b>hi</b>"

    @app.get("/bytes")
    async def as_bytes() -> bytes:
        return b"\x00\x01"

    @app.get("/none")
    async def as_none() -> None:
        return None

    with client_factory(app) as client:
        r = client.get("/dict")
        assert r.headers["content-type"] == "application/json"
        assert r.content == '{"a":1,"ü":"ö"}'.encode()
        assert client.get("/list").json() == [1, 2]
        r = client.get("/str")
        assert (r.text, r.headers["content-type"]) == ("text", "text/plain; charset=utf-8")
        r = client.get("/html")
        assert (r.text, r.headers["content-type"]) == ("<b>hi</b>", "text/html; charset=utf-8")
        r = client.get("/bytes")
        assert (r.content, r.headers["content-type"]) == (b"\x00\x01", "application/octet-stream")
        r = client.get("/none")
        assert r.status_code == 204
        assert "content-length" not in r.headers
        assert r.content == b""


def test_sync_handler_does_not_block_the_loop() -> None:
    app = App()
    release = threading.Event()

    @app.get("/block")
    def block() -> str:
        release.wait(5)
        return "done"

    @app.get("/free")
    async def free() -> str:
        release.set()
        return "free"

    async def run() -> list[str]:
        from asgi_magic.web.testclient import AsyncTestClient

        async with AsyncTestClient(app) as client:
            blocked = asyncio.ensure_future(client.get("/block"))
            await asyncio.sleep(0.05)
            free_r = await client.get("/free")
            return [free_r.text, (await blocked).text]

    assert asyncio.run(asyncio.wait_for(run(), 10)) == ["free", "done"]


JSON_SAMPLES: list[Any] = [
    {"a": 1, "b": [1, 2.5, None, True, False], "c": {"d": "e"}},
    'é\u2028</script>"\\',
    [1e-7, 1e16, 0.1, -0.0, 123456789.123, 2**63, 2**70],
    {1: "int key", "x": {"y": []}},
    "emoji 😀 and \x00 control",
    [],
    {},
]


@pytest.mark.parametrize("value", JSON_SAMPLES)
def test_json_orjson_and_stdlib_give_identical_bytes(value: Any) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert responses_module.json_dumps(value) == expected
    assert responses_module._stdlib_dumps(value) == expected
    assert JSONResponse(value).body == expected


def test_json_rejects_nan_on_the_stdlib_path() -> None:
    # RFC 8259 §6: NaN is not JSON
    with pytest.raises(ValueError):
        responses_module._stdlib_dumps(float("nan"))


def test_response_headers_and_content_length() -> None:
    response = Response(b"abc", status_code=201, headers={"X-A": "1"}, media_type="text/csv")
    assert response.raw_headers == [
        (b"x-a", b"1"),
        (b"content-length", b"3"),
        (b"content-type", b"text/csv; charset=utf-8"),
    ]
    response.headers["x-b"] = "2"
    assert (b"x-b", b"2") in response.raw_headers
    with pytest.raises(ValueError):
        Response(b"", headers={"x": "a\r\nb: c"})
    assert PlainTextResponse("é").body == "é".encode()


def test_redirect_response_validation() -> None:
    for bad in ("/a\r\nSet-Cookie: x=1", "/a\nb", "/a\x00"):
        with pytest.raises(ValueError):
            RedirectResponse(bad)
    with pytest.raises(ValueError):
        RedirectResponse("/x", status_code=200)
    r = RedirectResponse("/caf\u00e9?q=ä b#frag", status_code=303)
    assert dict(r.raw_headers)[b"location"] == b"/caf%C3%A9?q=%C3%A4%20b#frag"
    r = RedirectResponse("/already%20encoded")
    assert dict(r.raw_headers)[b"location"] == b"/already%20encoded"


@pytest.mark.parametrize("status", [303, 307, 308])
def test_redirect_statuses(client_factory: ClientFactory, status: int) -> None:
    app = App()

    @app.get("/from")
    async def from_() -> RedirectResponse:
        return RedirectResponse("/to", status_code=status)

    @app.get("/to")
    async def to() -> str:
        return "arrived"

    with client_factory(app) as client:
        r = client.get("/from", follow_redirects=False)
        assert r.status_code == status
        assert r.headers["location"] == "/to"
        assert client.get("/from").text == "arrived"


def test_set_cookie_formats_every_attribute() -> None:
    response = Response()
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    response.set_cookie(
        "sid",
        "abc123",
        max_age=60,
        expires=when,
        path="/app",
        domain="example.com",
        secure=True,
        httponly=True,
        samesite="none",
    )
    header = dict(response.raw_headers)[b"set-cookie"].decode()
    assert header == (
        "sid=abc123; Max-Age=60; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/app; "
        "Domain=example.com; Secure; HttpOnly; SameSite=None"
    )
    response = Response()
    response.delete_cookie("sid")
    header = dict(response.raw_headers)[b"set-cookie"].decode()
    assert header.startswith("sid=; Max-Age=0; Expires=")
    assert header.endswith("; Path=/; SameSite=Lax")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"key": "bad name", "value": "x"}, "cookie name"),
        ({"key": "a;b", "value": "x"}, "cookie name"),
        ({"key": "a", "value": "has space"}, "cookie value"),
        ({"key": "a", "value": "semi;colon"}, "cookie value"),
        ({"key": "a", "value": "crlf\r\nX: y"}, "cookie value"),
        ({"key": "a", "value": "naïve"}, "cookie value"),
        ({"key": "a", "value": "x", "path": "/a;b"}, "Path"),
        ({"key": "a", "value": "x", "domain": "ex\nample"}, "Domain"),
        ({"key": "a", "value": "x", "samesite": "sometimes"}, "samesite"),
        ({"key": "a", "value": "x", "samesite": "none"}, "requires secure"),
    ],
)
def test_set_cookie_rejects_bad_input(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Response().set_cookie(**kwargs)


def test_cookies_persist_between_requests(client_factory: ClientFactory) -> None:
    from asgi_magic.web import Request

    app = App()

    @app.get("/set")
    async def set_cookie() -> Response:
        response = PlainTextResponse("set")
        response.set_cookie("token", '"quoted-ok"')
        response.set_cookie("other", "2", httponly=True)
        return response

    @app.get("/read")
    async def read(request: Request) -> dict[str, str]:
        return request.cookies

    with client_factory(app) as client:
        client.get("/set")
        assert client.get("/read").json() == {"token": "quoted-ok", "other": "2"}


def test_streaming_response_async_and_sync(client_factory: ClientFactory) -> None:
    app = App()

    @app.get("/async")
    async def stream_async() -> StreamingResponse:
        async def gen() -> AsyncIterator[str]:
            for i in range(3):
                yield f"chunk{i};"

        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/sync")
    async def stream_sync() -> StreamingResponse:
        def gen() -> Iterator[bytes]:
            yield b"a"
            yield b"b"

        return StreamingResponse(gen())

    with client_factory(app) as client:
        r = client.get("/async")
        assert r.text == "chunk0;chunk1;chunk2;"
        assert r.headers.get("transfer-encoding") in (None, "chunked")
        assert client.get("/sync").content == b"ab"
        assert client.head("/async").content == b""


def test_streaming_stops_when_client_disconnects() -> None:
    app = App()
    state = {"sent": 0, "closed": False}

    @app.get("/forever")
    async def forever() -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            try:
                while True:
                    state["sent"] += 1
                    yield b"tick\n"
                    await asyncio.sleep(0.001)
            finally:
                state["closed"] = True

        return StreamingResponse(gen())

    with TestClient(app) as client, client.stream("GET", "/forever") as r:
        lines = r.iter_lines()
        assert next(lines) == "tick"
        assert next(lines) == "tick"
    assert state["closed"] is True
    sent = state["sent"]
    assert sent < 10_000


def test_background_tasks_run_after_the_response(client_factory: ClientFactory) -> None:
    events: list[str] = []
    done = threading.Event()

    async def async_task(name: str) -> None:
        events.append(f"async {name}")

    def sync_task(name: str) -> None:
        events.append(f"sync {name}")
        done.set()

    app = App()

    @app.get("/")
    async def home() -> Response:
        tasks = BackgroundTasks()
        tasks.add_task(async_task, "a")
        tasks.add_task(sync_task, name="b")
        events.append("handler")
        return PlainTextResponse("ok", background=tasks)

    @app.get("/single")
    async def single() -> Response:
        return Response(b"x", background=BackgroundTask(sync_task, "c"))

    with client_factory(app) as client:
        assert client.get("/").text == "ok"
        assert done.wait(5)
        assert events == ["handler", "async a", "sync b"]
        done.clear()
        client.get("/single")
        assert done.wait(5)
        assert events[-1] == "sync c"


def test_unsupported_return_type_is_a_clear_error() -> None:
    app = App()

    @app.get("/")
    async def home() -> Any:
        return 42

    with TestClient(app) as client, pytest.raises(TypeError, match="returned int"):
        client.get("/")


def test_hot_path_headers_without_user_headers() -> None:
    # the no-headers branch builds the list literally; it must match the general branch
    text = PlainTextResponse("hi")
    assert text.raw_headers == [
        (b"content-length", b"2"),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]
    assert text.raw_headers == PlainTextResponse("hi", headers={}).raw_headers
    assert HTMLResponse("<p>").raw_headers[1] == (b"content-type", b"text/html; charset=utf-8")
    # no media type: only the length; 204: neither
    assert Response(b"xy").raw_headers == [(b"content-length", b"2")]
    assert Response(status_code=204).raw_headers == []
    # each response owns its list (set_cookie appends to it)
    other = PlainTextResponse("hi")
    other.set_cookie("a", "b")
    assert len(text.raw_headers) == 2
    assert Response(memoryview(b"abc")).body == b"abc"
