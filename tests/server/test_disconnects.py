"""A client that stops sending: half-close, hang-up, a head cut short, and the app's view.

Policy (issue 10, item 1): end-of-file means the client will send nothing more. A
response the app produces without waiting for more input is still written (a
half-closed client reads it), then the connection closes. An app that waits in
``receive()`` after the whole body gets ``http.disconnect`` at once, and a later
``send()`` raises an ``OSError`` subclass (asgiref www.rst, spec 2.4). A head cut short
by end-of-file gets its 400, like any malformed head, with one log line.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from tests.support.live_server import run_server
from tests.support.wire import capture_logs, open_socket, read_until_close, wait_until


async def hello_after_a_pause(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await asyncio.sleep(0.3)  # the client's end-of-file arrives while we work
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"still here"})


def test_half_closed_client_still_reads_the_response() -> None:
    with run_server(hello_after_a_pause) as url, open_socket(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        data, closed = read_until_close(sock, timeout=5)
    assert data.startswith(b"HTTP/1.1 200 "), data[:100]
    assert data.endswith(b"still here") or data.endswith(b"still here\r\n0\r\n\r\n"), data
    assert closed, "the connection must close after the response"


class LongPoll:
    """Reads the (empty) body, then waits in receive(); records what it got and when."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.send_error: BaseException | None = None
        self.got_disconnect = threading.Event()
        self.done = threading.Event()
        self.disconnect_at = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            self.messages.append(await receive())
            message = await receive()
            self.messages.append(message)
            self.disconnect_at = time.monotonic()
            self.got_disconnect.set()
            try:
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"too late"})
            except BaseException as exc:
                self.send_error = exc
        finally:
            self.done.set()


def _hang_up(sock: socket.socket, how: str) -> None:
    if how == "shutdown":
        sock.shutdown(socket.SHUT_WR)
    else:
        sock.close()


@pytest.mark.parametrize("how", ["shutdown", "close"])
def test_long_poll_gets_disconnect_within_a_second(how: str) -> None:
    app = LongPoll()
    with run_server(app, timeout_graceful_shutdown=1) as url:
        sock = open_socket(url)
        try:
            sock.sendall(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
            assert wait_until(lambda: len(app.messages) == 1, 5), "the app never read the body"
            time.sleep(0.1)  # the app is now parked in its second receive()
            gone_at = time.monotonic()
            _hang_up(sock, how)
            woke = app.got_disconnect.wait(3)
        finally:
            sock.close()
        # Let the app finish before the server stops, whatever happened.
        assert woke, f"the app was never told the client went ({how})"
        assert app.disconnect_at - gone_at < 1.0, app.disconnect_at - gone_at
        assert app.messages == [
            {"type": "http.request", "body": b"", "more_body": False},
            {"type": "http.disconnect"},
        ]
        assert app.done.wait(5)


@pytest.mark.parametrize("how", ["shutdown", "close"])
def test_send_after_disconnect_raises_oserror(how: str) -> None:
    app = LongPoll()
    with run_server(app, log_level="critical", timeout_graceful_shutdown=1) as url:
        sock = open_socket(url)
        try:
            sock.sendall(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
            assert wait_until(lambda: len(app.messages) == 1, 5)
            time.sleep(0.1)
            _hang_up(sock, how)
            assert app.done.wait(3), "the app is still waiting in receive()"
        finally:
            sock.close()
    assert app.messages[-1] == {"type": "http.disconnect"}
    # asgiref www.rst (spec 2.4): send() after the disconnect raises an OSError subclass.
    assert isinstance(app.send_error, OSError), repr(app.send_error)


def test_head_cut_short_by_eof_gets_400_and_a_log_line() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("no request was complete: the app must not run")

    with (
        capture_logs("asgi_magic.error") as logs,
        run_server(app, log_level="info", lifespan="off") as url,
        open_socket(url) as sock,
    ):
        port = sock.getsockname()[1]
        sock.sendall(b"GET /half HTTP/1.1\r\nHost: x\r\nX-Par")
        time.sleep(0.1)
        sock.shutdown(socket.SHUT_WR)
        data, closed = read_until_close(sock, timeout=5)
        time.sleep(0.1)  # the log line is written on the server's thread
    assert data.startswith(b"HTTP/1.1 400 "), data[:200]
    assert closed
    naming_client = [m for m in logs.messages() if f"127.0.0.1:{port}" in m]
    assert len(naming_client) == 1, logs.messages()


# --- two receive() callers at once ----------------------------------------------------


def test_two_concurrent_http_receivers_both_complete() -> None:
    results: list[dict[str, Any]] = []
    ready = threading.Event()
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return

        async def reader() -> None:
            results.append(await receive())

        # A body reader and a disconnect watcher: both legal (asgiref www.rst).
        tasks = [asyncio.create_task(reader()), asyncio.create_task(reader())]
        await asyncio.sleep(0.05)  # both are waiting before any body byte arrives
        ready.set()
        await asyncio.wait(tasks, timeout=3, return_when=asyncio.FIRST_COMPLETED)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        _, pending = await asyncio.wait(tasks, timeout=3)
        for task in pending:
            task.cancel()
        done.set()

    with run_server(app, timeout_graceful_shutdown=1) as url, open_socket(url) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        assert ready.wait(5)
        sock.sendall(b"hello")
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert done.wait(8)
    assert sorted(m["type"] for m in results) == ["http.disconnect", "http.request"], results
    request = next(m for m in results if m["type"] == "http.request")
    assert request["body"] == b"hello"


def test_pipelined_requests_before_a_half_close_are_all_answered() -> None:
    # Both requests were sent before the client half-closed: both are answered, in
    # order, and the connection closes after the last (docs/server/connections.md).
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = scope["path"].encode()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    with run_server(app) as url, open_socket(url) as sock:
        sock.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        data, closed = read_until_close(sock, timeout=5)
    assert closed
    assert data.count(b"HTTP/1.1 200 ") == 2, data
    assert data.index(b"/one") < data.index(b"/two")
    assert data.rstrip().endswith(b"/two")


def test_a_streaming_app_told_of_the_disconnect_is_not_an_error(caplog: Any) -> None:
    # The app stops when receive() says http.disconnect: normal, not "returned without
    # completing the response" at ERROR level.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass

    with (
        caplog.at_level("DEBUG", logger="asgi_magic.error"),
        run_server(app) as url,
        open_socket(url) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"tick" in sock.recv(4096)
        sock.close()
        time.sleep(0.5)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [], [r.getMessage() for r in errors]
