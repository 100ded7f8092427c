"""The one error type of the HTTP/1.1 layer."""

from __future__ import annotations


class ProtocolError(Exception):
    """An HTTP/1.1 message broke a rule; ``status`` says what to answer.

    Raised by the parser for what the *client* sent (400, 413, 414, 431, 501, 505 …)
    and by the writer for what the *application* asked us to send (status 500: invalid
    header names or values, a body that does not match its Content-Length …). After a
    parser error the parser is in a terminal state: the connection must be closed once
    the error response is written.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"ProtocolError({self.status}, {self.reason!r})"
