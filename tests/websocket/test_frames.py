"""Frame-level rules of RFC 6455 §5, bytes in and events or errors out."""

from __future__ import annotations

import os
import time

import pytest

from asgi_magic.websocket import (
    BytesMessage,
    CloseCode,
    CloseReceived,
    Connection,
    ConnectionState,
    Opcode,
    Ping,
    Pong,
    ProtocolError,
    Role,
    TextMessage,
    apply_mask,
    frame_header,
)

from .helpers import close_payload, frame


def server(**kwargs: object) -> Connection:
    return Connection(Role.SERVER, **kwargs)  # type: ignore[arg-type]


def expect_error(conn: Connection, data: bytes, code: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        conn.receive_data(data)
    assert info.value.close_code == code
    assert conn.state is ConnectionState.FAILED
    return info.value


# --- masking -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 125, 126, 4097, 65536 + 3])
def test_mask_matches_the_definition(n: int) -> None:
    data = os.urandom(n)
    mask = os.urandom(4)
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))  # §5.3, literally
    assert apply_mask(data, mask) == expected


def test_mask_is_an_involution_and_keeps_leading_zeros() -> None:
    data = b"\x00\x00\x00" + os.urandom(1000) + b"\x00\x00"
    mask = b"\x00\xff\x00\xff"
    masked = apply_mask(data, mask)
    assert len(masked) == len(data)
    assert apply_mask(masked, mask) == data
    assert apply_mask(data, b"\x00\x00\x00\x00") == data


def test_client_masks_with_a_fresh_key_per_frame() -> None:
    client = Connection(Role.CLIENT)
    a = client.send_bytes(b"same payload")
    b = client.send_bytes(b"same payload")
    assert a[1] & 0x80 and b[1] & 0x80
    assert a[2:6] != b[2:6]  # 2**-32 chance of a false failure


def test_unmasked_client_frame_is_1002() -> None:
    expect_error(server(), frame(Opcode.TEXT, b"hi", mask=None), CloseCode.PROTOCOL_ERROR)


def test_masked_server_frame_is_1002_for_a_client() -> None:
    client = Connection(Role.CLIENT)
    expect_error(client, frame(Opcode.TEXT, b"hi"), CloseCode.PROTOCOL_ERROR)


