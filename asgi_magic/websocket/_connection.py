"""The sans-IO WebSocket connection: bytes in → events, method calls → bytes out."""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from enum import Enum

from ._deflate import PerMessageDeflate
from ._errors import CloseCode, ProtocolError
from ._frames import (
    FIN,
    MAX_CONTROL_PAYLOAD,
    RSV1,
    Opcode,
    apply_mask,
    frame_header,
)

__all__ = [
    "BytesMessage",
    "CloseReceived",
    "Connection",
    "ConnectionState",
    "Event",
    "Ping",
    "Pong",
    "Role",
    "TextMessage",
    "is_valid_close_code",
]

DEFAULT_MAX_SIZE = 16 * 1024 * 1024
# Each fragment of a message costs at least this much of ``max_size``: a message sent
# as millions of tiny fragments must not cost the receiver far more (one object per
# fragment, one parse step per header) than one of ``max_size`` bytes would.
FRAGMENT_COST = 128
# Server frames with payloads of this many bytes or more are handed out as
# [header, payload]: below it one concatenated write costs less than two buffers.
_SPLIT_OVER = 4096


class Role(Enum):
    """Which end a ``Connection`` is: a client masks what it sends and requires unmasked
    frames from the server; a server the reverse (RFC 6455 §5.1)."""

    SERVER = "server"
    CLIENT = "client"


class ConnectionState(Enum):
    """The close handshake of one connection (RFC 6455 §7): ``Connection.state``."""

    OPEN = "open"
    LOCAL_CLOSING = "local-closing"  # we sent a close frame, waiting for the peer's
    REMOTE_CLOSING = "remote-closing"  # the peer sent one, we have not answered yet
    CLOSED = "closed"  # both close frames exchanged: drop the TCP connection
    FAILED = "failed"  # a protocol error: send close_code, then drop the connection


@dataclass(slots=True)
class TextMessage:
    """A complete text message, its UTF-8 already checked (RFC 6455 §5.6, §8.1)."""

    data: str


@dataclass(slots=True)
class BytesMessage:
    """A complete binary message, its fragments joined (RFC 6455 §5.4)."""

    data: bytes


@dataclass(slots=True)
class Ping:
    """The peer sent a ping (at most 125 bytes of payload, RFC 6455 §5.5.2); the
    ``Connection`` has not answered it: send ``send_pong(payload)``."""

    payload: bytes


@dataclass(slots=True)
class Pong:
    """The peer sent a pong, solicited or not (RFC 6455 §5.5.3)."""

    payload: bytes


@dataclass(slots=True)
class CloseReceived:
    """The peer's close frame (RFC 6455 §5.5.1); answer with ``send_close`` unless we
    sent ours first (then ``state`` is ``CLOSED``)."""

    code: int
    """The peer's code; 1005 when its close frame carried none (§7.1.5)."""
    reason: str


Event = TextMessage | BytesMessage | Ping | Pong | CloseReceived
"""What ``Connection.receive_data()`` returns a list of."""


