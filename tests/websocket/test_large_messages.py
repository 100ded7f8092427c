"""The large-message fast paths: block unmasking, in-place parsing, [header, payload] sends."""

from __future__ import annotations

import array
import asyncio
import os
from typing import Any

import pytest

from asgi_magic.websocket import (
    BytesMessage,
    Connection,
    Opcode,
    PerMessageDeflate,
    Role,
    TextMessage,
    _connection,
    _frames,
    apply_mask,
)
from asgi_magic.websocket._deflate import DeflateParams

from .helpers import frame
from .test_ws_protocol import start


def reference_mask(data: bytes, mask: bytes) -> bytes:
    # §5.3, literally: octet i is XORed with octet i MOD 4 of the key.
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


_S, _L, _B = _frames._SMALL, _frames._LARGE, _frames._BLOCK
# Every size-class edge: small/translate, translate/blocks, and whole/partial blocks.
EDGES = sorted(
    {
        0, 1, 2, 3, 4, 5, _S - 1, _S, _S + 1, _S + 3, _L - 1, _L, _L + 1, _L + 2, _L + 3,
        _L + _B - 1, 3 * _B, 3 * _B + 1, 3 * _B + 2, 3 * _B + 3, 4 * _B - 1, 4 * _B + 5,
    }
)  # fmt: skip


@pytest.mark.parametrize("n", EDGES)
def test_mask_is_correct_at_every_threshold(n: int) -> None:
    data = os.urandom(n)
    mask = os.urandom(4)
    expected = reference_mask(data, mask)
    for given in (data, bytearray(data), memoryview(data)):
        out = apply_mask(given, mask)
        assert out == expected
        assert type(out) is bytes  # ASGI "bytes" is bytes, never a bytearray


