"""AuthenticationMiddleware, request.user/auth and @requires (issue 13)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from asgi_magic.web import (
    App,
    AuthCredentials,
    AuthenticationError,
    AuthenticationMiddleware,
    BaseUser,
    HTTPConnection,
    PlainTextResponse,
    Request,
    SimpleUser,
    WebSocket,
    WebSocketDisconnect,
    requires,
)
from asgi_magic.web.testclient import TestClient


class TokenBackend:
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            raise AuthenticationError("unsupported authorization scheme")
        if token == "admin":
            return AuthCredentials(["authenticated", "admin"]), SimpleUser("root")
        if token == "alice":
            return AuthCredentials(["authenticated"]), SimpleUser("alice")
        raise AuthenticationError("invalid token")


def make_app(**options: Any) -> App:
    app = App()

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        return {
            "user": request.user.display_name,
            "authenticated": request.user.is_authenticated,
            "scopes": request.auth.scopes,
        }

    @app.get("/private")
    @requires("authenticated")
    async def private(request: Request) -> str:
        return f"hello {request.user.display_name}"

    @app.get("/admin")
    @requires(["authenticated", "admin"], status_code=404)
    def admin(req: Request) -> str:  # sync, and the request under another name
        return "admin area"

    @app.get("/login", name="login")
    async def login() -> str:
        return "login page"

    @app.get("/account")
    @requires("authenticated", redirect="login")
    async def account(request: Request) -> str:
        return "account"

    @app.websocket("/ws")
    @requires("authenticated")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.user.display_name)
        await websocket.close()

    app.add_middleware(AuthenticationMiddleware, backend=TokenBackend(), **options)
    return app


ALICE = {"authorization": "Bearer alice"}
ADMIN = {"authorization": "Bearer admin"}


def test_user_and_auth(client_factory: Any) -> None:
    with client_factory(make_app()) as client:
        assert client.get("/whoami").json() == {"user": "", "authenticated": False, "scopes": []}
        assert client.get("/whoami", headers=ALICE).json() == {
            "user": "alice",
            "authenticated": True,
            "scopes": ["authenticated"],
        }


def test_requires_on_http_handlers(client_factory: Any) -> None:
    with client_factory(make_app(), follow_redirects=False) as client:
        assert client.get("/private").status_code == 403
        assert client.get("/private", headers=ALICE).text == "hello alice"
        assert client.get("/admin", headers=ALICE).status_code == 404
        assert client.get("/admin", headers=ADMIN).text == "admin area"
        r = client.get("/account?tab=1")
        assert r.status_code == 303
        location = httpx.URL(r.headers["location"])
        assert location.path == "/login"
        assert location.params["next"] == str(r.url)  # back here after logging in
        assert client.get("/account", headers=ALICE).text == "account"


def test_requires_on_websocket_handlers() -> None:
    with TestClient(make_app()) as client:
        with client.websocket_connect("/ws", headers=ALICE) as ws:
            assert ws.receive_text() == "alice"
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws") as ws:
            ws.receive_text()
        assert info.value.code == 1008  # policy violation, before the handshake completed


def test_backend_error_is_400_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(make_app()) as client, caplog.at_level(logging.INFO, "asgi_magic.web.auth"):
        r = client.get("/whoami", headers={"authorization": "Bearer nope"})
        assert r.status_code == 400 and r.text == "invalid token"
    assert len([r for r in caplog.records if r.name == "asgi_magic.web.auth"]) == 1


def test_on_error_handler() -> None:
    def on_error(conn: HTTPConnection, exc: AuthenticationError) -> PlainTextResponse:
        return PlainTextResponse(
            f"denied: {exc}", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    with TestClient(make_app(on_error=on_error)) as client:
        r = client.get("/whoami", headers={"authorization": "Basic x"})
        assert r.status_code == 401
        assert r.text == "denied: unsupported authorization scheme"
        assert r.headers["www-authenticate"] == "Bearer"


def test_websocket_with_bad_credentials_is_refused() -> None:
    with (
        TestClient(make_app()) as client,
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/ws", headers={"authorization": "Bearer bad"}) as ws,
    ):
        ws.receive_text()
    assert info.value.code == 1008


def test_user_without_middleware_is_a_clear_error() -> None:
    app = App()

    @app.get("/")
    async def index(request: Request) -> str:
        return str(request.user)

    with TestClient(app) as client, pytest.raises(AssertionError, match="AuthenticationMiddleware"):
        client.get("/")


def test_requires_needs_the_connection() -> None:
    app = App()

    @app.get("/")
    @requires("x")
    async def index() -> str:
        return "never"

    with TestClient(app) as client, pytest.raises(TypeError, match="request"):
        client.get("/")
