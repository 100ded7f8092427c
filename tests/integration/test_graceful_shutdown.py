"""SIGTERM under load: every started request completes, new connections are refused."""

from __future__ import annotations

import signal
import socket
import threading
import time

import pytest

from tests.support.subprocess_server import serve_subprocess


def slow_request(port: int, results: list[bytes], started: threading.Barrier) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        started.wait()
        data = b""
        while not data.endswith(b"done"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        results.append(data)


def test_sigterm_lets_in_flight_requests_finish() -> None:
    clients = 6
    with serve_subprocess("tests.integration.apps.slow:app") as server:
        # An idle keep-alive connection: closed at once on shutdown.
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        results: list[bytes] = []
        barrier = threading.Barrier(clients + 1)
        threads = [
            threading.Thread(target=slow_request, args=(server.port, results, barrier))
            for _ in range(clients)
        ]
        for thread in threads:
            thread.start()
        barrier.wait(timeout=10)
        time.sleep(0.3)  # the requests have reached the app (it sleeps 1 s)
        server.signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2)
        idle.settimeout(5)
        assert idle.recv(100) == b""  # idle connection closed without a response
        idle.close()
        for thread in threads:
            thread.join(timeout=10)
        assert server.proc.wait(timeout=10) == 0
    assert len(results) == clients
    for data in results:
        assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data
        assert data.endswith(b"\r\n\r\ndone")
        assert b"connection: close" in data.lower()


def test_graceful_timeout_cancels_stuck_requests() -> None:
    with serve_subprocess(
        "tests.integration.apps.slow:app", "--timeout-graceful-shutdown", "0.2"
    ) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.proc.wait(timeout=10) == 0
        assert time.monotonic() - start < 0.9  # did not wait for the 1 s request
        assert sock.recv(100) == b""
        sock.close()