@pytest.mark.parametrize("n", [_L + 4, 3 * _B + 2])
def test_mask_of_a_sliced_or_wide_memoryview(n: int) -> None:
    data = os.urandom(n + 8)
    mask = b"\xf0\x0f\xaa\x55"
    assert apply_mask(memoryview(data)[3 : n + 3], mask) == reference_mask(data[3 : n + 3], mask)
    words = array.array("I", os.urandom(4 * (n // 4)))
    assert apply_mask(memoryview(words), mask) == reference_mask(words.tobytes(), mask)


def test_large_mask_keeps_leading_and_trailing_zeros() -> None:
    data = bytes(_L + 7)  # all zero: an integer conversion must not drop them
    mask = b"\x00\x00\x00\x00"
    assert apply_mask(data, mask) == data
    mask = b"\x00\x00\x00\x01"  # only the last byte of each word changes
    out = apply_mask(data, mask)
    assert out == reference_mask(data, mask)
    assert out[-3:] == b"\x00\x00\x00" and out[-4:-3] == b"\x01"


@pytest.mark.parametrize("size", [_L - 1, _L + 1, 3 * _B + 3])
def test_large_frames_split_at_many_offsets(size: int) -> None:
    payload = os.urandom(size)
    text = ("é" * (size // 2)).encode()
    stream = (
        frame(Opcode.BINARY, payload, mask=os.urandom(4))
        + frame(Opcode.TEXT, text, mask=os.urandom(4))
        + frame(Opcode.PING, b"p", mask=os.urandom(4))
        + frame(Opcode.BINARY, payload[:10], mask=os.urandom(4))
    )
    expected = [
        BytesMessage(payload),
        TextMessage(text.decode()),
        "ping",
        BytesMessage(payload[:10]),
    ]
    step = max(1, len(stream) // 37)
    cuts = {1, 2, 9, 14, len(stream) - 1, *range(0, len(stream), step)}
    for chunk in sorted(cuts):
        if chunk <= 0:
            continue
        conn = Connection(Role.SERVER)
        events: list[Any] = []
        for i in range(0, len(stream), chunk):
            events += conn.receive_data(stream[i : i + chunk])
        got = ["ping" if e.__class__.__name__ == "Ping" else e for e in events]
        assert got == expected, chunk


def test_a_callers_bytearray_may_change_after_receive_data() -> None:
    # A pending payload may be kept as a view of the read; a bytearray is copied instead.
    payload = os.urandom(_L + 100)
    data = frame(Opcode.BINARY, payload, mask=os.urandom(4))
    conn = Connection(Role.SERVER)
    first = bytearray(data[: len(data) // 2])
    assert conn.receive_data(first) == []
    first[:] = b"\x00" * len(first)  # reuse the caller's buffer
    first.clear()
    assert conn.receive_data(data[len(data) // 2 :]) == [BytesMessage(payload)]


def test_unmasked_frames_to_a_client_in_pieces() -> None:
    payload = os.urandom(_L + 9)
    stream = frame(Opcode.BINARY, payload, mask=None) * 2
    client = Connection(Role.CLIENT)
    events: list[Any] = []
    for i in range(0, len(stream), 50_000):
        events += client.receive_data(stream[i : i + 50_000])
    assert events == [BytesMessage(payload), BytesMessage(payload)]
    assert all(type(e.data) is bytes for e in events)


# --- sending as [header, payload] ------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 125, _connection._SPLIT_OVER - 1, _connection._SPLIT_OVER, 70_000]
)
def test_parts_join_to_the_same_frame(size: int) -> None:
    payload = os.urandom(size)
    text = "x" * size
    a, b = Connection(Role.SERVER), Connection(Role.SERVER)
    parts = a.send_bytes_parts(payload)
    assert b"".join(parts) == b.send_bytes(payload)
    assert len(parts) == (2 if size >= _connection._SPLIT_OVER else 1)
    if len(parts) == 2:
        assert parts[1] is payload  # the payload itself, not a copy
    assert b"".join(a.send_text_parts(text)) == b.send_text(text)
    client = Connection(Role.CLIENT)
    assert client.receive_data(b"".join(parts)) == [BytesMessage(payload)]


def test_parts_from_a_client_are_masked_and_whole() -> None:
    payload = os.urandom(70_000)
    client = Connection(Role.CLIENT)
    parts = client.send_bytes_parts(payload)
    assert len(parts) == 1
    assert Connection(Role.SERVER).receive_data(parts[0]) == [BytesMessage(payload)]


def test_parts_keep_the_fragmentation_and_deflate_rules() -> None:
    params = DeflateParams()
    server = Connection(Role.SERVER, deflate=PerMessageDeflate(params, is_server=True))
    client = Connection(Role.CLIENT, deflate=PerMessageDeflate(params, is_server=False))
    payload = b"abc" * 30_000
    wire = b"".join(server.send_bytes_parts(payload[:50_000], fin=False))
    with pytest.raises(RuntimeError):
        server.send_text_parts("other type while a binary message is open")
    wire += b"".join(server.send_bytes_parts(payload[50_000:]))
    assert client.receive_data(wire) == [BytesMessage(payload)]


async def test_protocol_writes_a_large_echo_as_header_and_payload() -> None:
    payload = os.urandom(_L)
    got = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "bytes": bytearray(message["bytes"])})
        await send({"type": "websocket.send", "text": "small"})
        got.set()

    proto, transport, _ = start(app)
    calls: list[list[bytes]] = []
    plain_write = transport.write

    def writelines(parts: Any) -> None:
        calls.append(list(parts))
        for part in parts:
            plain_write(part)

    transport.writelines = writelines  # type: ignore[method-assign]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert transport.take().startswith(b"HTTP/1.1 101 ")
    proto.data_received(Connection(Role.CLIENT).send_bytes(payload))
    await asyncio.wait_for(got.wait(), 1)
    assert len(calls) == 1 and len(calls[0]) == 2 and calls[0][1] == payload
    client = Connection(Role.CLIENT)
    events = client.receive_data(transport.take())
    assert events[:2] == [BytesMessage(payload), TextMessage("small")]


def test_a_callers_bytearray_may_change_after_receive_data_unmasked() -> None:
    payload = os.urandom(_L + 100)
    data = frame(Opcode.BINARY, payload, mask=None)
    client = Connection(Role.CLIENT)
    third = len(data) // 3
    for piece in (data[:third], data[third : 2 * third]):
        buf = bytearray(piece)
        assert client.receive_data(buf) == []
        buf[:] = bytes(len(buf))  # the caller reuses its buffer
    assert client.receive_data(data[2 * third :]) == [BytesMessage(payload)]
