"""A WebSocket peer costs the server a bounded amount, whatever it sends.

Issue 10: pings from a client that never reads the pongs (item 13b), a message cut
into millions of tiny fragments (item 14a), an app that never reads (one budget per
connection, not ``ws_max_queue * ws_max_size``; item 14b), and ``limit_concurrency``
counting WebSocket connections (item 11). Memory is read from a server subprocess.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any

import pytest

from tests.support.live_server import run_server
from tests.support.subprocess_server import ServerProcess, serve_subprocess
from tests.support.wire import (
    client_frame,
    open_socket,
    read_head,
    read_until_close,
    server_frames,
    ws_handshake,
)

MiB = 1024 * 1024
APP = "tests.support.plain_apps:app"
MASK = b"\x11\x22\x33\x44"


def ws_connect(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(ws_handshake(path=path))
    head = read_head(sock, timeout=5)
    assert head.startswith(b"HTTP/1.1 101 "), head[:200]
    return sock


def push(sock: socket.socket, batches: Any, seconds: float) -> tuple[int, bool]:
    """Send the batches on a non-blocking socket for at most ``seconds``, never reading.

    Returns (bytes sent, whether the server closed or stopped taking bytes for 2 s)."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    last_progress = time.monotonic()
    for batch in batches:
        view = memoryview(batch)
        while view:
            if time.monotonic() > deadline:
                return sent, False
            if time.monotonic() - last_progress > 2:
                return sent, True
            _, writable, _ = select.select([], [sock], [], 0.2)
            if not writable:
                continue
            try:
                n = sock.send(view)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return sent, True
            sent += n
            view = view[n:]
            last_progress = time.monotonic()
    return sent, False


class RSSPeak:
    """Samples the server's VmRSS every 50 ms in a thread while the block runs."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.base = server.rss_kib()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.server.rss_kib())
            except (OSError, RuntimeError):
                return
            time.sleep(0.05)

    def __enter__(self) -> RSSPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, self.server.rss_kib())

    def settle(self, limit_mib: float, seconds: float) -> None:
        """Wait while the server works through what it read: until the growth passes
        ``limit_mib`` (fail fast), RSS holds still for 1 s, or ``seconds`` pass."""
        deadline = time.monotonic() + seconds
        last, still_since = self.server.rss_kib(), time.monotonic()
        while time.monotonic() < deadline and self.growth_mib <= limit_mib:
            time.sleep(0.1)
            now = self.server.rss_kib()
            if now != last:
                last, still_since = now, time.monotonic()
            elif time.monotonic() - still_since >= 1.0:
                return

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / 1024


# --- item 13b: pings from a client that never reads the pongs ----------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("payload", "pings"),
    [(0, 3_000_000), (125, 500_000)],
    ids=["3M-empty-pings", "500k-125-byte-pings"],
)
def test_pings_from_a_client_that_never_reads_have_bounded_memory(payload: int, pings: int) -> None:
    # Empty pings are the input (the cost is one write per pong); full-size
    # pings make the pong bytes themselves outgrow the kernel's socket buffers, so the
    # fault shows even when a loaded machine lets the server read only part of them.
    frame = client_frame(0x9, b"p" * payload, mask=MASK)
    per_batch = 256 * 1024 // len(frame)
    batch = frame * per_batch
    with serve_subprocess(APP) as server, ws_connect(server.port, "/sink") as sock:
        time.sleep(0.3)
        with RSSPeak(server) as rss:
            sent, _ = push(sock, (batch for _ in range(-(-pings // per_batch))), seconds=10)
            rss.settle(30, seconds=5)  # what was read is answered now
    count = sent // len(frame)
    assert rss.growth_mib < 30, f"RSS grew {rss.growth_mib:.0f} MiB after {count} pings"


# --- item 14a: one message as two million 2-byte fragments -------------------------------


@pytest.mark.slow
def test_tiny_fragments_are_refused_early_and_do_not_stall_others() -> None:
    fragments = 2_000_000
    per_batch = 100_000
    middle = client_frame(0x0, b"ab", fin=False, mask=MASK) * per_batch

    def batches() -> Any:
        yield client_frame(0x2, b"ab", fin=False, mask=MASK)
        for _ in range(fragments // per_batch):
            yield middle
        yield client_frame(0x0, b"ab", fin=True, mask=MASK)

    latencies: list[float] = []
    received = bytearray()
    stop = threading.Event()

    def probe(port: int) -> None:
        # Another client's GETs must be answered within 1 s meanwhile.
        while not stop.is_set():
            start = time.monotonic()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=3) as other:
                    other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    head = read_head(other, timeout=3)
            except OSError:
                head = b""
            latencies.append(time.monotonic() - start if head.startswith(b"HTTP/1.1 200") else 99)
            time.sleep(0.1)

    def reader(sock: socket.socket) -> None:
        while not stop.is_set():
            readable, _, _ = select.select([sock], [], [], 0.1)
            if not readable:
                continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            received.extend(data)

    with serve_subprocess(APP) as server, ws_connect(server.port, "/sink") as sock:
        time.sleep(0.3)
        threads = [
            threading.Thread(target=probe, args=(server.port,), daemon=True),
            threading.Thread(target=reader, args=(sock,), daemon=True),
        ]
        with RSSPeak(server) as rss:
            for thread in threads:
                thread.start()
            sent, _ = push(sock, batches(), seconds=12)
            rss.settle(30, seconds=4)
            stop.set()
            for thread in threads:
                thread.join(5)
    codes = [int.from_bytes(p[:2], "big") for op, p in server_frames(bytes(received)) if op == 8]
    slowest = max(latencies, default=99.0)
    seen = (
        f"close codes {codes} after {sent // 8} frames sent, RSS grew "
        f"{rss.growth_mib:.0f} MiB, slowest GET meanwhile {slowest:.2f} s"
    )
    assert codes and codes[0] in (1008, 1009), seen
    assert rss.growth_mib < 30, seen
    assert slowest < 1.0, seen


# --- item 14b: one budget per connection for an app that never reads --------------------


@pytest.mark.slow
def test_app_that_never_reads_parks_one_budget_not_queue_times_size() -> None:
    message = client_frame(0x2, b"m" * (MiB - 64), mask=MASK)
    with (
        serve_subprocess(APP, "--ws-max-size", str(MiB), "--ws-max-queue", "32") as server,
        ws_connect(server.port, "/idle") as sock,
    ):
        time.sleep(0.3)
        with RSSPeak(server) as rss:
            sent, stalled = push(sock, (message for _ in range(64)), seconds=12)
            time.sleep(0.5)
    assert stalled, f"the server read all {sent / MiB:.0f} MiB for an app that never reads"
    assert rss.growth_mib < 8, f"RSS grew {rss.growth_mib:.1f} MiB; {sent / MiB:.0f} MiB sent"


# --- item 11: limit_concurrency counts WebSocket connections ----------------------------


async def ws_hold(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("second", ["websocket", "http"])
def test_limit_concurrency_counts_an_open_websocket(second: str) -> None:
    with run_server(ws_hold, lifespan="off", limit_concurrency=1) as url:
        first = open_socket(url)
        try:
            first.sendall(ws_handshake())
            assert read_head(first, timeout=3).startswith(b"HTTP/1.1 101 ")
            with open_socket(url) as sock:
                if second == "websocket":
                    sock.sendall(ws_handshake())
                else:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                data, _ = read_until_close(sock, timeout=3)
        finally:
            first.sendall(client_frame(0x8, b"\x03\xe8"))
            first.close()
    assert data.startswith(b"HTTP/1.1 503 "), data[:200]