def is_valid_close_code(code: int) -> bool:
    """May ``code`` appear in a close frame? (RFC 6455 §7.4.1, §7.4.2, IANA registry)

    1000-1003 and 1007-1014 are defined; 1004 is reserved and 1005/1006/1015 MUST NOT
    be sent; 3000-3999 are registered for libraries and 4000-4999 for private use.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


_DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY)


def _unmask_at(piece: bytes | memoryview, mask: bytes, offset: int) -> bytes:
    """Unmask ``piece``, which starts ``offset`` bytes into a frame's payload (§5.3:
    payload octet i is XORed with mask octet i MOD 4)."""
    shift = offset & 3
    return apply_mask(piece, mask[shift:] + mask[:shift] if shift else mask)


_new_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class Connection:
    """One WebSocket connection after the handshake, for either role.

    ``receive_data(bytes)`` returns the complete events those bytes finish (whole
    messages, pings, pongs, the peer's close) and raises ``ProtocolError`` when the peer
    breaks a rule; the ``send_*`` methods return the bytes to write. Messages are
    assembled from fragments in a list joined once, so a message of N fragments costs
    O(total size), and every size limit is checked from the frame header, before the
    payload is buffered.
    """

    __slots__ = (
        "_buf",
        "_chunks",
        "_decoder",
        "_deflate",
        "_have",
        "_msg_compressed",
        "_msg_opcode",
        "_msg_size",
        "_out_opcode",
        "_parts",
        "_pending",
        "_texts",
        "_wire_size",
        "client",
        "close_sent",
        "max_size",
        "state",
    )

    def __init__(
        self,
        role: Role = Role.SERVER,
        *,
        max_size: int | None = DEFAULT_MAX_SIZE,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self.client = role is Role.CLIENT
        self.max_size = max_size if max_size is not None else (1 << 63) - 1
        self._deflate = deflate
        self.state = ConnectionState.OPEN
        self.close_sent = False
        self._buf = b""  # bytes not yet forming a whole frame header
        # A frame whose header was read and whose payload is still arriving.
        self._pending: tuple[int, int, bytes | None] | None = None
        self._chunks: list[bytes | memoryview] = []
        self._have = 0
        # The message being assembled.
        self._msg_opcode = 0  # 0: no message in progress
        self._msg_compressed = False
        self._msg_size = 0
        self._wire_size = 0
        self._parts: list[bytes] = []
        self._texts: list[str] = []
        self._decoder: codecs.IncrementalDecoder | None = None
        self._out_opcode = 0  # opcode of an outgoing fragmented message in progress

    @property
    def deflate(self) -> PerMessageDeflate | None:
        return self._deflate

    # --- receiving -------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray) -> list[Event]:
        """Feed bytes from the peer; return the events they complete."""
        if type(data) is not bytes:
            # A caller's bytearray may change after we return, and events carry bytes:
            # copy it once here (the server always passes bytes). The compiled build
            # also needs the declared type to hold below.
            data = bytes(data)
        events: list[Event] = []
        if self.state in (ConnectionState.FAILED, ConnectionState.CLOSED):
            return events
        if self.state is ConnectionState.REMOTE_CLOSING:
            return events  # §5.5.1: nothing may follow the peer's close frame
        try:
            self._receive(data, events)
        except ProtocolError:
            self.state = ConnectionState.FAILED
            raise
        return events

    def _receive(self, data: bytes, events: list[Event]) -> None:
        pos = 0
        if self._pending is not None:
            b0, length, pmask = self._pending
            have = self._have
            need = length - have
            if len(data) < need:
                # Unmask each read as it comes, while it is fresh in the CPU cache; the
                # pieces are joined once when the frame is complete.
                if pmask is not None:
                    self._chunks.append(_unmask_at(data, pmask, have))
                else:  # a caller's bytearray may change after we return: keep a copy
                    self._chunks.append(data if isinstance(data, bytes) else bytes(data))
                self._have = have + len(data)
                return
            # The frame completes inside ``data``: take only the frame's tail, and go on
            # parsing ``data`` in place from there (no copy of the rest of the read).
            piece: bytes | memoryview = data if need == len(data) else memoryview(data)[:need]
            if pmask is not None:
                piece = _unmask_at(piece, pmask, have)
            chunks = self._chunks
            chunks.append(piece)
            self._chunks = []
            self._pending = None
            self._have = 0
            whole = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            payload = whole if isinstance(whole, bytes) else bytes(whole)
            self._frame(b0, payload, events)
            if self.state is ConnectionState.REMOTE_CLOSING or self.state is ConnectionState.CLOSED:
                return
            pos = need
            buf = data
        else:
            buf = self._buf + data if self._buf else data
        n = len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            hlen = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                hlen = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hlen = 10
            self._check_header(b0, b1, length)
            mask: bytes | None = None
            if b1 & 0x80:
                if n - pos < hlen + 4:
                    break
                mask = buf[pos + hlen : pos + hlen + 4]
                hlen += 4
            start = pos + hlen
            end = start + length
            if end > n:
                # Wait for the rest of the payload; keep the chunks, join them once.
                self._pending = (b0, length, mask)
                rest: bytes | memoryview
                if mask is not None:
                    rest = apply_mask(memoryview(buf)[start:], mask)
                elif isinstance(buf, bytes):
                    rest = memoryview(buf)[start:]  # a view, not a copy, of most of a read
                else:
                    rest = bytes(buf[start:])  # a caller's bytearray may change later
                self._chunks = [rest] if start < n else []
                self._have = n - start
                self._buf = b""
                return
            pos = end
            if mask is not None:
                payload = apply_mask(memoryview(buf)[start:end], mask)
            else:
                payload = buf[start:end]
            self._frame(b0, payload, events)
            if self.state is ConnectionState.REMOTE_CLOSING or self.state is ConnectionState.CLOSED:
                self._buf = b""
                return
        self._buf = buf[pos:] if pos < n else b""

    def _check_header(self, b0: int, b1: int, length: int) -> None:
        """Every rule a frame header can break, checked before its payload is read."""
        opcode = b0 & 0x0F
        # §5.1: a server MUST close on an unmasked client frame; a client MUST close on
        # a masked server frame.
        if bool(b1 & 0x80) == self.client:
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR,
                "masked frame from server" if self.client else "unmasked frame from client",
            )
        # §5.2: RSV bits MUST be 0 unless an extension defines them; RFC 7692 §6:
        # permessage-deflate uses RSV1 on the first frame of a data message only.
        if b0 & 0x70 and (b0 & 0x30 or self._deflate is None or opcode not in _DATA_OPCODES):
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set")
        if opcode >= 0x8:
            if opcode > Opcode.PONG:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
            # §5.5: control frames MUST NOT be fragmented and carry ≤ 125 bytes.
            if not b0 & FIN:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "control frame too long")
            return
        if opcode == Opcode.CONTINUATION:
            if not self._msg_opcode:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "continuation without a message")
        elif opcode in _DATA_OPCODES:
            # §5.4: the fragments of one message are not interleaved with another.
            if self._msg_opcode:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
        else:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
        # §5.2: the most significant bit of a 64-bit length MUST be 0.
        if length >> 63:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "frame length has its top bit set")
        # §7.4.1 (1009): refuse a frame, or a message, larger than we accept — from the
        # header alone, before buffering any of it.
        # A fragment of a longer message costs at least FRAGMENT_COST.
        cost = length if length >= FRAGMENT_COST or (b0 & FIN and opcode) else FRAGMENT_COST
        if length > self.max_size or self._wire_size + cost > self.max_size:
            raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")

    def _frame(self, b0: int, payload: bytes, events: list[Event]) -> None:
        opcode = b0 & 0x0F
        if opcode >= 0x8:
            self._control(opcode, payload, events)
            return
        fin = b0 & FIN
        if opcode:
            if fin and not b0 & RSV1:
                # The common case: a whole uncompressed message in one frame.
                if opcode == Opcode.TEXT:
                    try:
                        events.append(TextMessage(payload.decode("utf-8")))
                    except UnicodeDecodeError:
                        raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8") from None
                else:
                    events.append(BytesMessage(payload))
                return
            self._msg_opcode = opcode
            self._msg_compressed = bool(b0 & RSV1)
        self._wire_size += len(payload) if len(payload) >= FRAGMENT_COST else FRAGMENT_COST
        if self._msg_compressed:
            assert self._deflate is not None  # RSV1 was only accepted with deflate
            payload = self._deflate.decompress(payload, bool(fin), self.max_size - self._msg_size)
        self._msg_size += len(payload)
        if self._msg_size > self.max_size:
            raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
        if self._msg_opcode == Opcode.TEXT:
            # Validate each fragment as it comes (§8.1: fail fast on invalid UTF-8);
            # the incremental decoder carries a code point split across fragments.
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = _new_utf8_decoder("strict")
            try:
                text = decoder.decode(payload, bool(fin))
            except UnicodeDecodeError:
                raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8") from None
            texts = self._texts
            if text:
                texts.append(text)
            if not fin:
                return
            events.append(TextMessage(texts[0] if len(texts) == 1 else "".join(texts)))
        else:
            parts = self._parts
            if payload:
                parts.append(payload)
            if not fin:
                return
            events.append(BytesMessage(parts[0] if len(parts) == 1 else b"".join(parts)))
        self._end_message()

    def _end_message(self) -> None:
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0
        self._wire_size = 0
        self._parts = []
        self._texts = []
        self._decoder = None

    def _control(self, opcode: int, payload: bytes, events: list[Event]) -> None:
        if opcode == Opcode.PING:
            events.append(Ping(payload))
        elif opcode == Opcode.PONG:
            events.append(Pong(payload))
        else:
            code, reason = self._parse_close(payload)
            events.append(CloseReceived(code, reason))
            if self.state is ConnectionState.LOCAL_CLOSING:
                self.state = ConnectionState.CLOSED
            else:
                self.state = ConnectionState.REMOTE_CLOSING

    @staticmethod
    def _parse_close(payload: bytes) -> tuple[int, str]:
        if not payload:
            return CloseCode.NO_STATUS, ""  # §7.1.5: no status code in the frame
        if len(payload) == 1:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame of one byte")
        code = int.from_bytes(payload[:2], "big")
        if not is_valid_close_code(code):
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
        try:
            reason = payload[2:].decode("utf-8")  # §5.5.1: the reason is UTF-8
        except UnicodeDecodeError:
            raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8 in close reason") from None
        return code, reason

    # --- sending ---------------------------------------------------------------------

    def _frame_bytes(self, first_byte: int, payload: bytes) -> bytes:
        if self.client:
            # §5.3: a fresh, unpredictable masking key for every client frame.
            mask = os.urandom(4)
            return (
                frame_header(first_byte, len(payload), masked=True)
                + mask
                + apply_mask(payload, mask)
            )
        return frame_header(first_byte, len(payload)) + payload

    def _frame_parts(self, first_byte: int, payload: bytes) -> list[bytes]:
        if self.client or len(payload) < _SPLIT_OVER:
            return [self._frame_bytes(first_byte, payload)]
        # A server frame is not masked (§5.1): the payload goes out as it is, after
        # its header, without copying it behind the header.
        return [frame_header(first_byte, len(payload)), payload]

    def _data_payload(self, opcode: int, payload: bytes, fin: bool) -> tuple[int, bytes]:
        """State checks and compression for one data frame: (first byte, payload)."""
        if self.close_sent or self.state is ConnectionState.FAILED:
            raise RuntimeError(f"cannot send data in state {self.state.value}")
        first = opcode
        if self._out_opcode:
            if opcode != self._out_opcode:
                raise RuntimeError("a fragmented message of another type is in progress")
            first = Opcode.CONTINUATION
        deflate = self._deflate
        if deflate is not None:
            if not self._out_opcode:
                first |= RSV1  # RFC 7692 §6: RSV1 on the first frame of the message
            payload = deflate.compress(payload, fin)
        self._out_opcode = 0 if fin else opcode
        return (first | FIN if fin else first), payload

    def send_text(self, text: str, fin: bool = True) -> bytes:
        """A text message (or, with ``fin=False``, one fragment of it)."""
        return self._frame_bytes(*self._data_payload(Opcode.TEXT, text.encode("utf-8"), fin))

    def send_bytes(self, data: bytes, fin: bool = True) -> bytes:
        """A binary message (or, with ``fin=False``, one fragment of it)."""
        return self._frame_bytes(*self._data_payload(Opcode.BINARY, data, fin))

    def send_text_parts(self, text: str, fin: bool = True) -> list[bytes]:
        """``send_text`` as a list of buffers for ``transport.writelines``.

        Their concatenation equals what ``send_text`` returns; a large server frame
        comes as [header, payload] so its payload is never copied.
        """
        return self._frame_parts(*self._data_payload(Opcode.TEXT, text.encode("utf-8"), fin))

    def send_bytes_parts(self, data: bytes, fin: bool = True) -> list[bytes]:
        """``send_bytes`` as a list of buffers for ``transport.writelines``."""
        return self._frame_parts(*self._data_payload(Opcode.BINARY, data, fin))

    def send_ping(self, payload: bytes = b"") -> bytes:
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError("a ping payload is at most 125 bytes (RFC 6455 §5.5)")
        return self._frame_bytes(FIN | Opcode.PING, payload)

    def send_pong(self, payload: bytes = b"") -> bytes:
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError("a pong payload is at most 125 bytes (RFC 6455 §5.5)")
        return self._frame_bytes(FIN | Opcode.PONG, payload)

    def send_close(self, code: int = CloseCode.NORMAL, reason: str = "") -> bytes:
        """Our close frame (§5.5.1); ``code`` 1005 sends an empty close frame.

        The reason is cut to fit the 125-byte control frame on a character boundary.
        Once both close frames are exchanged ``state`` is ``CLOSED``.
        """
        if self.close_sent:
            raise RuntimeError("close frame already sent")
        if code == CloseCode.NO_STATUS:
            payload = b""
        else:
            if not is_valid_close_code(code):
                raise ValueError(f"invalid close code {code}")
            raw = reason.encode("utf-8")
            if len(raw) > MAX_CONTROL_PAYLOAD - 2:
                raw = raw[: MAX_CONTROL_PAYLOAD - 2].decode("utf-8", "ignore").encode("utf-8")
            payload = code.to_bytes(2, "big") + raw
        if self.state is ConnectionState.REMOTE_CLOSING:
            self.state = ConnectionState.CLOSED
        else:
            self.state = ConnectionState.LOCAL_CLOSING
        self.close_sent = True
        return self._frame_bytes(FIN | Opcode.CLOSE, payload)

    def fail(self, error: ProtocolError) -> bytes:
        """The close frame that answers a protocol error (§7.1.7), or b"" if too late."""
        self.state = ConnectionState.FAILED
        if self.close_sent:
            return b""
        self.close_sent = True
        reason = error.reason.encode("ascii", "replace")[: MAX_CONTROL_PAYLOAD - 2]
        payload = int(error.close_code).to_bytes(2, "big") + reason
        return self._frame_bytes(FIN | Opcode.CLOSE, payload)
