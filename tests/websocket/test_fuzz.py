"""Hypothesis: valid frame streams round-trip; mutated ones only raise ProtocolError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_magic.websocket import (
    BytesMessage,
    Connection,
    DeflateParams,
    PerMessageDeflate,
    ProtocolError,
    Role,
    TextMessage,
)

messages = st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300)), max_size=8)


@settings(max_examples=60, deadline=None)
@given(messages, st.booleans(), st.integers(min_value=1, max_value=64))
def test_valid_streams_round_trip_at_any_chunking(
    msgs: list[str | bytes], deflate: bool, chunk: int
) -> None:
    params = DeflateParams() if deflate else None
    client = Connection(
        Role.CLIENT, deflate=PerMessageDeflate(params, is_server=False) if params else None
    )
    server = Connection(
        Role.SERVER, deflate=PerMessageDeflate(params, is_server=True) if params else None
    )
    wire = b"".join(
        client.send_text(m) if isinstance(m, str) else client.send_bytes(m) for m in msgs
    )
    events = []
    for i in range(0, len(wire), chunk):
        events += server.receive_data(wire[i : i + chunk])
    expected = [TextMessage(m) if isinstance(m, str) else BytesMessage(m) for m in msgs]
    assert events == expected


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_arbitrary_bytes_only_raise_protocol_error(data: bytes, deflate: bool) -> None:
    pmd = PerMessageDeflate(DeflateParams(), is_server=True) if deflate else None
    server = Connection(Role.SERVER, max_size=10_000, deflate=pmd)
    try:
        server.receive_data(data)
    except ProtocolError as exc:
        assert exc.close_code in (1002, 1007, 1009)


@settings(max_examples=100, deadline=None)
@given(messages, st.data())
def test_mutated_streams_only_raise_protocol_error(
    msgs: list[str | bytes], data: st.DataObject
) -> None:
    client = Connection(Role.CLIENT)
    wire = bytearray(
        b"".join(client.send_text(m) if isinstance(m, str) else client.send_bytes(m) for m in msgs)
        + client.send_close(1000)
    )
    if wire:
        for _ in range(data.draw(st.integers(min_value=1, max_value=5))):
            pos = data.draw(st.integers(min_value=0, max_value=len(wire) - 1))
            wire[pos] = data.draw(st.integers(min_value=0, max_value=255))
    server = Connection(Role.SERVER, max_size=10_000)
    try:
        server.receive_data(bytes(wire))
    except ProtocolError as exc:
        assert exc.close_code in (1002, 1007, 1009)
