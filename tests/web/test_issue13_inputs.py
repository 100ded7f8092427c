"""Issue 13's failing inputs 1, 3 and 6: URLs built from encoded paths, a disconnect
poll that kept a body message, and a bare Router's refused slash redirect."""

from __future__ import annotations

import asyncio
from typing import Any

from asgi_magic.web import App, Mount, Request, Response, Route, Router
from asgi_magic.web.datastructures import URL, url_path_from_scope
from asgi_magic.web.middleware import CallNext
from asgi_magic.web.testclient import TestClient

from .conftest import ClientFactory

# --- 1. URLs are built from the encoded path -------------------------------------------


def url_app() -> App:
    async def file(request: Request, name: str) -> dict[str, Any]:
        url = request.url
        return {
            "name": name,
            "url": str(url),
            "path": url.path,
            "query": url.query,
            "fragment": url.fragment,
            "base": str(request.base_url),
            "self": str(request.url_for("file", name=name)),
        }

    async def folder(name: str) -> str:
        return name

    async def raw(request: Request, rest: str) -> dict[str, Any]:
        return {"rest": rest, "path": request.url.path}

    return App(
        routes=[
            Route("/files/{name}", file, name="file"),
            Route("/folders/{name}/", folder),
            Route("/raw/{rest:path}", raw),
            Mount("/sub", routes=[Route("/files/{name}", file, name="file")]),
        ]
    )


def test_encoded_question_mark_and_hash_stay_in_the_path(client_factory: ClientFactory) -> None:
    with client_factory(url_app()) as client:
        body = client.get("/files/report%3Fv2%23draft?x=1").json()
    assert body["name"] == "report?v2#draft"
    assert body["url"].endswith("/files/report%3Fv2%23draft?x=1")
    assert body["path"] == "/files/report%3Fv2%23draft"
    assert body["query"] == "x=1"
    assert body["fragment"] == ""
    assert body["self"].endswith("/files/report%3Fv2%23draft")


def test_url_keeps_the_clients_encoding_and_requotes_otherwise(
    client_factory: ClientFactory,
) -> None:
    with client_factory(url_app()) as client:
        body = client.get("/raw/a%2Fb%20c%25").json()
        assert body["rest"] == "a/b c%"  # decoded by the server
        assert body["path"] == "/raw/a%2Fb%20c%25"  # %2F kept, not turned into "/"
        mounted = client.get("/sub/files/x%3Fy").json()
        assert mounted["path"] == "/sub/files/x%3Fy"
        assert mounted["base"].endswith("/")
        assert mounted["self"].endswith("/files/x%3Fy")  # the outer "file" route is found first


def test_url_from_scope_without_or_with_stale_raw_path() -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": "http",
        "path": "/files/report?v2#draft",
        "query_string": b"",
        "headers": [(b"host", b"example.com")],
    }
    assert str(URL(scope=scope)) == "http://example.com/files/report%3Fv2%23draft"
    # a middleware rewrote `path` but left raw_path: re-quote the path, not the stale bytes
    scope["raw_path"] = b"/old"
    assert url_path_from_scope(scope) == "/files/report%3Fv2%23draft"
    # raw bytes that are not valid UTF-8 escapes fall back to re-quoting too
    scope["raw_path"] = b"/files/%ff"
    assert url_path_from_scope(scope) == "/files/report%3Fv2%23draft"
    # a root_path the server did not prepend (asgiref www.rst) is encoded as well
    scope.update(path="/a b", root_path="/ro ot", raw_path=b"/a%20b")
    assert url_path_from_scope(scope) == "/ro%20ot/a%20b"
    # non-ASCII, spaces and quotes sent raw never reach a URL unescaped
    scope.update(path='/"é"', root_path="", raw_path='/"é"'.encode())
    assert url_path_from_scope(scope) == "/%22%C3%A9%22"


def test_slash_redirect_keeps_the_encoding(client_factory: ClientFactory) -> None:
    with client_factory(url_app(), follow_redirects=False) as client:
        response = client.get("/folders/a%3Fb%23c?q=1")
    assert response.status_code == 308
    assert response.headers["location"] == "/folders/a%3Fb%23c/?q=1"


# --- 3. is_disconnected() keeps the body messages it reads -------------------------------


def test_is_disconnected_then_body_does_not_hang() -> None:
    messages = [
        {"type": "http.request", "body": b"hello ", "more_body": True},
        {"type": "http.request", "body": b"world", "more_body": False},
    ]

    async def main() -> bytes:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for message in messages:
            queue.put_nowait(message)

        async def receive() -> Any:
            return await queue.get()

        request = Request({"type": "http", "method": "POST", "headers": []}, receive)
        assert await request.is_disconnected() is False
        assert await request.is_disconnected() is False  # reads the second message too
        assert await request.is_disconnected() is False  # nothing more: no wait
        return await asyncio.wait_for(request.body(), 2)

    assert asyncio.run(main()) == b"hello world"


def test_is_disconnected_then_body_in_an_app(client_factory: ClientFactory) -> None:
    app = App()

    @app.middleware("http")
    async def poll(request: Request, call_next: CallNext) -> Response:
        # a middleware polling for the client must not steal the handler's body
        assert await request.is_disconnected() is False
        return await call_next(request)

    @app.post("/echo")
    async def echo(request: Request) -> bytes:
        assert await request.is_disconnected() is False
        return await request.body()

    with client_factory(app) as client:
        response = client.post("/echo", content=b"x" * 10_000)
    assert response.status_code == 200
    assert response.content == b"x" * 10_000


def test_is_disconnected_sees_the_disconnect() -> None:
    async def main() -> tuple[bool, bool]:
        async def receive() -> Any:
            return {"type": "http.disconnect"}

        request = Request({"type": "http", "method": "GET", "headers": []}, receive)
        return await request.is_disconnected(), await request.is_disconnected()

    assert asyncio.run(main()) == (True, True)


# --- 6. a bare Router answers its refused slash redirect with 404 ------------------------


def test_bare_router_refused_slash_redirect_is_a_404() -> None:
    async def anything(rest: str) -> str:
        return rest

    # matches "//evil.example" but not "//evil.example/": the router's slash redirect
    # would point at "//evil.example", an open (protocol-relative) redirect
    router = Router([Route("/{rest:path}.example", anything)])
    with TestClient(router, follow_redirects=False) as client:
        response = client.get("//evil.example/")
        assert response.status_code == 404
        assert "location" not in response.headers
        # a backslash is percent-encoded in Location, so browsers cannot read it as "/"
        response = client.get("/\\evil.example/")
        assert response.status_code == 308
        assert response.headers["location"] == "/%5Cevil.example"


def test_bare_router_refused_slash_redirect_over_the_server() -> None:
    import socket
    from urllib.parse import urlsplit

    from tests.support.live_server import run_server

    async def anything(rest: str) -> str:
        return rest

    router = Router([Route("/{rest:path}.example", anything)])
    with run_server(router) as base_url:
        # raw bytes: httpx would read "//evil.example/" as a URL with another host
        address = urlsplit(base_url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            sock.sendall(b"GET //evil.example/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 404 ")
    assert b"location" not in data.lower()
