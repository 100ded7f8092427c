"""The one error type of the WebSocket layer, and the close codes it carries."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """Close status codes (RFC 6455 §7.4.1 and the IANA registry, §11.7)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # never on the wire: "the close frame had no code"
    ABNORMAL = 1006  # never on the wire: "the TCP connection dropped"
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never on the wire


class ProtocolError(Exception):
    """The peer broke RFC 6455 / RFC 7692; ``close_code`` is what to close with.

    After this error the connection is failed (RFC 6455 §7.1.7): send a close frame
    with ``close_code`` (the ``close_bytes`` the connection hands out) and drop the TCP
    connection; no further events are produced.
    """

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code = close_code
        self.reason = reason

    def __repr__(self) -> str:
        return f"ProtocolError({self.close_code}, {self.reason!r})"


class HandshakeError(Exception):
    """The opening handshake is not a valid WebSocket upgrade (RFC 6455 §4.2.1).

    ``status`` is the HTTP status to answer (400, or 426 for an unsupported version),
    ``headers`` any header the answer must carry (426 → ``Sec-WebSocket-Version: 13``).
    """

    def __init__(
        self, status: int, reason: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or []

    def __repr__(self) -> str:
        return f"HandshakeError({self.status}, {self.reason!r})"
