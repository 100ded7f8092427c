"""permessage-deflate (RFC 7692): negotiation and the per-message codec, with zlib."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from ._errors import CloseCode, ProtocolError
from ._handshake import ExtensionOffer

__all__ = ["DeflateParams", "PerMessageDeflate", "negotiate_deflate", "parse_deflate_response"]

EXTENSION_NAME = "permessage-deflate"
# RFC 7692 §7.2.1: each compressed message ends with an empty non-compressed block,
# whose last four octets are removed before sending and appended before inflating.
_TAIL = b"\x00\x00\xff\xff"
_MIN_BITS, _MAX_BITS = 8, 15
# zlib refuses (or silently widens) an 8-bit window for raw deflate *compression*; a
# window of 9 would make references the peer may not be able to resolve, so we never
# agree to compress with 8 bits: such an offer is declined (RFC 7692 §5: a server may
# decline any offer) and the next one, if any, is tried.
_MIN_COMPRESS_BITS = 9
DEFAULT_LEVEL = 6
DEFAULT_MEM_LEVEL = 8


@dataclass(slots=True, frozen=True)
class DeflateParams:
    """The agreed parameters (RFC 7692 §7.1)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = _MAX_BITS
    client_max_window_bits: int = _MAX_BITS

    def response(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value the server answers with."""
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits != _MAX_BITS:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits != _MAX_BITS:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


def _window_bits(value: str | None) -> int | None:
    # RFC 7692 §7.1.2: 1*DIGIT in 8..15, no leading zero.
    if value is None or not value.isdigit() or value.startswith("0") or len(value) > 2:
        return None
    bits = int(value)
    return bits if _MIN_BITS <= bits <= _MAX_BITS else None


def _accept_offer(offer: ExtensionOffer) -> DeflateParams | None:
    """The parameters for one client offer, or None to decline it (RFC 7692 §7.1)."""
    seen: set[str] = set()
    server_nct = client_nct = False
    server_bits = _MAX_BITS
    client_bits = _MAX_BITS
    for name, value in offer.params:
        # §7.1: an offer with a duplicated or unknown parameter, or a bad value, is declined.
        if name in seen:
            return None
        seen.add(name)
        if name == "server_no_context_takeover":
            if value is not None:
                return None
            server_nct = True
        elif name == "client_no_context_takeover":
            if value is not None:
                return None
            client_nct = True
        elif name == "server_max_window_bits":
            bits = _window_bits(value)
            if bits is None or bits < _MIN_COMPRESS_BITS:
                return None
            server_bits = bits
        elif name == "client_max_window_bits":
            # §7.1.2.2: the value is optional in an offer; without one the client only
            # says it supports the parameter, and we need not limit it (we inflate
            # with the largest window, which reads any smaller one).
            if value is not None:
                bits = _window_bits(value)
                if bits is None:
                    return None
                client_bits = bits
        else:
            return None
    return DeflateParams(server_nct, client_nct, server_bits, client_bits)


def negotiate_deflate(offers: list[ExtensionOffer]) -> DeflateParams | None:
    """Pick the first acceptable permessage-deflate offer (RFC 7692 §5)."""
    for offer in offers:
        if offer.name == EXTENSION_NAME:
            params = _accept_offer(offer)
            if params is not None:
                return params
    return None


def parse_deflate_response(offers: list[ExtensionOffer]) -> DeflateParams | None:
    """The client's view of the server's answer (for the client role and tests)."""
    for offer in offers:
        if offer.name != EXTENSION_NAME:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"unexpected extension {offer.name}")
        params = _accept_offer(offer)
        if params is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "invalid permessage-deflate response")
        return params
    return None


class PerMessageDeflate:
    """The codec of one connection, for either role.

    ``compress`` turns a whole outgoing message into the payload of its (RSV1-marked)
    frame; ``decompress`` inflates incoming fragments with a hard cap on the output so
    that a compression bomb fails with 1009 instead of exhausting memory.
    """

    __slots__ = (
        "_compressor",
        "_decompressor",
        "_in_bits",
        "_in_reset",
        "_level",
        "_out_bits",
        "_out_reset",
        "params",
    )

    def __init__(self, params: DeflateParams, *, is_server: bool, level: int = DEFAULT_LEVEL):
        self.params = params
        self._level = level
        if is_server:
            self._out_bits = params.server_max_window_bits
            self._out_reset = params.server_no_context_takeover
            self._in_reset = params.client_no_context_takeover
        else:
            self._out_bits = params.client_max_window_bits
            self._out_reset = params.client_no_context_takeover
            self._in_reset = params.server_no_context_takeover
        # Inflating with the largest window reads a stream made with any smaller one.
        self._in_bits = _MAX_BITS
        self._out_bits = max(self._out_bits, _MIN_COMPRESS_BITS)
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None

    def compress(self, data: bytes, fin: bool = True) -> bytes:
        """Deflate a message, or one fragment of it (``fin`` on the last one)."""
        c = self._compressor
        if c is None:
            c = self._compressor = zlib.compressobj(
                self._level, zlib.DEFLATED, -self._out_bits, DEFAULT_MEM_LEVEL
            )
        out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        if not fin:
            return out  # the stream goes on in the next fragment
        if self._out_reset:
            # §7.1.1.1: no context takeover: start the next message with an empty window.
            self._compressor = None
        # §7.2.1: remove the four octets 0x00 0x00 0xff 0xff the sync flush ends with.
        return out[:-4] if out.endswith(_TAIL) else out

    def decompress(self, data: bytes, fin: bool, limit: int) -> bytes:
        """Inflate one fragment; at most ``limit`` bytes may come out (else 1009)."""
        d = self._decompressor
        if d is None:
            d = self._decompressor = zlib.decompressobj(-self._in_bits)
        if fin:
            data += _TAIL  # §7.2.2: append the removed tail before inflating the end
        try:
            # Ask for one byte more than allowed: getting it proves the message is too
            # big, without ever inflating more than limit + 1 bytes.
            out = d.decompress(data, limit + 1)
        except zlib.error as exc:
            raise ProtocolError(CloseCode.INVALID_DATA, f"invalid compressed data: {exc}") from None
        if len(out) > limit or d.unconsumed_tail:
            raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big once decompressed")
        if fin and self._in_reset:
            self._decompressor = None
        return out

    def reset_decompressor(self) -> None:
        self._decompressor = None
