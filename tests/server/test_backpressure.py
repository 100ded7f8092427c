"""A peer that does not play along must cost the server a bounded amount.

Issue 10: blocking file I/O must not stall other clients (item 9); a large request
body the app never reads is not drained forever (item 10); a client that pipelines
requests and never reads the responses cannot grow the server without limit (item 13a).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import threading
import time
from typing import Any

import pytest

from tests.support.live_server import run_server
from tests.support.subprocess_server import serve_subprocess
from tests.support.wire import header_lines, open_socket, read_head

MiB = 1024 * 1024


# --- item 9: http.response.pathsend on a file whose open() blocks ---------------------


def _unblock_fifo(path: str) -> None:
    """Open the FIFO for writing (the server's open() for reading then returns), write
    a little, close. Retries while no reader has the FIFO open yet (ENXIO)."""
    deadline = time.monotonic() + 3
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                return
            time.sleep(0.05)
            continue
        try:
            os.write(fd, b"fifo data")
        finally:
            os.close(fd)
        return


def test_pathsend_open_that_blocks_does_not_stall_other_clients(tmp_path: Any) -> None:
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    entered = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/fifo":
            entered.set()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.pathsend", "path": fifo})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})

    with run_server(app, log_level="critical", timeout_graceful_shutdown=2) as url:
        blocked = open_socket(url)
        try:
            blocked.sendall(b"GET /fifo HTTP/1.1\r\nHost: x\r\n\r\n")
            assert entered.wait(3)
            time.sleep(0.2)  # the server is now inside the pathsend
            with open_socket(url, timeout=1.0) as other:
                start = time.monotonic()
                other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                head = read_head(other, timeout=1.0)
                elapsed = time.monotonic() - start
        finally:
            _unblock_fifo(fifo)
            blocked.close()
    assert head.startswith(b"HTTP/1.1 200 "), f"no answer within 1 s: {head!r}"
    assert elapsed < 1.0, elapsed


# --- item 10: the unread body is not drained without limit ----------------------------


def test_unread_large_body_closes_instead_of_draining_forever() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        # Answers at once; never reads the declared 200 MB.
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    stop_at = 30 * MiB
    chunk = b"b" * (256 * 1024)
    with run_server(app) as url, open_socket(url, timeout=5) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (200 * MiB)
        )
        received = b""
        sent = 0
        closed = False
        deadline = time.monotonic() + 12
        sock.setblocking(False)
        while sent < stop_at and time.monotonic() < deadline and not closed:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    closed = True
                    break
                except BlockingIOError:
                    data = None
                if data == b"":
                    closed = True
                    break
                if data:
                    received += data
            if writable:
                try:
                    sent += sock.send(chunk)
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
    assert received.startswith(b"HTTP/1.1 200 "), received[:200]
    assert closed, f"the server was still reading after {sent / MiB:.1f} MiB of unread body"
    assert sent < stop_at
    assert b"connection: close" in header_lines(received), header_lines(received)


# --- item 13a: pipelined requests from a client that never reads -----------------------


@pytest.mark.slow
def test_pipelining_client_that_never_reads_has_bounded_memory() -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    batch = request * (256 * 1024 // len(request))
    total = 50 * MiB
    with serve_subprocess("tests.support.plain_apps:app") as server:
        time.sleep(0.3)
        base = peak = server.rss_kib()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.setblocking(False)
            sent = 0
            view = memoryview(b"")
            deadline = time.monotonic() + 10
            last_progress = time.monotonic()
            while sent < total and time.monotonic() < deadline:
                if not view:
                    view = memoryview(batch)
                _, writable, _ = select.select([], [sock], [], 0.2)
                if writable:
                    try:
                        n = sock.send(view)
                    except BlockingIOError:
                        n = 0
                    sent += n
                    view = view[n:]
                    if n:
                        last_progress = time.monotonic()
                peak = max(peak, server.rss_kib())
                if time.monotonic() - last_progress > 2:
                    break  # the server stopped reading: that is the point
            time.sleep(1.0)  # let the server work through what it has
            peak = max(peak, server.rss_kib())
    growth_mib = (peak - base) / 1024
    assert growth_mib < 30, f"RSS grew {growth_mib:.0f} MiB after {sent / MiB:.0f} MiB sent"
