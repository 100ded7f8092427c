"""The access-log line of a client that closes before its response (docs/access-log.md).

Under the half-close rule (docs/server/connections.md) end-of-file after a complete
request still lets the response be written. Whether the client was *reading* (it
half-closed) or had *gone* (it closed fully: its kernel answers our bytes with a reset)
is only known after the write. The line says which: the status for a response the
client acknowledged, ``499 … closed-early`` for one it never got. Before the fix both
were logged as ``200``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from tests.support.live_server import run_server
from tests.support.wire import capture_logs, open_socket, read_until_close, wait_until


async def answer_after_a_pause(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await asyncio.sleep(0.3)  # the client's end-of-file arrives while we work
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"still here"})


def access_lines(url: str, client: Any) -> list[str]:
    with capture_logs("asgi_magic.access") as records:
        with open_socket(url) as sock:
            client(sock)
        assert wait_until(lambda: bool(records.records), timeout=5), "no access-log line"
    return records.messages()


def test_client_gone_before_the_response_is_logged_499() -> None:
    def close_early(sock: socket.socket) -> None:
        sock.sendall(b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.close()  # a full close: this client reads nothing

    with run_server(answer_after_a_pause, log_level="info") as url:
        lines = access_lines(url, close_early)
    assert len(lines) == 1, lines
    assert '"GET /gone HTTP/1.1" 499 ' in lines[0], lines
    assert lines[0].endswith(" closed-early"), lines


def test_half_closed_client_that_reads_is_logged_with_the_status() -> None:
    got: list[bytes] = []

    def half_close(sock: socket.socket) -> None:
        sock.sendall(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        got.append(read_until_close(sock, timeout=5)[0])

    with run_server(answer_after_a_pause, log_level="info") as url:
        lines = access_lines(url, half_close)
    assert b"\r\nstill here\r\n" in got[0], got
    assert len(lines) == 1, lines
    assert '"GET /half HTTP/1.1" 200 ' in lines[0], lines
    assert "closed-early" not in lines[0], lines


def test_pipelined_requests_before_a_half_close_each_get_their_line() -> None:
    async def quick(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    def pipeline(sock: socket.socket) -> None:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        read_until_close(sock, timeout=5)

    with run_server(quick, log_level="info") as url:
        with capture_logs("asgi_magic.access") as records:
            with open_socket(url) as sock:
                pipeline(sock)
            assert wait_until(lambda: len(records.records) >= 2, timeout=5)
        lines = records.messages()
    assert len(lines) == 2, lines
    assert '"GET /a HTTP/1.1" 200 ' in lines[0] and '"GET /b HTTP/1.1" 200 ' in lines[1], lines


# --- the check itself, with a transport that says what the kernel would ---------------


class _Socket:
    """What ``TCP_INFO`` and ``SIOCOUTQ`` report: the TCP state and unacknowledged bytes."""

    def __init__(self, fd: int, state: int) -> None:
        self.fd = fd
        self.state = state

    def getsockopt(self, level: int, option: int, size: int) -> bytes:
        return bytes([self.state]) + bytes(size - 1)

    def fileno(self) -> int:
        return self.fd


class _Transport(asyncio.Transport):
    def __init__(self, sock: Any, buffered: int = 0) -> None:
        super().__init__()
        self.sock = sock
        self.buffered = buffered
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else default

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def close(self) -> None:
        self.closed = True


async def test_delivery_check_reads_a_reset_and_an_acknowledgement() -> None:
    from asgi_magic.server import closing

    loop = asyncio.get_running_loop()
    # A reset: TCP state CLOSE (7). Answered at once, no timer.
    reset = _Transport(_Socket(-1, 7))
    check = closing.DeliveryCheck(reset, loop)
    assert reset.closed and check.peer_reset
    # Still CLOSE_WAIT (8) with nothing unacknowledged: delivered. A socket pair gives
    # the ioctl a real descriptor (a UNIX socket's queue, 0 here).
    left, right = socket.socketpair()
    with left, right:
        delivered = _Transport(_Socket(left.fileno(), 8))
        check = closing.DeliveryCheck(delivered, loop)
        assert delivered.closed and not check.peer_reset
    # Bytes that never leave our buffer: polled, then closed without blame.
    stuck = _Transport(_Socket(-1, 8), buffered=10)
    check = closing.DeliveryCheck(stuck, loop, poll=(0.001, 0.001))
    assert not stuck.closed
    await asyncio.sleep(0.05)
    assert stuck.closed and not check.peer_reset
