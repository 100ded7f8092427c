"""Lingering close, for every protocol that closes while the peer may still be sending.

Closing a TCP socket that has unread input makes the kernel send a reset, and a reset
can destroy the data we just wrote before the peer reads it: an HTTP/1.1 400 or 408,
an HTTP/2 GOAWAY saying why. So we half-close (``shutdown(SHUT_WR)``, after the write
buffer is flushed), read and drop what still arrives for a moment, and close when the
peer closes its side, after ``LINGER_TIMEOUT`` or after ``LINGER_LIMIT`` bytes (RFC 9112
§9.6; nginx's ``lingering_close``). TLS has no half-close: it closes at once.

``DeliveryCheck`` is the close after answering a peer that had already half-closed:
there is nothing left to read, but whether the peer is still *reading* (a half-close)
or has gone (a full close: its kernel answers our bytes with a reset) is only known
once it has acknowledged them or reset. The access log needs that answer (499 or the
status, docs/access-log.md).
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import termios

__all__ = ["DELIVERY_POLL", "DeliveryCheck", "LINGER_LIMIT", "LINGER_TIMEOUT", "LingeringClose"]

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


DELIVERY_POLL: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 0.725)
"""Delays between the checks of ``DeliveryCheck`` after the first, immediate one
(seconds); they add up to 2 s."""

_TCP_CLOSE = 7  # Linux include/net/tcp_states.h: what a received reset leaves
_TCP_INFO = getattr(socket, "TCP_INFO", None)  # Linux only


def _peer_reset(transport: asyncio.Transport) -> bool | None:
    """True: the peer reset the connection; False: it has acknowledged every byte we
    wrote; None: not known (yet, or at all on this platform or socket)."""
    try:
        if transport.get_write_buffer_size():
            return None
    except NotImplementedError:
        return False  # a transport that cannot say: the benefit of the doubt
    sock = transport.get_extra_info("socket")
    if sock is None or _TCP_INFO is None:
        return False  # no way to ask: the benefit of the doubt
    try:
        # struct tcp_info begins with the TCP state (one byte); SIOCOUTQ (the same
        # number as TIOCOUTQ) is the count of bytes sent but not yet acknowledged.
        state = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 8)[0]
        if state == _TCP_CLOSE:
            return True
        unacked = int.from_bytes(
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"), "little"
        )
    except OSError:  # not TCP (a UNIX socket), or already closed
        return False
    return None if unacked else False


class DeliveryCheck(LingeringClose):
    """Close a connection whose peer half-closed, once it has acknowledged what we
    wrote (``peer_reset`` False) or reset (``peer_reset`` True), or after about
    ``LINGER_TIMEOUT`` (then False: we cannot tell, and do not accuse the peer).

    Linux's ``TCP_INFO`` state and ``SIOCOUTQ`` give the answer; elsewhere, and over
    TLS (no half-close) or a UNIX socket, the connection closes at once.
    """

    __slots__ = ("_loop", "_poll", "_step", "peer_reset")

    def __init__(
        self,
        transport: asyncio.Transport,
        loop: asyncio.AbstractEventLoop,
        poll: tuple[float, ...] = DELIVERY_POLL,
    ) -> None:
        self.transport = transport
        self._poll = poll  # the delays between checks (seconds)
        self._dropped = 0
        self._timer = None
        self._loop = loop
        self._step = 0
        self.peer_reset = False
        if transport.get_extra_info("sslcontext") is not None:
            self.close()
            return
        self._check()

    def _check(self) -> None:
        self._timer = None
        transport = self.transport
        if transport is None:
            return
        answer = _peer_reset(transport)
        if answer is None and self._step < len(self._poll):
            self._timer = self._loop.call_later(self._poll[self._step], self._check)
            self._step += 1
            return
        self.peer_reset = bool(answer)
        self.close()
