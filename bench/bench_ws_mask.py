"""Micro-benchmark of WebSocket (un)masking: ``python bench/bench_ws_mask.py``.

Prints MB/s of ``asgi_magic.websocket.apply_mask`` for 125 B, 4 KiB, 64 KiB and 1 MiB
payloads, next to a per-byte Python loop (the thing we refuse to ship) for scale.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asgi_magic.websocket import apply_mask

SIZES = [("125 B", 125), ("4 KiB", 4096), ("64 KiB", 65536), ("1 MiB", 1024 * 1024)]


def per_byte(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i & 3] for i, b in enumerate(data))


def rate(fn: object, data: bytes, mask: bytes, seconds: float) -> float:
    call = fn  # type: ignore[assignment]
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(10):
            call(data, mask)  # type: ignore[operator]
        n += 10
        now = time.perf_counter()
        if now >= deadline:
            return n * len(data) / (now - start) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()
    mask = os.urandom(4)
    print(f"{'payload':>8}  {'apply_mask MB/s':>16}  {'per-byte loop MB/s':>19}")
    for label, size in SIZES:
        data = os.urandom(size)
        assert apply_mask(apply_mask(data, mask), mask) == data
        fast = rate(apply_mask, data, mask, args.seconds)
        slow = rate(per_byte, data, mask, min(args.seconds, 0.2)) if size <= 65536 else float("nan")
        print(f"{label:>8}  {fast:>16.1f}  {slow:>19.1f}")


if __name__ == "__main__":
    main()
