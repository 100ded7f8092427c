"""The response-field rules of http11, seen through the real server (raw sockets).

Issue 10 items 4, 6 and 7: error responses carry the configured headers, a 101 has one
Date, app headers cannot split a 101, a denial cannot use a 1xx.
"""

from __future__ import annotations

import base64
import os
import socket
import time
from typing import Any

import pytest

from tests.support.live_server import run_server

pytestmark = pytest.mark.timeout(60)


def exchange(url: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data``; read until the head is complete or the server closes."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and b"\r\n\r\n" not in out:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
        return out


def field_values(head: bytes, name: bytes) -> list[bytes]:
    lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return [
        line.partition(b":")[2].strip() for line in lines if line.partition(b":")[0].lower() == name
    ]


def upgrade(path: bytes = b"/") -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )


async def ws_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    path = scope["path"]
    try:
        if path == "/date":
            await send(
                {
                    "type": "websocket.accept",
                    "headers": [(b"date", b"Sun, 06 Nov 1994 08:49:37 GMT"), (b"server", b"app")],
                }
            )
        elif path == "/inject":
            await send({"type": "websocket.accept", "headers": [(b"x-a\r\ninjected", b"1")]})
        elif path == "/deny-1xx":
            await send({"type": "websocket.http.response.start", "status": 103, "headers": []})
            await send({"type": "websocket.http.response.body", "body": b"x"})
    except RuntimeError:
        return
    await send({"type": "websocket.close", "code": 1000})


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\n\r\n",  # 400: no Host
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",  # 505
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 101 + b"\r\n",  # 431
    ],
)
def test_error_responses_carry_configured_headers(request_bytes: bytes) -> None:
    with run_server(ws_app, headers=[("X-Frame-Options", "DENY")], log_level="critical") as url:
        out = exchange(url, request_bytes)
    assert out.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 505 ", b"HTTP/1.1 431 "))
    assert field_values(out, b"x-frame-options") == [b"DENY"]
    assert field_values(out, b"server") == [b"asgi-magic"]
    assert len(field_values(out, b"date")) == 1


def test_a_101_with_the_apps_date_has_one_date() -> None:
    with run_server(ws_app, log_level="critical") as url:
        out = exchange(url, upgrade(b"/date"))
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert field_values(out, b"date") == [b"Sun, 06 Nov 1994 08:49:37 GMT"]
    assert field_values(out, b"server") == [b"app"]


def test_an_injected_header_never_reaches_the_101() -> None:
    with run_server(ws_app, log_level="critical") as url:
        out = exchange(url, upgrade(b"/inject"))
    assert b"injected" not in out
    assert not out.startswith(b"HTTP/1.1 101")


def test_a_denial_cannot_use_a_1xx() -> None:
    with run_server(ws_app, log_level="critical") as url:
        out = exchange(url, upgrade(b"/deny-1xx"))
    assert not out.startswith(b"HTTP/1.1 103")
