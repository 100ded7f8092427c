"""Frame layout (RFC 6455 §5.2): opcodes, header serialisation and masking."""

from __future__ import annotations

import struct
from enum import IntEnum

__all__ = ["Opcode", "apply_mask", "frame_header"]


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 §5.2, §11.8); any other value is a protocol error (1002)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


FIN = 0x80
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10
MASK_BIT = 0x80
# §5.5: all control frames MUST have a payload length of 125 bytes or less.
MAX_CONTROL_PAYLOAD = 125
# §5.2: a 64-bit length whose most significant bit MUST be 0.
MAX_FRAME_LENGTH = (1 << 63) - 1

_pack_short = struct.Struct("!BB").pack
_pack_medium = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


def frame_header(first_byte: int, length: int, masked: bool = False) -> bytes:
    """The header of one frame: FIN/RSV/opcode byte, then the shortest length form.

    §5.2: "the minimal number of bytes MUST be used to encode the length".
    """
    mask_bit = MASK_BIT if masked else 0
    if length < 126:
        return _pack_short(first_byte, mask_bit | length)
    if length < 0x10000:
        return _pack_medium(first_byte, mask_bit | 126, length)
    return _pack_long(first_byte, mask_bit | 127, length)


# _XOR_TABLES[k] maps every byte b to b ^ k: with bytes.translate it XORs a whole
# buffer with one constant byte in C.
_XOR_TABLES = [bytes(b ^ k for b in range(256)) for k in range(256)]
# Crossovers measured with bench/bench_ws_mask.py (CPU time, best of many runs):
# up to _SMALL bytes one big-integer XOR has the least fixed cost; up to _LARGE the
# strided translate wins; above it the translate's ten passes over the whole payload
# fall out of the CPU cache, so big-integer XOR over _BLOCK-byte blocks (one mask
# integer per payload, each block converted while it is hot in cache) is ~1.5-2x faster.
_SMALL = 512
_LARGE = 64 * 1024
_BLOCK = 32 * 1024  # a multiple of 4, so every block starts at mask phase 0


def _apply_mask_python(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (§5.3); masking is an involution.

    The pure-Python twin of the C ``_cmask.apply_mask`` (``apply_mask`` is whichever
    of the two is available). No per-byte Python loop (see the size classes above): small payloads use one
    big-integer XOR, medium ones four strided ``bytes.translate`` calls with
    precomputed XOR tables, large ones big-integer XOR block by block. All the
    byte work happens in C.
    """
    n = len(data) if not isinstance(data, memoryview) else data.nbytes
    if n <= _SMALL:
        if not n:
            return b""
        key = (mask * ((n >> 2) + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(
            n, "little"
        )
    if n > _LARGE:
        return _mask_blocks(data if isinstance(data, memoryview) else memoryview(data), mask, n)
    out = bytearray(data)
    tables = _XOR_TABLES
    out[0::4] = out[0::4].translate(tables[mask[0]])
    out[1::4] = out[1::4].translate(tables[mask[1]])
    out[2::4] = out[2::4].translate(tables[mask[2]])
    out[3::4] = out[3::4].translate(tables[mask[3]])
    return bytes(out)


def _mask_blocks(view: memoryview, mask: bytes, n: int) -> bytes:
    """``apply_mask`` for payloads over ``_LARGE`` bytes: XOR of integers per block."""
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    pattern = mask * (_BLOCK >> 2)
    from_bytes = int.from_bytes
    key = from_bytes(pattern, "little")
    full = n - n % _BLOCK
    parts = [
        (from_bytes(view[i : i + _BLOCK], "little") ^ key).to_bytes(_BLOCK, "little")
        for i in range(0, full, _BLOCK)
    ]
    if full < n:
        rest = n - full
        tail_key = from_bytes(pattern[:rest], "little")
        parts.append((from_bytes(view[full:], "little") ^ tail_key).to_bytes(rest, "little"))
    return b"".join(parts)


# One function, two builds: the C loop where it was compiled (about 20 times fewer
# instructions for 64 KiB, see bench/callgrind.py), else the pure-Python twin above. The C
# module is refused under ASGI_MAGIC_NO_EXTENSIONS=1 (asgi_magic._extensions).
try:
    from ._cmask import apply_mask as _apply_mask_c

    apply_mask = _apply_mask_c
except ImportError:
    apply_mask = _apply_mask_python
