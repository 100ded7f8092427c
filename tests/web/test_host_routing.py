"""Host routing (``Host("{sub}.example.com", app=...)``) and ``url_for`` across hosts."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_magic.web import (
    App,
    Host,
    Mount,
    NoMatchFound,
    Request,
    Route,
    Router,
    WebSocket,
    WebSocketRoute,
)
from asgi_magic.web.testclient import TestClient

from .conftest import ClientFactory


def make_app() -> App:
    async def api_root() -> dict[str, str]:
        return {"app": "api"}

    async def tenant_home(request: Request, sub: str) -> dict[str, Any]:
        return {
            "app": "tenant",
            "sub": sub,
            "path_params": request.path_params,
            "self": str(request.url_for("tenant:profile", sub=sub, user_id=7)),
        }

    async def profile(sub: str, user_id: int) -> dict[str, Any]:
        return {"sub": sub, "user": user_id}

    async def main_home(request: Request) -> dict[str, Any]:
        return {
            "app": "main",
            "api": str(request.url_for("api:root")),
            "tenant": str(request.url_for("tenant:profile", sub="bob", user_id=1)),
        }

    async def ws(websocket: WebSocket, sub: str) -> None:
        await websocket.accept()
        await websocket.send_text(sub)
        await websocket.close()

    api = Router([Route("/", api_root, name="root")])
    tenant = Router(
        [
            Route("/", tenant_home),
            Route("/users/{user_id:int}", profile, name="profile"),
            WebSocketRoute("/ws", ws),
        ]
    )
    return App(
        routes=[
            Host("api.example.com", app=api, name="api"),
            Host("{sub}.example.com", app=tenant, name="tenant"),
            Route("/", main_home),
        ]
    )


def test_requests_go_to_the_app_of_their_host(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        assert client.get("/", headers={"host": "api.example.com"}).json() == {"app": "api"}
        tenant = client.get("/", headers={"host": "Alice.Example.COM:8000"}).json()
        assert tenant["app"] == "tenant"
        assert tenant["sub"] == "alice"  # host names are case-insensitive (RFC 9110 §4.2.3)
        assert tenant["path_params"] == {"sub": "alice"}
        assert tenant["self"] == "http://alice.example.com/users/7"
        profile = client.get("/users/3", headers={"host": "carol.example.com"})
        assert profile.json() == {"sub": "carol", "user": 3}
        # a {str} host parameter is one label: a.b.example.com is not a tenant
        assert client.get("/", headers={"host": "a.b.example.com"}).json()["app"] == "main"
        main = client.get("/", headers={"host": "example.org"}).json()
        assert main == {
            "app": "main",
            "api": "http://api.example.com/",
            "tenant": "http://bob.example.com/users/1",
        }
        # inside a Host the paths are that app's: no fallback to the outer routes
        assert client.get("/nope", headers={"host": "api.example.com"}).status_code == 404


def test_websocket_routes_under_a_host() -> None:
    with (
        TestClient(make_app()) as client,
        client.websocket_connect("/ws", headers={"host": "dave.example.com"}) as ws,
    ):
        assert ws.receive_text() == "dave"


def test_url_for_builds_absolute_urls_on_the_host() -> None:
    app = make_app()
    url = app.url_path_for("tenant:profile", sub="eve", user_id=5)
    assert url == "/users/5"
    assert url.host == "eve.example.com"
    assert str(url.make_absolute_url("https://example.org/")) == "https://eve.example.com/users/5"
    with pytest.raises(NoMatchFound):
        app.url_path_for("tenant:profile", user_id=5)  # the host parameter is required
    with pytest.raises(NoMatchFound):
        app.url_path_for("tenant:nothing", sub="x")
    # a value that is not one host label cannot be put into the authority
    for bad in ["a.b", "evil.com/x", "x@y", ""]:
        with pytest.raises(ValueError):
            app.url_path_for("tenant:profile", sub=bad, user_id=1)


def test_host_inside_a_mount_and_named_host_paths() -> None:
    async def page() -> str:
        return "page"

    docs = Router([Route("/page", page, name="page")])
    app = App(routes=[Mount("/v1", routes=[Host("docs.example.com", app=docs, name="docs")])])
    url = app.url_path_for("docs:page")
    assert (url, url.host) == ("/v1/page", "docs.example.com")
    static = app.url_path_for("docs", path="/img/a b.png")
    assert (static, static.host) == ("/v1/img/a%20b.png", "docs.example.com")
    with TestClient(app) as client:
        assert client.get("/v1/page", headers={"host": "docs.example.com"}).text == "page"
        assert client.get("/v1/page", headers={"host": "other.example.com"}).status_code == 404


def test_host_patterns_with_ports_and_convertors() -> None:
    async def shard(n: int) -> dict[str, int]:
        return {"n": n}

    app = App(
        routes=[
            Host("shard{n:int}.db.local", app=Router([Route("/", shard)])),
            Host("admin.local:8443", app=Router([Route("/", lambda: "admin")])),
        ]
    )
    with TestClient(app) as client:
        assert client.get("/", headers={"host": "shard12.db.local"}).json() == {"n": 12}
        assert client.get("/", headers={"host": "shardx.db.local"}).status_code == 404
        assert client.get("/", headers={"host": "admin.local:8443"}).text == "admin"
        assert client.get("/", headers={"host": "admin.local"}).status_code == 404


def test_malformed_or_missing_host_headers_match_no_host() -> None:
    app = make_app()
    with TestClient(app) as client:
        for value in ["evil.com/x.example.com", "x.example.com:port", "[::1", "a b.example.com"]:
            response = client.get("/", headers={"host": value})
            assert response.status_code == 200
            assert response.json()["app"] == "main"


@pytest.mark.parametrize("pattern", ["/x", "", "{a}.{a}.com", "{x:nope}.com", "a}.com"])
def test_bad_host_patterns_fail_at_construction(pattern: str) -> None:
    with pytest.raises(ValueError):
        Host(pattern, app=Router())


def test_app_host_registration(client_factory: ClientFactory) -> None:
    app = App()
    app.host("{sub}.example.com", Router([Route("/", lambda sub: f"sub={sub}")]), name="s")

    @app.get("/")
    async def root() -> str:
        return "root"

    with client_factory(app) as client:
        assert client.get("/", headers={"host": "x.example.com"}).text == "sub=x"
        assert client.get("/").text == "root"
