"""TrustedHostMiddleware and HTTPSRedirectMiddleware."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from asgi_magic.asgi_types import Message, Receive, Send
from asgi_magic.web.hosts import HTTPSRedirectMiddleware, TrustedHostMiddleware, split_host


async def app(scope: Any, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


ALLOWED = ["example.com", "*.example.org", "www.site.test", "127.0.0.1", "[::1]"]


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "EXAMPLE.com",
        "example.com:8000",
        "example.com.",
        "a.example.org",
        "a.b.example.org:443",
        "www.site.test",
        "127.0.0.1:9000",
        "[::1]:80",
    ],
)
def test_allowed_hosts_reach_the_app(client_factory: Callable[..., Any], host: str) -> None:
    with client_factory(TrustedHostMiddleware(app, allowed_hosts=ALLOWED)) as client:
        response = client.get("/", headers={"host": host})
        assert response.status_code == 200
        assert response.text == "app"


@pytest.mark.parametrize(
    "host",
    [
        "evil.com",
        "example.com.evil.com",
        "evilexample.com",
        "example.org",  # "*.example.org" is only the subdomains
        "xexample.org",
        "example.com:notaport",
        "example.com@evil.com",
        "example.com/evil",
        "example.com:80:80",
        "exa mple.com",
        "[::2]",
        "",
    ],
)
def test_other_hosts_get_400(
    client_factory: Callable[..., Any], transport_kind: str, host: str
) -> None:
    with client_factory(TrustedHostMiddleware(app, allowed_hosts=ALLOWED)) as client:
        response = client.get("/", headers={"host": host})
        assert response.status_code == 400
        assert response.text != "app"
        if transport_kind == "testclient" or split_host(host) is not None:
            # The real server already answers 400 itself for a syntactically invalid
            # Host (RFC 9112 §3.2); well-formed but foreign hosts are ours to refuse.
            assert response.text == "Invalid host header"


def test_www_redirect(client_factory: Callable[..., Any]) -> None:
    with client_factory(TrustedHostMiddleware(app, allowed_hosts=ALLOWED)) as client:
        response = client.get(
            "/a/b?x=1", headers={"host": "site.test:8080"}, follow_redirects=False
        )
        assert response.status_code == 301
        assert response.headers["location"] == "http://www.site.test:8080/a/b?x=1"
    no_redirect = TrustedHostMiddleware(app, allowed_hosts=ALLOWED, www_redirect=False)
    with client_factory(no_redirect) as client:
        assert client.get("/", headers={"host": "site.test"}).status_code == 400


def test_wildcard_allows_everything(client_factory: Callable[..., Any]) -> None:
    with client_factory(TrustedHostMiddleware(app)) as client:
        assert client.get("/", headers={"host": "anything.test"}).text == "app"


def test_bad_patterns_are_refused() -> None:
    for pattern in ("ex*ample.com", "*example.com", "*.*.example.com"):
        with pytest.raises(ValueError, match="invalid host pattern"):
            TrustedHostMiddleware(app, allowed_hosts=[pattern])
    with pytest.raises(TypeError):
        TrustedHostMiddleware(app, allowed_hosts="example.com")


async def call(middleware: Any, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


async def test_websocket_with_bad_host_is_closed_before_accept() -> None:
    scope = {"type": "websocket", "headers": [(b"host", b"evil.com")], "path": "/ws"}
    sent = await call(TrustedHostMiddleware(app, allowed_hosts=ALLOWED), scope)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    scope["extensions"] = {"websocket.http.response": {}}
    sent = await call(TrustedHostMiddleware(app, allowed_hosts=ALLOWED), scope)
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 400


@pytest.mark.parametrize(
    ("host", "target", "location"),
    [
        ("example.com", "/path?q=1", "https://example.com/path?q=1"),
        ("example.com:80", "/", "https://example.com/"),
        ("example.com:8080", "/a%20b", "https://example.com:8080/a%20b"),
        ("[::1]:8000", "/x", "https://[::1]:8000/x"),
        ("Example.COM", "/a//b?x=%22", "https://example.com/a//b?x=%22"),
    ],
)
def test_https_redirect_keeps_path_and_query(
    client_factory: Callable[..., Any], host: str, target: str, location: str
) -> None:
    with client_factory(HTTPSRedirectMiddleware(app)) as client:
        response = client.get(target, headers={"host": host}, follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"] == location


def test_https_redirect_permanent_and_bad_host(client_factory: Callable[..., Any]) -> None:
    with client_factory(HTTPSRedirectMiddleware(app, status_code=308)) as client:
        response = client.post("/form", headers={"host": "example.com"}, follow_redirects=False)
        assert response.status_code == 308
        assert response.headers["location"] == "https://example.com/form"
        response = client.get("/", headers={"host": "example.com@evil"}, follow_redirects=False)
        assert response.status_code == 400
        assert "location" not in response.headers
    with pytest.raises(ValueError):
        HTTPSRedirectMiddleware(app, status_code=301)


async def test_https_redirect_passes_https_and_redirects_ws() -> None:
    secure = {
        "type": "http",
        "scheme": "https",
        "headers": [(b"host", b"example.com")],
        "path": "/",
    }
    sent = await call(HTTPSRedirectMiddleware(app), secure)
    assert sent[1]["body"] == b"app"
    ws = {
        "type": "websocket",
        "scheme": "ws",
        "path": "/chat",
        "raw_path": b"/chat",
        "query_string": b"room=1",
        "headers": [(b"host", b"example.com")],
        "extensions": {"websocket.http.response": {}},
    }
    sent = await call(HTTPSRedirectMiddleware(app), ws)
    assert sent[0]["type"] == "websocket.http.response.start"
    assert dict(sent[0]["headers"])[b"location"] == b"wss://example.com/chat?room=1"


def test_split_host() -> None:
    assert split_host(b"Example.com:8000") == ("example.com", "8000")
    assert split_host("[::1]") == ("[::1]", None)
    assert split_host(b"a b") is None
    assert split_host(b"host:123456") is None


async def test_https_redirect_location_cannot_be_bent() -> None:
    scope = {
        "type": "http",
        "scheme": "http",
        "path": "//evil.example/x",
        "raw_path": b"//evil.example/x\r\nSet-Cookie: a=b \xff",
        "query_string": b'q="<x>"',
        "headers": [(b"host", b"example.com")],
    }
    sent = await call(HTTPSRedirectMiddleware(app), scope)
    location = dict(sent[0]["headers"])[b"location"]
    assert (
        location
        == b"https://example.com/evil.example/x%0D%0ASet-Cookie:%20a=b%20%FF?q=%22%3Cx%3E%22"
    )
