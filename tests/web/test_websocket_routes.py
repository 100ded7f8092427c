"""Websocket routes through the TestClient and over the real server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asgi_magic.web import App, WebSocket, WebSocketDisconnect, WebSocketException
from asgi_magic.web.testclient import TestClient


def make_app() -> App:
    app = App()

    @app.websocket("/echo/{room}")
    async def echo(websocket: WebSocket, room: str) -> None:
        await websocket.accept(
            subprotocol="chat" if "chat" in websocket.scope["subprotocols"] else None,
            headers={"x-room": room},
        )
        await websocket.send_json({"room": room, "q": websocket.query_params.get("q")})
        async for text in websocket.iter_text():
            if text == "bytes":
                await websocket.send_bytes(await websocket.receive_bytes())
            elif text == "json":
                await websocket.send_json(await websocket.receive_json())
            elif text == "bye":
                await websocket.close(code=4001, reason="bye")
                return
            else:
                await websocket.send_text(text.upper())

    @app.websocket("/private")
    async def private(websocket: WebSocket) -> None:
        raise WebSocketException(code=4403, reason="forbidden")

    @app.websocket("/crash")
    async def crash(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("websocket bug")

    return app


def test_websocket_route_with_testclient() -> None:
    client = TestClient(make_app())
    with client, client.websocket_connect("/echo/lobby?q=1", subprotocols=["chat"]) as ws:
        assert ws.accepted_subprotocol == "chat"
        assert (b"x-room", b"lobby") in ws.extra_headers
        assert ws.receive_json() == {"room": "lobby", "q": "1"}
        ws.send_text("hello")
        assert ws.receive_text() == "HELLO"
        ws.send_text("bytes")
        ws.send_bytes(b"\x00\xff")
        assert ws.receive_bytes() == b"\x00\xff"
        ws.send_text("json")
        ws.send_json({"a": [1, 2]})
        assert ws.receive_json() == {"a": [1, 2]}
        ws.send_text("bye")
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 4001


def test_websocket_rejections_with_testclient() -> None:
    with TestClient(make_app()) as client:
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/private"):
            pass
        assert info.value.code == 4403
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/no-such-route"):
            pass
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        with client.websocket_connect("/crash") as ws, pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 1011


def test_websocket_route_over_the_real_server() -> None:
    websockets_client = pytest.importorskip("websockets.asyncio.client")
    from tests.support.live_server import run_server

    async def talk(url: str) -> list[Any]:
        out: list[Any] = []
        async with websockets_client.connect(url, subprotocols=["chat"], open_timeout=5) as ws:
            out.append(ws.subprotocol)
            out.append(await ws.recv())
            await ws.send("hello")
            out.append(await ws.recv())
            await ws.send("bytes")
            await ws.send(b"\x01\x02")
            out.append(await ws.recv())
            await ws.send("bye")
            try:
                await ws.recv()
            except Exception as exc:  # ConnectionClosedOK carries the close code
                out.append(getattr(getattr(exc, "rcvd", None), "code", None))
        return out

    with run_server(make_app()) as base_url:
        url = base_url.replace("http://", "ws://") + "/echo/lobby?q=2"
        result = asyncio.run(asyncio.wait_for(talk(url), 10))
    assert result == ["chat", '{"room":"lobby","q":"2"}', "HELLO", b"\x01\x02", 4001]


def test_websocket_denial_response_with_testclient() -> None:
    from asgi_magic.web.testclient import WebSocketDenialResponse

    app = App()

    @app.websocket("/deny")
    async def deny(websocket: WebSocket) -> None:
        # asgiref www.rst "websocket.http.response" extension: refuse with any response
        await websocket.send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"x-why", b"token")],
            }
        )
        await websocket.send({"type": "websocket.http.response.body", "body": b"login first"})

    client = TestClient(app)
    with client, pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/deny"):
        pass
    assert info.value.status_code == 401
    assert info.value.headers["x-why"] == "token"
    assert info.value.text == "login first"