# --- header rules --------------------------------------------------------------------


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10])
def test_reserved_bits_without_extension_are_1002(rsv: int) -> None:
    expect_error(server(), frame(Opcode.TEXT, b"x", rsv=rsv), CloseCode.PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_1002(opcode: int) -> None:
    expect_error(server(), frame(opcode, b""), CloseCode.PROTOCOL_ERROR)


def test_control_frame_longer_than_125_is_1002() -> None:
    expect_error(server(), frame(Opcode.PING, b"x" * 126), CloseCode.PROTOCOL_ERROR)


def test_fragmented_control_frame_is_1002() -> None:
    expect_error(server(), frame(Opcode.PING, b"x", fin=False), CloseCode.PROTOCOL_ERROR)


def test_continuation_without_message_is_1002() -> None:
    expect_error(server(), frame(Opcode.CONTINUATION, b"x"), CloseCode.PROTOCOL_ERROR)


def test_new_message_inside_fragmented_one_is_1002() -> None:
    conn = server()
    assert conn.receive_data(frame(Opcode.TEXT, b"a", fin=False)) == []
    expect_error(conn, frame(Opcode.BINARY, b"b"), CloseCode.PROTOCOL_ERROR)


def test_64_bit_length_with_top_bit_is_1002() -> None:
    data = bytes([0x82, 0xFF]) + (1 << 63).to_bytes(8, "big") + b"\x00" * 4
    expect_error(server(max_size=None), data, CloseCode.PROTOCOL_ERROR)


def test_minimal_length_encoding_is_used() -> None:
    assert frame_header(0x82, 125) == b"\x82\x7d"
    assert frame_header(0x82, 126) == b"\x82\x7e\x00\x7e"
    assert frame_header(0x82, 65535) == b"\x82\x7e\xff\xff"
    assert frame_header(0x82, 65536) == b"\x82\x7f" + (65536).to_bytes(8, "big")


# --- messages and fragmentation ------------------------------------------------------


def test_single_frame_messages() -> None:
    conn = server()
    events = conn.receive_data(
        frame(Opcode.TEXT, "héllo".encode()) + frame(Opcode.BINARY, b"\x00\x01")
    )
    assert events == [TextMessage("héllo"), BytesMessage(b"\x00\x01")]


def test_empty_messages() -> None:
    conn = server()
    assert conn.receive_data(frame(Opcode.TEXT) + frame(Opcode.BINARY)) == [
        TextMessage(""),
        BytesMessage(b""),
    ]


@pytest.mark.parametrize("length", [125, 126, 65535, 65536, 200_000])
def test_every_length_form_round_trips(length: int) -> None:
    payload = os.urandom(length)
    assert server().receive_data(frame(Opcode.BINARY, payload)) == [BytesMessage(payload)]


def test_fragmented_message_with_interleaved_control_frames() -> None:
    conn = server()
    data = (
        frame(Opcode.TEXT, b"Hel", fin=False)
        + frame(Opcode.PING, b"p1")
        + frame(Opcode.CONTINUATION, b"lo, ", fin=False)
        + frame(Opcode.PONG, b"p2")
        + frame(Opcode.CONTINUATION, b"world")
    )
    assert conn.receive_data(data) == [Ping(b"p1"), Pong(b"p2"), TextMessage("Hello, world")]


def test_every_split_point_gives_the_same_events() -> None:
    data = (
        frame(Opcode.TEXT, "añb€c".encode(), fin=False)
        + frame(Opcode.PING, b"ping")
        + frame(Opcode.CONTINUATION, "😀".encode())
        + frame(Opcode.BINARY, os.urandom(300))
        + frame(Opcode.CLOSE, close_payload(1000, "bye"))
    )
    expected = server().receive_data(data)
    assert [type(e) for e in expected] == [Ping, TextMessage, BytesMessage, CloseReceived]
    for i in range(len(data) + 1):
        conn = server()
        assert conn.receive_data(data[:i]) + conn.receive_data(data[i:]) == expected, i
    conn = server()
    events = []
    for i in range(len(data)):  # byte by byte
        events += conn.receive_data(data[i : i + 1])
    assert events == expected


def test_n_fragment_message_is_linear() -> None:
    """A message of N fragments costs O(total), not O(N²): 4x the fragments ≈ 4x time."""

    def run(n: int) -> float:
        data = (
            frame(Opcode.BINARY, b"ab", fin=False)
            + b"".join(frame(Opcode.CONTINUATION, b"ab", fin=False) for _ in range(n))
            + frame(Opcode.CONTINUATION, b"")
        )
        conn = server(max_size=None)
        start = time.perf_counter()
        (msg,) = conn.receive_data(data)
        elapsed = time.perf_counter() - start
        assert isinstance(msg, BytesMessage) and len(msg.data) == 2 * (n + 1)
        return elapsed

    run(2000)  # warm up
    small = min(run(20_000) for _ in range(3))
    big = min(run(80_000) for _ in range(3))
    # Quadratic would be ≈16x; allow generous noise on a shared machine.
    assert big < small * 8


def test_large_frame_in_many_chunks_is_linear() -> None:
    payload = os.urandom(4 * 1024 * 1024)
    data = frame(Opcode.BINARY, payload)
    conn = server()
    events = []
    start = time.perf_counter()
    for i in range(0, len(data), 1024):
        events += conn.receive_data(data[i : i + 1024])
    assert time.perf_counter() - start < 5.0  # quadratic buffering would take minutes
    assert events == [BytesMessage(payload)]


# --- UTF-8 ---------------------------------------------------------------------------

TEXT = "a€😀ñ\u0800z"


def test_utf8_split_at_every_offset_across_fragments() -> None:
    raw = TEXT.encode()
    for i in range(len(raw) + 1):
        conn = server()
        data = frame(Opcode.TEXT, raw[:i], fin=False) + frame(Opcode.CONTINUATION, raw[i:])
        assert conn.receive_data(data) == [TextMessage(TEXT)], i


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff",
        b"\xc0\xaf",  # overlong
        b"\xed\xa0\x80",  # surrogate
        b"\xf4\x90\x80\x80",  # > U+10FFFF
        b"abc\x80",
    ],
)
def test_invalid_utf8_is_1007(bad: bytes) -> None:
    expect_error(server(), frame(Opcode.TEXT, bad), CloseCode.INVALID_DATA)
    conn = server()
    conn.receive_data(frame(Opcode.TEXT, b"ok", fin=False))
    expect_error(conn, frame(Opcode.CONTINUATION, bad), CloseCode.INVALID_DATA)


def test_invalid_utf8_fails_fast_before_the_message_ends() -> None:
    conn = server()
    expect_error(conn, frame(Opcode.TEXT, b"ok\xff", fin=False), CloseCode.INVALID_DATA)


