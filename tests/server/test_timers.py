"""The request-head timer starts at the head's first byte (issue 10, item 8).

``timeout_keep_alive`` bounds the idle wait for a next request; once a head's first
byte arrives, ``timeout_request_head`` bounds the rest of the head, measured from that
byte, not from the moment the connection went idle.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.live_server import run_server
from tests.support.wire import open_socket, read_head, read_until_close

pytestmark = pytest.mark.slow


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.mark.parametrize("idle", [2.0, 4.6])
def test_head_in_two_reads_after_idle_gets_200(idle: float) -> None:
    # 4.6 s: the first byte comes just before the keep-alive deadline; the rest of the
    # head is due 1 s after that byte, not at the keep-alive deadline.
    with (
        run_server(hello, timeout_keep_alive=5, timeout_request_head=1) as url,
        open_socket(url, timeout=10) as sock,
    ):
        time.sleep(idle)
        sock.sendall(b"GET / HTTP/1.1\r\nHo")
        time.sleep(0.5)
        sock.sendall(b"st: x\r\n\r\n")
        head = read_head(sock, timeout=3)
    assert head.startswith(b"HTTP/1.1 200 "), head


def test_head_after_idle_not_finished_within_a_second_gets_408() -> None:
    with (
        run_server(hello, timeout_keep_alive=5, timeout_request_head=1) as url,
        open_socket(url, timeout=10) as sock,
    ):
        time.sleep(1.5)
        first_byte = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHo")
        data, _ = read_until_close(sock, timeout=6)
        answered = time.monotonic() - first_byte
    assert data.startswith(b"HTTP/1.1 408 "), data[:200]
    # Due 1 s after the first byte; the timer may round up to one more tick.
    assert answered < 1.8, f"408 came {answered:.2f} s after the head's first byte"
