"""Memory stays bounded both ways: a slow app and a slow client, hundreds of MB each.

The server runs in a subprocess so its VmRSS can be read from /proc while data flows.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.support.subprocess_server import serve_subprocess

pytestmark = pytest.mark.slow

TOTAL = 300 * 1024 * 1024
RSS_GROWTH_LIMIT_KIB = 40 * 1024


def test_slow_app_upload_does_not_buffer() -> None:
    with serve_subprocess("tests.integration.apps.slow:app") as server:
        time.sleep(0.3)
        base = server.rss_kib()
        peak = base
        chunk = b"u" * (1024 * 1024)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % TOTAL)
            sent = 0
            deadline = time.monotonic() + 25
            while sent < TOTAL and time.monotonic() < deadline:
                sock.sendall(chunk)
                sent += len(chunk)
                if sent % (16 * len(chunk)) == 0:
                    peak = max(peak, server.rss_kib())
            assert sent == TOTAL, "upload did not finish in time"
            response = b""
            while not response.endswith(str(TOTAL).encode()):
                data = sock.recv(4096)
                if not data:
                    break
                response += data
        assert response.startswith(b"HTTP/1.1 200")
        assert response.endswith(str(TOTAL).encode())
        assert peak - base < RSS_GROWTH_LIMIT_KIB, (base, peak)


def test_slow_client_download_does_not_buffer() -> None:
    with serve_subprocess("tests.integration.apps.slow:app") as server:
        time.sleep(0.3)
        base = server.rss_kib()
        peaks = [base]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peaks.append(server.rss_kib())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                sock.sendall(b"GET /download?%d HTTP/1.1\r\nHost: x\r\n\r\n" % TOTAL)
                time.sleep(1.0)  # a client that does not read at first: the server must wait
                received = 0
                deadline = time.monotonic() + 25
                head_done = False
                buf = b""
                while time.monotonic() < deadline:
                    data = sock.recv(1024 * 1024)
                    if not data:
                        break
                    if not head_done:
                        buf += data
                        if b"\r\n\r\n" in buf:
                            head_done = True
                            received = len(buf.split(b"\r\n\r\n", 1)[1])
                        continue
                    received += len(data)
                    if received >= TOTAL:
                        break
        finally:
            stop.set()
            sampler.join()
        assert received == TOTAL
        assert max(peaks) - base < RSS_GROWTH_LIMIT_KIB, (base, max(peaks))
