"""Sans-IO WebSocket (RFC 6455) with permessage-deflate (RFC 7692).

No asyncio, no sockets, no logging: ``validate_handshake`` checks an upgrade request
the HTTP/1.1 layer already parsed, ``Connection.receive_data(bytes)`` returns events and
the ``send_*`` methods return bytes. Every rule a peer can break raises
``ProtocolError`` carrying the close code to answer with.
"""

from ._connection import (
    BytesMessage,
    CloseReceived,
    Connection,
    ConnectionState,
    Event,
    Ping,
    Pong,
    Role,
    TextMessage,
    is_valid_close_code,
)
from ._deflate import DeflateParams, PerMessageDeflate, negotiate_deflate, parse_deflate_response
from ._errors import CloseCode, HandshakeError, ProtocolError
from ._frames import Opcode, apply_mask, frame_header
from ._handshake import (
    ExtensionOffer,
    Handshake,
    accept_headers,
    accept_key,
    client_request_headers,
    parse_extensions,
    validate_extended_connect,
    validate_handshake,
)

__all__ = [
    "BytesMessage",
    "CloseCode",
    "CloseReceived",
    "Connection",
    "ConnectionState",
    "DeflateParams",
    "Event",
    "ExtensionOffer",
    "Handshake",
    "HandshakeError",
    "Opcode",
    "PerMessageDeflate",
    "Ping",
    "Pong",
    "ProtocolError",
    "Role",
    "TextMessage",
    "accept_headers",
    "accept_key",
    "apply_mask",
    "client_request_headers",
    "frame_header",
    "is_valid_close_code",
    "negotiate_deflate",
    "parse_deflate_response",
    "parse_extensions",
    "validate_extended_connect",
    "validate_handshake",
]
