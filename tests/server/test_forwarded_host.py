"""X-Forwarded-Host, X-Forwarded-Port and Forwarded host= set the host the app sees,
only from trusted peers, only when they form a valid Host (RFC 9110 §7.2)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from asgi_magic.server.proxy_headers import ProxyTrust
from asgi_magic.web import App
from asgi_magic.web.hosts import TrustedHostMiddleware
from asgi_magic.web.requests import Request
from asgi_magic.web.responses import JSONResponse, RedirectResponse
from tests.support.live_server import run_server


def host_after(headers: list[tuple[bytes, bytes]], scheme: str = "http") -> bytes | None:
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": scheme,
        "client": ("127.0.0.1", 5555),
        "headers": [(b"host", b"internal:8000"), *headers],
    }
    ProxyTrust("127.0.0.1").rewrite_scope(scope)
    hosts = [value for name, value in scope["headers"] if name == b"host"]
    assert len(hosts) == 1
    return hosts[0]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], b"internal:8000"),
        ([(b"x-forwarded-host", b"example.com")], b"example.com"),
        ([(b"x-forwarded-host", b"example.com:8443")], b"example.com:8443"),
        ([(b"x-forwarded-host", b"evil.test, example.com")], b"example.com"),
        ([(b"x-forwarded-host", b"[2001:db8::1]:81")], b"[2001:db8::1]:81"),
        ([(b"x-forwarded-port", b"8080")], b"internal:8080"),
        ([(b"x-forwarded-host", b"example.com"), (b"x-forwarded-port", b"80")], b"example.com"),
        (
            [(b"x-forwarded-host", b"example.com:1"), (b"x-forwarded-port", b"9000")],
            b"example.com:9000",
        ),
        ([(b"forwarded", b'for=203.0.113.7;host="example.org:8080"')], b"example.org:8080"),
        (
            [(b"forwarded", b"for=203.0.113.7;host=a.test"), (b"x-forwarded-host", b"b.test")],
            b"b.test",
        ),
        # Refused: not a Host, injection attempts, empty, bad ports.
        ([(b"x-forwarded-host", b"a b")], b"internal:8000"),
        ([(b"x-forwarded-host", b"a/b")], b"internal:8000"),
        ([(b"x-forwarded-host", b"a@b")], b"internal:8000"),
        ([(b"x-forwarded-host", b"")], b"internal:8000"),
        ([(b"x-forwarded-host", b":80")], b"internal:8000"),
        ([(b"x-forwarded-host", b"a\r\nx: y")], b"internal:8000"),
        ([(b"x-forwarded-host", b"x" * 300)], b"internal:8000"),
        ([(b"x-forwarded-port", b"0")], b"internal:8000"),
        ([(b"x-forwarded-port", b"65536")], b"internal:8000"),
        ([(b"x-forwarded-port", b"8o")], b"internal:8000"),
        ([(b"forwarded", b'for=1.2.3.4;host="a<b"')], b"internal:8000"),
    ],
)
def test_host_rewrite(headers: list[tuple[bytes, bytes]], expected: bytes) -> None:
    assert host_after(headers) == expected


def test_default_port_dropped_per_scheme() -> None:
    assert host_after([(b"x-forwarded-port", b"443")], scheme="https") == b"internal"
    assert host_after([(b"x-forwarded-port", b"443")], scheme="http") == b"internal:443"
    assert (
        host_after([(b"x-forwarded-proto", b"https"), (b"x-forwarded-port", b"443")]) == b"internal"
    )


# --- through the real server and the framework -------------------------------------------

web = App()


@web.get("/where", name="where")
async def where(request: Request) -> JSONResponse:
    return JSONResponse(
        {"url_for": str(request.url_for("where")), "host": request.headers.get("host")}
    )


@web.get("/go")
async def go(request: Request) -> RedirectResponse:
    return RedirectResponse(str(request.url_for("where")))


guarded = TrustedHostMiddleware(web, allowed_hosts=["public.example"])

PROXY = {"x-forwarded-host": "public.example", "x-forwarded-proto": "https"}


def test_framework_sees_forwarded_host_from_trusted_peer() -> None:
    with run_server(web, forwarded_allow_ips="127.0.0.1") as url:
        data = httpx.get(url + "/where", headers=PROXY).json()
        assert data == {"url_for": "https://public.example/where", "host": "public.example"}
        redirect = httpx.get(url + "/go", headers={**PROXY, "x-forwarded-port": "8443"})
        assert redirect.status_code in (302, 307)
        assert redirect.headers["location"] == "https://public.example:8443/where"


def test_untrusted_peer_cannot_set_host() -> None:
    with run_server(web, forwarded_allow_ips="192.0.2.1") as url:
        data = httpx.get(url + "/where", headers=PROXY).json()
    assert data["host"].startswith("127.0.0.1:")
    assert data["url_for"].startswith("http://127.0.0.1:")


def test_trusted_host_middleware_checks_forwarded_host() -> None:
    with run_server(guarded, forwarded_allow_ips="127.0.0.1") as url:
        assert httpx.get(url + "/where", headers=PROXY).status_code == 200
        assert httpx.get(url + "/where").status_code == 400
        evil = httpx.get(url + "/where", headers={"x-forwarded-host": "evil.test"})
        assert evil.status_code == 400
    with run_server(guarded, forwarded_allow_ips="192.0.2.1") as url:
        # From an untrusted peer the header is ignored: its own Host is checked.
        assert httpx.get(url + "/where", headers=PROXY).status_code == 400


def test_host_rewrite_never_raises_on_random_bytes() -> None:
    import random

    from asgi_magic.http11._abnf import HOST_RE

    rng = random.Random(99)
    alphabet = b'0123456789abc.:[]_,;="\\ \t\xff@/%'
    names = [b"x-forwarded-host", b"x-forwarded-port", b"forwarded"]
    for _ in range(3000):
        headers = [
            (rng.choice(names), bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 30))))
            for _ in range(rng.randrange(1, 3))
        ]
        host = host_after(headers)
        assert host is not None and HOST_RE.fullmatch(host) is not None
