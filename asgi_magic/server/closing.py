"""Lingering close, for every protocol that closes while the peer may still be sending.

Closing a TCP socket that has unread input makes the kernel send a reset, and a reset
can destroy the data we just wrote before the peer reads it: an HTTP/1.1 400 or 408,
an HTTP/2 GOAWAY saying why. So we half-close (``shutdown(SHUT_WR)``, after the write
buffer is flushed), read and drop what still arrives for a moment, and close when the
peer closes its side, after ``LINGER_TIMEOUT`` or after ``LINGER_LIMIT`` bytes (RFC 9112
§9.6; nginx's ``lingering_close``). TLS has no half-close: it closes at once.
"""

from __future__ import annotations

import asyncio

__all__ = ["LINGER_LIMIT", "LINGER_TIMEOUT", "LingeringClose"]

LINGER_TIMEOUT = 2.0
"""Seconds we keep reading and dropping after half-closing."""
LINGER_LIMIT = 1024 * 1024
"""Bytes we read and drop after half-closing, at most."""


def _can_write_eof(transport: asyncio.Transport) -> bool:
    if transport.get_extra_info("sslcontext") is not None:
        return False
    try:
        return transport.can_write_eof()
    except NotImplementedError:
        return False


class LingeringClose:
    """One connection's lingering close. The protocol passes on what it still gets:
    ``received(n)`` for input, ``eof()`` for the peer's end-of-file."""

    __slots__ = ("_dropped", "_timer", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport: asyncio.Transport | None = transport
        self._dropped = 0
        self._timer: asyncio.TimerHandle | None = None
        if _can_write_eof(transport):
            try:
                transport.write_eof()
            except OSError:  # the peer is already gone (ENOTCONN): nothing to wait for
                self.close()
                return
            self._timer = loop.call_later(LINGER_TIMEOUT, self.close)
        else:
            self.close()

    def received(self, size: int) -> None:
        self._dropped += size
        if self._dropped > LINGER_LIMIT:
            self.close()

    def eof(self) -> None:
        self.close()

    def close(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()
        transport = self.transport
        if transport is not None:
            self.transport = None
            transport.close()
