"""Every exit of a WebSocket app ends in a close frame or an abort, over a real socket.

Issue 10, items 2 and 3: two tasks waiting in ``receive()`` are both woken, and a
``websocket.close`` the server refuses (an invalid code) raises ``RuntimeError`` in the
app and still ends the connection: close 1011 if the error propagates, close 1000 if
the app catches it and returns. The raw client answers the server's close frame, as a
real client does, so the server must then drop the TCP connection promptly.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from tests.support.live_server import run_server
from tests.support.wire import (
    client_frame,
    open_socket,
    read_head,
    server_frames,
    wait_until,
    ws_handshake,
)

CLOSE = 0x8
TEXT = 0x1


def open_websocket(url: str) -> tuple[socket.socket, bytes]:
    """A raw client after a 101; returns the socket and any frame bytes already read."""
    sock = open_socket(url)
    sock.sendall(ws_handshake())
    data = read_head(sock, timeout=3)
    assert data.startswith(b"HTTP/1.1 101 "), data[:200]
    return sock, data.split(b"\r\n\r\n", 1)[1]


def await_close_frame(sock: socket.socket, buffered: bytes, timeout: float) -> int | None:
    """The code of the server's close frame, or None if none came within ``timeout``."""
    data = buffered
    deadline = time.monotonic() + timeout
    while True:
        for opcode, payload in server_frames(data):
            if opcode == CLOSE:
                return int.from_bytes(payload[:2], "big") if payload else 1005
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return None
        if not chunk:
            return None
        data += chunk


def closed_within(sock: socket.socket, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


class CloseApp:
    """Accepts, then sends ``websocket.close`` with ``code``; records what send() raised."""

    def __init__(self, code: Any, *, catch: bool) -> None:
        self.code = code
        self.catch = catch
        self.errors: list[BaseException] = []
        self.done = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        try:
            await receive()
            await send({"type": "websocket.accept"})
            if self.code == "raise":
                raise RuntimeError("boom")
            try:
                await send({"type": "websocket.close", "code": self.code})
            except BaseException as exc:
                self.errors.append(exc)
                if not self.catch:
                    raise
        finally:
            self.done.set()


@pytest.mark.parametrize(
    ("code", "catch", "expected"),
    [
        (1006, False, 1011),
        (999, False, 1011),
        (None, False, 1011),
        (1006, True, 1000),
        (999, True, 1000),
        (None, True, 1000),
        ("raise", False, 1011),
    ],
    ids=[
        "1006-propagates",
        "999-propagates",
        "None-propagates",
        "1006-caught",
        "999-caught",
        "None-caught",
        "app-raises",
    ],
)
def test_every_exit_ends_in_a_close_frame(code: Any, catch: bool, expected: int) -> None:
    app = CloseApp(code, catch=catch)
    with run_server(app, log_level="critical", timeout_graceful_shutdown=1) as url:
        sock, buffered = open_websocket(url)
        with sock:
            received = await_close_frame(sock, buffered, timeout=3)
            if received is not None:
                sock.sendall(client_frame(CLOSE, received.to_bytes(2, "big")))
            closed = closed_within(sock, 2)
        assert app.done.wait(3)
    assert received == expected, f"close frame: {received}"
    assert closed, "the server kept the TCP connection open after the close handshake"
    if code != "raise":
        assert len(app.errors) == 1 and isinstance(app.errors[0], RuntimeError), app.errors


def test_two_concurrent_websocket_receivers_both_wake() -> None:
    results: list[dict[str, Any]] = []
    ready = threading.Event()
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})

        async def reader() -> None:
            results.append(await receive())

        tasks = [asyncio.create_task(reader()), asyncio.create_task(reader())]
        await asyncio.sleep(0.05)  # both wait before any message arrives
        ready.set()
        _, pending = await asyncio.wait(tasks, timeout=3)
        for task in pending:
            task.cancel()
        done.set()
        await send({"type": "websocket.close", "code": 1000})

    with run_server(app, timeout_graceful_shutdown=1) as url:
        sock, _ = open_websocket(url)
        with sock:
            assert ready.wait(5)
            sock.sendall(client_frame(TEXT, b"one") + client_frame(TEXT, b"two"))
            assert done.wait(6)
    assert wait_until(lambda: len(results) >= 1, 1)
    assert sorted(m.get("text") for m in results) == ["one", "two"], results
