"""A client/server pair of our objects, and permessage-deflate (RFC 7692)."""

from __future__ import annotations

import os
import zlib

import pytest

from asgi_magic.websocket import (
    BytesMessage,
    CloseCode,
    CloseReceived,
    Connection,
    ConnectionState,
    DeflateParams,
    Opcode,
    PerMessageDeflate,
    Ping,
    ProtocolError,
    Role,
    TextMessage,
    negotiate_deflate,
    parse_deflate_response,
    parse_extensions,
)

from .helpers import frame


def pair(
    params: DeflateParams | None = None, max_size: int | None = 1 << 24
) -> tuple[Connection, Connection]:
    if params is None:
        return Connection(Role.CLIENT, max_size=max_size), Connection(
            Role.SERVER, max_size=max_size
        )
    return (
        Connection(
            Role.CLIENT, max_size=max_size, deflate=PerMessageDeflate(params, is_server=False)
        ),
        Connection(
            Role.SERVER, max_size=max_size, deflate=PerMessageDeflate(params, is_server=True)
        ),
    )


def test_pair_talks_both_ways_and_closes() -> None:
    client, server = pair()
    assert server.receive_data(client.send_text("hi") + client.send_bytes(b"\x00")) == [
        TextMessage("hi"),
        BytesMessage(b"\x00"),
    ]
    assert client.receive_data(server.send_text("back") + server.send_ping(b"x")) == [
        TextMessage("back"),
        Ping(b"x"),
    ]
    assert server.receive_data(client.send_close(1000, "done")) == [CloseReceived(1000, "done")]
    assert client.receive_data(server.send_close(1000)) == [CloseReceived(1000, "")]
    assert client.state is ConnectionState.CLOSED and server.state is ConnectionState.CLOSED


def test_pair_fragmented_send() -> None:
    client, server = pair()
    data = client.send_text("ab", fin=False) + client.send_ping() + client.send_text("cd")
    assert server.receive_data(data) == [Ping(b""), TextMessage("abcd")]
    with pytest.raises(RuntimeError):
        client.send_text("x", fin=False) + client.send_bytes(b"y")


# --- negotiation ---------------------------------------------------------------------


def offers(value: str) -> DeflateParams | None:
    return negotiate_deflate(parse_extensions([value.encode()]))


def test_plain_offer() -> None:
    params = offers("permessage-deflate")
    assert params == DeflateParams()
    assert params.response() == "permessage-deflate"


def test_browser_offer() -> None:
    params = offers("permessage-deflate; client_max_window_bits")
    assert params == DeflateParams()


def test_all_parameters() -> None:
    params = offers(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=12"
    )
    assert params == DeflateParams(True, True, 10, 12)
    assert params.response() == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=12"
    )


def test_quoted_value() -> None:
    assert offers('permessage-deflate; server_max_window_bits="10"') == DeflateParams(
        server_max_window_bits=10
    )


@pytest.mark.parametrize(
    "value",
    [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_param",
        "x-webkit-deflate-frame",
    ],
)
def test_declined_offers(value: str) -> None:
    assert offers(value) is None


def test_server_window_of_8_is_declined_and_the_next_offer_taken() -> None:
    # zlib cannot compress raw deflate with an 8-bit window; declining is what RFC 7692
    # §5 allows, and the client's fallback offer is then accepted.
    assert offers("permessage-deflate; server_max_window_bits=8") is None
    assert (
        offers("permessage-deflate; server_max_window_bits=8, permessage-deflate")
        == DeflateParams()
    )


def test_client_window_of_8_is_accepted() -> None:
    params = offers("permessage-deflate; client_max_window_bits=8")
    assert params == DeflateParams(client_max_window_bits=8)


def test_client_parses_the_response() -> None:
    resp = parse_extensions([b"permessage-deflate; server_no_context_takeover"])
    assert parse_deflate_response(resp) == DeflateParams(server_no_context_takeover=True)
    with pytest.raises(ProtocolError):
        parse_deflate_response(parse_extensions([b"foo"]))


# --- round trips ---------------------------------------------------------------------

