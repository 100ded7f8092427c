"""Heads an app supplies (http.response.start, websocket.accept, the denial response).

Every app-supplied head goes through one validator; a refused head is a 500 on every
path and the app's ``send()`` raises ``RuntimeError`` (issue 10, items 4, 6, 7). The
raw bytes are checked, so an injected line can never hide behind a client library.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from asgi_magic import http11
from tests.support.live_server import run_server
from tests.support.wire import (
    capture_logs,
    header_lines,
    open_socket,
    read_head,
    read_until_close,
    wait_until,
    ws_handshake,
)


class WSHeadApp:
    """Answers the handshake with one message and records what ``send()`` raised."""

    def __init__(self, message: dict[str, Any], *, body: bool = False) -> None:
        self.message = message
        self.body = body
        self.errors: list[BaseException] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        try:
            await send(self.message)
            if self.body:
                await send({"type": "websocket.http.response.body", "body": b"denied"})
        except BaseException as exc:
            self.errors.append(exc)
            raise
        if self.message["type"] == "websocket.accept":
            await receive()


def handshake_answer(url: str, timeout: float = 3.0) -> tuple[bytes, bool]:
    with open_socket(url) as sock:
        sock.sendall(ws_handshake())
        return read_until_close(sock, timeout=timeout)


# --- response splitting through websocket.accept (item 4) ------------------------------


@pytest.mark.parametrize(
    "header",
    [
        (b"x\r\ninjected", b"yes"),
        (b"\r\n", b"injected: yes"),
        (b"x-ctl", b"a\x01b"),
        (b"x-crlf", b"a\r\ninjected: yes"),
    ],
    ids=["crlf-in-name", "name-is-crlf", "ctl-in-value", "crlf-in-value"],
)
def test_accept_with_an_invalid_header_is_500_never_101(header: tuple[bytes, bytes]) -> None:
    app = WSHeadApp({"type": "websocket.accept", "headers": [header]})
    with run_server(app, log_level="critical") as url:
        data, closed = handshake_answer(url)
    assert data.startswith(b"HTTP/1.1 500 "), data[:300]
    assert b"101" not in data.split(b"\r\n", 1)[0]
    assert b"\r\ninjected" not in data.lower(), data
    assert b"\x01" not in data
    assert closed, "the connection must close after the 500"
    assert len(app.errors) == 1 and isinstance(app.errors[0], RuntimeError), app.errors


def test_denial_with_an_invalid_header_is_500_and_logged_as_500() -> None:
    app = WSHeadApp(
        {
            "type": "websocket.http.response.start",
            "status": 403,
            "headers": [(b"x\r\ninjected", b"yes")],
        },
        body=True,
    )
    with (
        capture_logs("asgi_magic.access") as access,
        run_server(app, log_level="info") as url,
    ):
        data, closed = handshake_answer(url)
        time.sleep(0.1)
    assert data.startswith(b"HTTP/1.1 500 "), data[:300]
    assert b"\r\ninjected" not in data.lower()
    assert closed
    lines = [m for m in access.messages() if m.endswith(" ws")]  # WebSocket lines
    # The status is the field after the quoted request line (one access-log format).
    assert lines and all(m.split('" ', 1)[1].startswith("500 ") for m in lines), lines
    assert isinstance(app.errors[0], RuntimeError), app.errors


# --- statuses outside the rules (item 6) -----------------------------------------------


@pytest.mark.parametrize("status", [600, 99, 101])
def test_http_status_outside_the_rules_is_500(status: int) -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b"x"})
        except BaseException as exc:
            errors.append(exc)
            raise

    with run_server(app, log_level="critical") as url, open_socket(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data, _ = read_until_close(sock, timeout=3)
    assert data.startswith(b"HTTP/1.1 500 "), data[:200]
    assert b"HTTP/1.1 %d" % status not in data
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError), errors


def test_invalid_app_header_raises_runtime_error_not_an_http11_type() -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"x\r\ny", b"1")]}
            )
        except BaseException as exc:
            errors.append(exc)
            raise

    with run_server(app, log_level="critical") as url, open_socket(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data, _ = read_until_close(sock, timeout=3)
    assert data.startswith(b"HTTP/1.1 500 "), data[:200]
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError), repr(errors[0])
    assert not isinstance(errors[0], http11.ProtocolError), repr(errors[0])


@pytest.mark.parametrize("status", [100, 199])
def test_denial_with_an_informational_status_is_500(status: int) -> None:
    app = WSHeadApp(
        {"type": "websocket.http.response.start", "status": status, "headers": []}, body=True
    )
    with run_server(app, log_level="critical") as url:
        data, closed = handshake_answer(url)
    assert data.startswith(b"HTTP/1.1 500 "), data[:200]
    assert closed
    assert app.errors and isinstance(app.errors[0], RuntimeError), app.errors


def test_framework_response_refuses_status_600() -> None:
    from asgi_magic.web import Response

    with pytest.raises(ValueError):
        Response(b"x", status_code=600)


# --- headers that contradict each other or the config (item 7) -------------------------


def test_app_date_on_accept_gives_one_date_line() -> None:
    app = WSHeadApp(
        {"type": "websocket.accept", "headers": [(b"date", b"Mon, 01 Jan 2024 00:00:00 GMT")]}
    )
    with run_server(app) as url, open_socket(url) as sock:
        sock.sendall(ws_handshake())
        head = read_head(sock, timeout=3)
    assert head.startswith(b"HTTP/1.1 101 "), head
    dates = [line for line in header_lines(head) if line.startswith(b"date:")]
    assert len(dates) == 1, dates


@pytest.mark.parametrize(
    "request_bytes",
    [b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
    ids=["http10", "client-close"],
)
def test_app_keep_alive_on_a_closing_response_is_only_close(request_bytes: bytes) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"connection", b"keep-alive"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    with run_server(app) as url, open_socket(url) as sock:
        sock.sendall(request_bytes)
        data, closed = read_until_close(sock, timeout=3)
    assert closed
    tokens = _connection_tokens(data)
    # The app's keep-alive never reaches the wire. HTTP/1.1 must say "close" (RFC 9112
    # §9.6); for HTTP/1.0 closing is the default and "close" is optional (§9.3).
    expected = ([b"close"], []) if request_bytes.startswith(b"GET / HTTP/1.0") else ([b"close"],)
    assert tokens in expected, header_lines(data)


def _connection_tokens(data: bytes) -> list[bytes]:
    return [
        token.strip()
        for line in header_lines(data)
        if line.startswith(b"connection:")
        for token in line.split(b":", 1)[1].split(b",")
    ]


def test_app_keep_alive_during_shutdown_is_only_close() -> None:
    entered = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        entered.set()
        await asyncio.sleep(0.5)  # the server begins its graceful shutdown meanwhile
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"connection", b"keep-alive"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    result: list[tuple[bytes, bool]] = []
    with run_server(app) as url:
        sock = open_socket(url)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(3)
        reader = threading.Thread(target=lambda: result.append(read_until_close(sock, 5)))
        reader.start()
    reader.join(6)
    sock.close()
    data, closed = result[0]
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    assert closed
    assert _connection_tokens(data) == [b"close"], header_lines(data)


def _has_configured_headers(data: bytes) -> None:
    lines = header_lines(data)
    assert b"server: asgi-magic" in lines, lines
    assert b"x-env: prod" in lines, lines


CONFIGURED = {"headers": [("x-env", "prod")], "server_header": True}


def test_400_carries_configured_headers() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not reached")

    with run_server(app, lifespan="off", **CONFIGURED) as url, open_socket(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        data, _ = read_until_close(sock, timeout=3)
    assert data.startswith(b"HTTP/1.1 400 "), data[:200]
    _has_configured_headers(data)


def test_408_carries_configured_headers() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not reached")

    with (
        run_server(app, lifespan="off", timeout_request_head=0.3, **CONFIGURED) as url,
        open_socket(url) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\n")
        data, _ = read_until_close(sock, timeout=3)
    assert data.startswith(b"HTTP/1.1 408 "), data[:200]
    _has_configured_headers(data)


def test_503_carries_configured_headers() -> None:
    busy: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/slow":
            busy.append(True)
            await asyncio.sleep(1.0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    # The second connection opens only once the first is busy: open connections
    # count toward the limit too (as in uvicorn).
    with (
        run_server(app, limit_concurrency=1, **CONFIGURED) as url,
        open_socket(url) as slow,
    ):
        slow.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wait_until(lambda: bool(busy), 5)
        with open_socket(url) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data, _ = read_until_close(sock, timeout=3)
        slow.shutdown(socket.SHUT_WR)
    assert data.startswith(b"HTTP/1.1 503 "), data[:200]
    _has_configured_headers(data)


def test_500_carries_configured_headers() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raise RuntimeError("boom")

    with (
        run_server(app, log_level="critical", **CONFIGURED) as url,
        open_socket(url) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data, _ = read_until_close(sock, timeout=3)
    assert data.startswith(b"HTTP/1.1 500 "), data[:200]
    _has_configured_headers(data)
