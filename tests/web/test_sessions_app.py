"""The middleware of this part used the way users do: through App, Request and WebSocket."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

from asgi_magic.web import App, Request, WebSocket
from asgi_magic.web.cors import CORSMiddleware
from asgi_magic.web.gzip import GZipMiddleware
from asgi_magic.web.sessions import SessionMiddleware
from asgi_magic.web.sse import EventSourceResponse
from asgi_magic.web.testclient import TestClient

SECRET = "a-test-secret-that-is-long-enough"


def make_app() -> App:
    app = App()
    app.add_middleware(SessionMiddleware, secret_key=SECRET)

    @app.post("/login")
    async def login(request: Request) -> dict[str, Any]:
        request.session["user"] = request.query_params.get("user")
        request.session.regenerate()
        return {"ok": True}

    @app.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        return {"user": request.session.get("user")}

    @app.post("/logout")
    async def logout(request: Request) -> dict[str, Any]:
        request.session.clear()
        return {"ok": True}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"user": websocket.scope["session"].get("user")})
        await websocket.close()

    return app


def test_login_flow_through_request_session(client_factory: Callable[..., Any]) -> None:
    with client_factory(make_app()) as client:
        assert client.get("/me").json() == {"user": None}
        response = client.post("/login?user=alice")
        assert response.status_code == 200
        assert "set-cookie" in response.headers
        assert client.get("/me").json() == {"user": "alice"}
        client.post("/logout")
        assert client.get("/me").json() == {"user": None}


def test_session_is_readable_on_websockets() -> None:
    with TestClient(make_app()) as client:
        client.post("/login?user=alice")
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_json() == {"user": "alice"}


def test_event_stream_through_gzip_and_cors(client_factory: Callable[..., Any]) -> None:
    app = App()
    app.add_middleware(GZipMiddleware, minimum_size=10)
    app.add_middleware(CORSMiddleware, allow_origins=["https://example.com"])

    @app.get("/events")
    async def events() -> EventSourceResponse:
        async def gen() -> Any:
            for i in range(3):
                yield {"data": f"n{i}", "id": str(i)}

        return EventSourceResponse(gen())

    @app.get("/text")
    async def text() -> str:
        return "compress me " * 100

    headers = {"accept-encoding": "gzip", "origin": "https://example.com"}
    with client_factory(app) as client:
        response = client.get("/events", headers=headers)
        assert "content-encoding" not in response.headers  # events are never compressed
        assert response.headers["access-control-allow-origin"] == "https://example.com"
        assert response.text == "id: 0\ndata: n0\n\nid: 1\ndata: n1\n\nid: 2\ndata: n2\n\n"
        with client.stream("GET", "/text", headers=headers) as streamed:
            raw = b"".join(streamed.iter_raw())
        assert streamed.headers["content-encoding"] == "gzip"
        assert gzip.decompress(raw) == b"compress me " * 100