PARAMS = [
    DeflateParams(),
    DeflateParams(server_no_context_takeover=True),
    DeflateParams(client_no_context_takeover=True),
    DeflateParams(server_max_window_bits=9),
    DeflateParams(server_max_window_bits=12),
    DeflateParams(client_max_window_bits=9),
    DeflateParams(client_max_window_bits=11),
    DeflateParams(True, True, 10, 10),
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: p.response())
def test_deflate_round_trips(params: DeflateParams) -> None:
    client, server = pair(params)
    messages = ["hello " * 100, "hello " * 100, "", "x", os.urandom(3000).hex()]
    for text in messages:
        data = client.send_text(text)
        assert data[0] & 0x40  # RSV1: compressed
        assert server.receive_data(data) == [TextMessage(text)]
        back = server.send_text(text)
        assert client.receive_data(back) == [TextMessage(text)]
    blob = os.urandom(70_000)
    assert server.receive_data(client.send_bytes(blob)) == [BytesMessage(blob)]
    assert client.receive_data(server.send_bytes(blob)) == [BytesMessage(blob)]


def test_context_takeover_makes_repeats_smaller() -> None:
    c1, _ = pair(DeflateParams())
    first = c1.send_text("repeat me please " * 10)
    second = c1.send_text("repeat me please " * 10)
    assert len(second) < len(first)
    c2, _ = pair(DeflateParams(client_no_context_takeover=True))
    assert len(c2.send_text("repeat me please " * 10)) == len(
        c2.send_text("repeat me please " * 10)
    )


def test_fragmented_compressed_message_with_ping_between() -> None:
    client, server = pair(DeflateParams())
    data = (
        client.send_text("abc" * 50, fin=False)
        + client.send_ping(b"p")
        + client.send_text("def" * 50)
    )
    assert server.receive_data(data) == [Ping(b"p"), TextMessage("abc" * 50 + "def" * 50)]


def test_rsv1_on_continuation_is_1002() -> None:
    _, server = pair(DeflateParams())
    server.receive_data(frame(Opcode.TEXT, b"a", fin=False))
    with pytest.raises(ProtocolError) as info:
        server.receive_data(frame(Opcode.CONTINUATION, b"b", rsv=0x40))
    assert info.value.close_code == CloseCode.PROTOCOL_ERROR


def test_rsv1_on_control_frame_is_1002() -> None:
    _, server = pair(DeflateParams())
    with pytest.raises(ProtocolError):
        server.receive_data(frame(Opcode.PING, b"", rsv=0x40))


def test_uncompressed_message_is_allowed_with_deflate() -> None:
    _, server = pair(DeflateParams())
    assert server.receive_data(frame(Opcode.TEXT, b"plain")) == [TextMessage("plain")]


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def test_compression_bomb_is_1009_without_inflating_it() -> None:
    bomb = _deflate(b"\x00" * (50 * 1024 * 1024))  # 50 MiB → ~50 KiB
    assert len(bomb) < 100_000
    _, server = pair(DeflateParams(), max_size=1024 * 1024)
    with pytest.raises(ProtocolError) as info:
        server.receive_data(frame(Opcode.BINARY, bomb, rsv=0x40))
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG


def test_compression_bomb_split_in_fragments_is_1009() -> None:
    bomb = _deflate(b"\x00" * (4 * 1024 * 1024))
    _, server = pair(DeflateParams(), max_size=1024 * 1024)
    third = len(bomb) // 3
    with pytest.raises(ProtocolError) as info:
        server.receive_data(frame(Opcode.BINARY, bomb[:third], rsv=0x40, fin=False))
        server.receive_data(frame(Opcode.CONTINUATION, bomb[third : 2 * third], fin=False))
        server.receive_data(frame(Opcode.CONTINUATION, bomb[2 * third :]))
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG


def test_decompressed_message_at_the_limit_is_fine() -> None:
    _, server = pair(DeflateParams(), max_size=10_000)
    assert server.receive_data(frame(Opcode.BINARY, _deflate(b"a" * 10_000), rsv=0x40)) == [
        BytesMessage(b"a" * 10_000)
    ]


def test_garbage_compressed_data_is_1007() -> None:
    _, server = pair(DeflateParams())
    with pytest.raises(ProtocolError) as info:
        server.receive_data(frame(Opcode.BINARY, b"\xff\xff\xff\xff", rsv=0x40))
    assert info.value.close_code == CloseCode.INVALID_DATA


def test_compressed_invalid_utf8_is_1007() -> None:
    _, server = pair(DeflateParams())
    with pytest.raises(ProtocolError) as info:
        server.receive_data(frame(Opcode.TEXT, _deflate(b"ok\xff"), rsv=0x40))
    assert info.value.close_code == CloseCode.INVALID_DATA
