"""CPU profile of the WebSocket echo path for large messages: ``python bench/profile_ws.py``.

Drives ``WebSocketProtocol`` through a fake transport (no sockets, so a noisy shared
machine matters less): N client frames, each masked with its own random key as RFC
6455 §5.3 requires of real clients, are fed in ``--chunk``-byte reads (what the event
loop's reads would hand us) to an echo app. Prints MB/s echoed (payload bytes in, which
equals payload bytes out) per message size and kind, best of ``--repeat`` runs, then a
cProfile top-20 unless ``--no-profile``. Frames are built before the clock starts, and
the clock is this process's CPU time (``time.process_time``): only server work counts,
not time the shared machine gave to others.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asgi_magic.config import Config
from asgi_magic.http11 import Request
from asgi_magic.server.state import ServerState
from asgi_magic.server.ws_protocol import WebSocketProtocol
from asgi_magic.websocket import apply_mask

SIZES = {"64k": 64 * 1024, "1m": 1024 * 1024}


class NullTransport(asyncio.Transport):
    """Counts written bytes and drops them; flow control calls are no-ops."""

    def __init__(self) -> None:
        super().__init__()
        self.out = 0
        self.closed = False
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: Any) -> None:
        self.out += len(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.out += len(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame with a fresh key (RFC 6455 §5.2, §5.3)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 0x10000:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return head + key + apply_mask(payload, key)


def upgrade_request() -> Request:
    headers = [
        (b"host", b"x"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", base64.b64encode(os.urandom(16))),
        (b"sec-websocket-version", b"13"),
    ]
    return Request(b"GET", b"/", b"/", b"", "1.1", headers, host=b"x", upgrade=b"websocket")


async def echo(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        await send(message | {"type": "websocket.send"})


async def run(frames: list[bytes], laps: int, chunk: int, payload_total: int) -> float:
    """Feed the frames ``laps`` times in ``chunk``-byte reads; return CPU seconds until
    all were echoed.

    The same reads are fed again each lap (the wire holds whole frames, so the stream
    stays valid): a real read is fresh in the CPU cache, and a wire larger than the
    cache would time memory stalls no server sees.
    """
    proto = WebSocketProtocol(Config(app=echo, ws_ping_interval=None), ServerState(), echo, {})
    transport = NullTransport()
    transport.protocol = proto
    proto.upgrade(transport, upgrade_request(), b"")
    for _ in range(3):
        await asyncio.sleep(0)
    assert proto.accepted
    start_out = transport.out
    wire = b"".join(frames)
    reads = [wire[i : i + chunk] for i in range(0, len(wire), chunk)]
    start = time.process_time()
    for _ in range(laps):
        for data in reads:
            proto.data_received(data)
            await asyncio.sleep(0)  # let the app take the message and echo it
    while transport.out - start_out < payload_total:
        await asyncio.sleep(0)
    elapsed = time.process_time() - start
    proto.transport.close()
    await asyncio.sleep(0)
    return elapsed


def measure(
    size: int, kind: str, count: int, chunk: int, profiler: cProfile.Profile | None = None
) -> float:
    if kind == "text":
        payload = ("ü" * (size // 2) + "a" * (size % 2)).encode()  # multi-byte UTF-8
        opcode = 0x1
    else:
        payload = os.urandom(size)
        opcode = 0x2
    # About 1 MiB of distinct frames, each with its own key, fed over and over.
    distinct = max(1, min(count, (1024 * 1024) // size))
    frames = [client_frame(opcode, payload) for _ in range(distinct)]
    laps = max(1, count // distinct)
    if profiler is not None:
        profiler.enable()
    elapsed = asyncio.run(run(frames, laps, chunk, size * distinct * laps))
    if profiler is not None:
        profiler.disable()
    return size * distinct * laps / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=0, help="frames per run (0: ~32 MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument("--chunk", type=int, default=256 * 1024, help="bytes per read")
    parser.add_argument("--sizes", default="64k,1m", help="comma list of 64k, 1m")
    parser.add_argument("--profile-kind", choices=("binary", "text"), default="binary")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile top-20")
    args = parser.parse_args()
    for name in args.sizes.split(","):
        size = SIZES[name]
        count = args.count or max(1, (32 * 1024 * 1024) // size)
        for kind in ("binary", "text"):
            rate = max(measure(size, kind, count, args.chunk) for _ in range(args.repeat))
            print(f"{name:>4} {kind:<6} x{count:<5} {rate:8.1f} MB/s")
    if not args.no_profile:
        profiler = cProfile.Profile()
        size = SIZES[args.sizes.split(",")[0]]
        count = args.count or max(1, (32 * 1024 * 1024) // size)
        measure(size, args.profile_kind, count, args.chunk, profiler)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