def test_truncated_code_point_at_message_end_is_1007() -> None:
    conn = server()
    conn.receive_data(frame(Opcode.TEXT, "€".encode()[:2], fin=False))
    expect_error(conn, frame(Opcode.CONTINUATION, b""), CloseCode.INVALID_DATA)


# --- limits --------------------------------------------------------------------------


def test_frame_over_max_size_is_1009_from_the_header_alone() -> None:
    conn = server(max_size=1000)
    header_only = frame(Opcode.BINARY, b"", length=1001)  # no payload sent at all
    expect_error(conn, header_only, CloseCode.MESSAGE_TOO_BIG)


def test_message_over_max_size_is_1009_before_buffering() -> None:
    conn = server(max_size=1000)
    conn.receive_data(frame(Opcode.BINARY, b"x" * 600, fin=False))
    expect_error(conn, frame(Opcode.CONTINUATION, b"", length=600), CloseCode.MESSAGE_TOO_BIG)


def test_message_of_exactly_max_size_is_accepted() -> None:
    conn = server(max_size=1000)
    data = frame(Opcode.TEXT, b"x" * 500, fin=False) + frame(Opcode.CONTINUATION, b"y" * 500)
    assert conn.receive_data(data) == [TextMessage("x" * 500 + "y" * 500)]


# --- control frames and closing ------------------------------------------------------


def test_ping_and_pong_payloads() -> None:
    conn = server()
    (ping,) = conn.receive_data(frame(Opcode.PING, b"abc"))
    assert ping == Ping(b"abc")
    assert conn.send_pong(ping.payload) == b"\x8a\x03abc"
    with pytest.raises(ValueError):
        conn.send_ping(b"x" * 126)


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 3000, 4999]
)
def test_valid_close_codes(code: int) -> None:
    conn = server()
    assert conn.receive_data(frame(Opcode.CLOSE, close_payload(code, "r"))) == [
        CloseReceived(code, "r")
    ]
    assert conn.state is ConnectionState.REMOTE_CLOSING
    reply = conn.send_close(code)
    assert reply == b"\x88\x02" + code.to_bytes(2, "big")
    assert conn.state is ConnectionState.CLOSED


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_close_codes_are_1002(code: int) -> None:
    expect_error(server(), frame(Opcode.CLOSE, close_payload(code)), CloseCode.PROTOCOL_ERROR)


def test_close_without_code_reports_1005_and_echoes_empty() -> None:
    conn = server()
    assert conn.receive_data(frame(Opcode.CLOSE)) == [CloseReceived(1005, "")]
    assert conn.send_close(1005) == b"\x88\x00"


def test_close_of_one_byte_is_1002() -> None:
    expect_error(server(), frame(Opcode.CLOSE, b"\x03"), CloseCode.PROTOCOL_ERROR)


def test_close_reason_must_be_utf8() -> None:
    expect_error(server(), frame(Opcode.CLOSE, b"\x03\xe8\xff"), CloseCode.INVALID_DATA)


def test_nothing_after_close_is_processed() -> None:
    conn = server()
    events = conn.receive_data(
        frame(Opcode.CLOSE, close_payload(1000)) + frame(Opcode.TEXT, b"late")
    )
    assert events == [CloseReceived(1000, "")]
    assert conn.receive_data(frame(Opcode.TEXT, b"later")) == []


def test_close_handshake_started_locally() -> None:
    conn = server()
    conn.send_close(1001, "going")
    assert conn.state is ConnectionState.LOCAL_CLOSING
    with pytest.raises(RuntimeError):
        conn.send_text("no data after our close")
    assert conn.receive_data(frame(Opcode.CLOSE, close_payload(1001))) == [CloseReceived(1001, "")]
    assert conn.state is ConnectionState.CLOSED


def test_close_reason_is_cut_on_a_character_boundary() -> None:
    conn = server()
    data = conn.send_close(1000, "€" * 100)
    payload = data[2:]
    assert len(payload) <= 125
    payload[2:].decode("utf-8")  # still valid UTF-8


def test_fail_gives_the_error_code_once() -> None:
    conn = server()
    err = expect_error(conn, frame(Opcode.TEXT, b"\xff"), CloseCode.INVALID_DATA)
    out = conn.fail(err)
    assert out[:4] == b"\x88" + bytes([len(out) - 2]) + b"\x03\xef"
    assert conn.fail(err) == b""
    assert conn.receive_data(frame(Opcode.TEXT, b"x")) == []
