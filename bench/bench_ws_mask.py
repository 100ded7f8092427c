"""Micro-benchmark of WebSocket (un)masking: ``python bench/bench_ws_mask.py``.

Prints MB/s of ``asgi_magic.websocket.apply_mask`` for payloads on both sides of each of
its size classes (big-integer XOR up to 512 B, strided ``bytes.translate`` up to 64 KiB,
big-integer XOR per 32 KiB block above), next to a per-byte Python loop (the thing we
refuse to ship) for scale. Times are CPU time, best of five, as the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asgi_magic.websocket import apply_mask

SIZES = [
    ("125 B", 125),
    ("513 B", 513),
    ("4 KiB", 4096),
    ("64 KiB", 65536),
    ("64K+4", 65540),
    ("256 KiB", 256 * 1024),
    ("1 MiB", 1024 * 1024),
    ("4 MiB", 4 * 1024 * 1024),
]


def per_byte(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i & 3] for i, b in enumerate(data))


def rate(fn: object, data: bytes, mask: bytes, seconds: float) -> float:
    call = fn  # type: ignore[assignment]
    best = 0.0
    for _ in range(5):
        n = 0
        start = time.process_time()
        deadline = start + seconds / 5
        while True:
            call(data, mask)  # type: ignore[operator]
            n += 1
            now = time.process_time()
            if now >= deadline:
                break
        best = max(best, n * len(data) / (now - start) / 1e6)
    return best


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
