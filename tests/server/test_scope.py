"""What the app's scope says must be what the parser and the config decided.

Issue 10: the absolute-form target's authority and scheme (item 5), one root_path
encoding for HTTP and WebSocket (item 11), and proxy-derived values validated like the
request line (item 15). Each check drives a real server over a socket.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.support.live_server import run_server
from tests.support.wire import open_socket, read_head, read_until_close, ws_handshake


class ScopeRecorder:
    """Answers 200 to HTTP, accepts (then closes) a WebSocket; keeps the last scope."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.seen = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        self.scopes.append(dict(scope))
        self.seen.set()
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})


def _http_scope(app: ScopeRecorder, url: str, request: bytes) -> dict[str, Any]:
    with open_socket(url) as sock:
        sock.sendall(request)
        head = read_head(sock, timeout=3)
    assert head.startswith(b"HTTP/1.1 200 "), head[:200]
    assert app.seen.wait(3)
    return app.scopes[-1]


# --- absolute-form target (item 5) -----------------------------------------------------


def test_absolute_form_authority_replaces_host() -> None:
    app = ScopeRecorder()
    with run_server(app, lifespan="off") as url:
        scope = _http_scope(
            app, url, b"GET http://target.example/page HTTP/1.1\r\nHost: other.example\r\n\r\n"
        )
    hosts = [value for name, value in scope["headers"] if name == b"host"]
    # RFC 9112 §3.2.2: the server MUST ignore Host and use the target's authority.
    assert hosts == [b"target.example"], scope["headers"]
    assert scope["path"] == "/page"
    assert scope["scheme"] == "http"


def test_absolute_form_https_target_sets_the_scheme() -> None:
    app = ScopeRecorder()
    with run_server(app, lifespan="off") as url:
        scope = _http_scope(
            app, url, b"GET https://target.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n"
        )
    assert scope["scheme"] == "https"
    assert scope["path"] == "/x"
    assert [v for n, v in scope["headers"] if n == b"host"] == [b"target.example"]


# --- root_path: one encoding for both protocols (item 11) ------------------------------


@pytest.mark.parametrize("root", ["/café", "/日本"])
def test_websocket_root_path_matches_http(root: str) -> None:
    app = ScopeRecorder()
    with run_server(app, lifespan="off", root_path=root) as url:
        http_scope = _http_scope(app, url, b"GET /chat HTTP/1.1\r\nHost: x\r\n\r\n")
        app.seen.clear()
        with open_socket(url) as sock:
            sock.sendall(ws_handshake(path="/chat"))
            head = read_head(sock, timeout=3)
        assert head.startswith(b"HTTP/1.1 101 "), head[:200]
        assert app.seen.wait(3)
        ws_scope = app.scopes[-1]
    assert ws_scope["type"] == "websocket"
    assert http_scope["raw_path"] == root.encode("utf-8") + b"/chat"
    for key in ("root_path", "path", "raw_path"):
        assert ws_scope[key] == http_scope[key], key


# --- proxy-derived values (item 15) -----------------------------------------------------

PROXY = {"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}


@pytest.mark.parametrize(
    "header",
    [
        b"X-Forwarded-For: 1.2.3.4<script>",
        b"X-Forwarded-For: fe80::1%<script>",
        b"X-Forwarded-Proto: javascript",
        b'Forwarded: for="<x>"',
        b'Forwarded: for="[fe80::1%<x>]"',
    ],
)
def test_invalid_proxy_values_do_not_reach_the_scope(header: bytes) -> None:
    app = ScopeRecorder()
    with run_server(app, lifespan="off", **PROXY) as url:
        scope = _http_scope(app, url, b"GET / HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
    host, _ = scope["client"]
    assert host == "127.0.0.1", scope["client"]
    assert scope["scheme"] == "http"


def test_control_byte_in_x_forwarded_for_never_reaches_the_scope() -> None:
    # The parser may refuse it outright (400); if it admits it, the scope must not show it.
    app = ScopeRecorder()
    with run_server(app, lifespan="off", **PROXY) as url, open_socket(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: evil\x01\r\n\r\n")
        data, _ = read_until_close(sock, timeout=3)
    if data.startswith(b"HTTP/1.1 200 "):
        assert app.scopes[-1]["client"][0] == "127.0.0.1"
    else:
        assert data.startswith(b"HTTP/1.1 400 "), data[:200]
        assert not app.scopes


def test_valid_x_forwarded_for_still_works() -> None:
    app = ScopeRecorder()
    with run_server(app, lifespan="off", **PROXY) as url:
        scope = _http_scope(
            app,
            url,
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n"
            b"X-Forwarded-Proto: https\r\n\r\n",
        )
    assert scope["client"] == ("203.0.113.7", 0)
    assert scope["scheme"] == "https"
