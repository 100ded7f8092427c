"""CORSMiddleware: preflights answered without the app, simple requests, Vary: Origin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from asgi_magic.asgi_types import Receive, Send
from asgi_magic.web.cors import CORSMiddleware, add_vary

CALLS: list[str] = []


async def app(scope: Any, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    CALLS.append(scope["method"])
    headers = [(b"content-type", b"text/plain"), (b"x-custom", b"1")]
    if scope["path"] == "/vary":
        headers.append((b"vary", b"Accept-Encoding"))
    if scope["path"] == "/own-cors":
        headers.append((b"access-control-allow-origin", b"https://app-chose.example"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"app"})


def preflight(client: Any, origin: str, method: str = "GET", headers: str | None = None) -> Any:
    request_headers = {"origin": origin, "access-control-request-method": method}
    if headers is not None:
        request_headers["access-control-request-headers"] = headers
    return client.options("/", headers=request_headers)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def test_preflight_allowed_is_answered_without_calling_the_app(
    client_factory: Callable[..., Any],
) -> None:
    cors = CORSMiddleware(
        app,
        allow_origins=["https://example.com"],
        allow_methods=["GET", "POST"],
        allow_headers=["X-Token"],
        max_age=1234,
    )
    with client_factory(cors) as client:
        response = preflight(client, "https://example.com", "POST", "x-token, Content-Type")
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://example.com"
        assert response.headers["access-control-allow-methods"] == "GET, POST"
        allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
        assert {"x-token", "content-type"} <= allowed
        assert response.headers["access-control-max-age"] == "1234"
        assert "access-control-allow-credentials" not in response.headers
        assert response.headers["vary"] == "Origin"
        assert CALLS == []


@pytest.mark.parametrize(
    ("origin", "method", "headers", "reason"),
    [
        ("https://evil.example", "GET", None, "origin"),
        ("https://example.com", "DELETE", None, "method"),
        ("https://example.com", "GET", "x-not-allowed", "headers"),
        ("https://example.com", "GET", "x-token, authorization", "headers"),
        ("https://example.com", "GE T", None, "method"),
        ("https://example.com", "GET", "bad header(", "headers"),
        ("https://evil.example", "PUT", "x-other", "origin, method, headers"),
        ("null", "GET", None, "origin"),
        ("https://example.com.evil.example", "GET", None, "origin"),
    ],
)
def test_disallowed_preflight_is_400_with_a_reason(
    client_factory: Callable[..., Any], origin: str, method: str, headers: str | None, reason: str
) -> None:
    cors = CORSMiddleware(
        app, allow_origins=["https://example.com"], allow_methods=["GET"], allow_headers=["X-Token"]
    )
    with client_factory(cors) as client:
        response = preflight(client, origin, method, headers)
        assert response.status_code == 400
        assert response.text == f"Disallowed CORS {reason}"
        assert "access-control-allow-origin" not in response.headers
        assert CALLS == []


def test_simple_request_gets_the_headers(client_factory: Callable[..., Any]) -> None:
    cors = CORSMiddleware(
        app,
        allow_origins=["https://example.com"],
        expose_headers=["X-Custom"],
    )
    with client_factory(cors) as client:
        response = client.get("/", headers={"origin": "https://example.com"})
        assert response.text == "app"
        assert response.headers["access-control-allow-origin"] == "https://example.com"
        assert response.headers["access-control-expose-headers"] == "X-Custom"
        assert response.headers["vary"] == "Origin"
        # A disallowed origin still reaches the app (CORS is enforced by the browser),
        # but gets no CORS headers.
        response = client.get("/", headers={"origin": "https://evil.example"})
        assert response.text == "app"
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["vary"] == "Origin"
        # No Origin at all: the answer still depends on it, so caches must vary.
        response = client.get("/")
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["vary"] == "Origin"
        assert CALLS == ["GET", "GET", "GET"]


def test_vary_is_merged_and_app_cors_headers_replaced(client_factory: Callable[..., Any]) -> None:
    cors = CORSMiddleware(app, allow_origins=["https://example.com"])
    with client_factory(cors) as client:
        response = client.get("/vary", headers={"origin": "https://example.com"})
        assert response.headers.get_list("vary") == ["Accept-Encoding, Origin"]
        response = client.get("/own-cors", headers={"origin": "https://example.com"})
        assert response.headers.get_list("access-control-allow-origin") == ["https://example.com"]


def test_wildcard_without_credentials_is_static(client_factory: Callable[..., Any]) -> None:
    cors = CORSMiddleware(app, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    with client_factory(cors) as client:
        response = client.get("/", headers={"origin": "https://anyone.example"})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "vary" not in response.headers
        assert "vary" not in client.get("/").headers
        response = preflight(client, "https://anyone.example", "PATCH", "X-A, Authorization")
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        # "*" is reflected as the exact request, never sent literally.
        assert response.headers["access-control-allow-methods"] == "PATCH"
        assert response.headers["access-control-allow-headers"] == "x-a, authorization"
        assert "Origin" not in response.headers.get("vary", "")
        assert "Access-Control-Request-Headers" in response.headers["vary"]


def test_wildcard_with_credentials_reflects_the_origin(client_factory: Callable[..., Any]) -> None:
    cors = CORSMiddleware(app, allow_origins=["*"], allow_credentials=True)
    with client_factory(cors) as client:
        response = client.get("/", headers={"origin": "https://anyone.example"})
        assert response.headers["access-control-allow-origin"] == "https://anyone.example"
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["vary"] == "Origin"
        response = preflight(client, "https://anyone.example")
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://anyone.example"
        assert response.headers["access-control-allow-credentials"] == "true"
        # The opaque origin of sandboxed frames and file: pages is not reflected.
        assert preflight(client, "null").status_code == 400
        response = client.get("/", headers={"origin": "null"})
        assert "access-control-allow-origin" not in response.headers


def test_origin_regex(client_factory: Callable[..., Any]) -> None:
    cors = CORSMiddleware(app, allow_origin_regex=r"https://[a-z0-9-]+\.example\.org")
    with client_factory(cors) as client:
        ok = client.get("/", headers={"origin": "https://tenant-1.example.org"})
        assert ok.headers["access-control-allow-origin"] == "https://tenant-1.example.org"
        # fullmatch: a suffix cannot smuggle another domain in.
        for origin in (
            "https://a.example.org.evil.com",
            "http://a.example.org",
            "https://example.org",
        ):
            response = client.get("/", headers={"origin": origin})
            assert "access-control-allow-origin" not in response.headers


def test_options_without_request_method_is_not_a_preflight(
    client_factory: Callable[..., Any],
) -> None:
    cors = CORSMiddleware(app, allow_origins=["https://example.com"])
    with client_factory(cors) as client:
        response = client.options("/", headers={"origin": "https://example.com"})
        assert response.text == "app"
        assert CALLS == ["OPTIONS"]


def test_configured_origins_are_normalised() -> None:
    cors = CORSMiddleware(app, allow_origins=["HTTPS://Example.COM/"])
    assert cors.is_allowed_origin("https://example.com")
    with pytest.raises(TypeError):
        CORSMiddleware(app, allow_origins="https://example.com")  # type: ignore[arg-type]


def test_add_vary() -> None:
    headers: list[tuple[bytes, bytes]] = []
    add_vary(headers, b"Origin")
    add_vary(headers, b"origin")
    assert headers == [(b"vary", b"Origin")]
    star = [(b"vary", b"*")]
    add_vary(star, b"Origin")
    assert star == [(b"vary", b"*")]
