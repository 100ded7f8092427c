"""The TestClient works with any ASGI app, not only ours."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket

from asgi_magic.web import App, Request
from asgi_magic.web.testclient import AsyncTestClient, TestClient


def starlette_app() -> Starlette:
    async def home(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"state": request.state.value, "cookie": request.cookies.get("c")})

    async def set_cookie(request: StarletteRequest) -> PlainTextResponse:
        response = PlainTextResponse("ok")
        response.set_cookie("c", "v")
        return response

    async def ws(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text() + "!")
        await websocket.close()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield {"value": 42}

    return Starlette(
        routes=[Route("/", home), Route("/set", set_cookie), WebSocketRoute("/ws", ws)],
        lifespan=lifespan,
    )


def test_starlette_app_through_our_testclient() -> None:
    with TestClient(starlette_app()) as client:
        client.get("/set")
        assert client.get("/").json() == {"state": 42, "cookie": "v"}
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "hi!"


def test_raw_asgi_app_without_lifespan_support() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("lifespan not supported")  # allowed by lifespan.rst
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    with TestClient(app) as client:
        assert client.get("/a%20b").text == "/a b"
    # and without the context manager (no lifespan at all)
    assert TestClient(app).get("/x").text == "/x"


def test_app_that_sends_no_response_is_an_error() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(RuntimeError, match="without a response"):
        TestClient(app).get("/")


def test_async_test_client() -> None:
    app = App()

    @app.post("/")
    async def home(request: Request) -> dict[str, Any]:
        return {"got": (await request.body()).decode()}

    async def run() -> Any:
        async with AsyncTestClient(app) as client:
            return (await client.post("/", content=b"data")).json()

    assert asyncio.run(run()) == {"got": "data"}
