"""Flow control for one connection, both directions, shared by HTTP and WebSocket.

Writing: the transport calls ``pause_writing``/``resume_writing`` around its high and
low water marks; whoever must not outrun the peer awaits ``drain()``. Every waiter is
woken on resume and on ``connection_lost``, so no task waits on a dead connection.

Reading has two independent reasons to pause, and reading resumes only when neither
holds:

* the consumer is full (``pause_reading(CONSUMER)``): the app does not call
  ``receive()`` fast enough, a pipelined request waits for the response before it;
* the peer is not reading what we write (set by ``pause_writing``): whatever the peer
  sends may make us write (a response, a pong, a close reply), so as long as it does
  not read, we do not read either. This is the rule that bounds a client which
  pipelines requests or floods pings but never reads (asyncio's own
  ``StreamReaderProtocol`` makes the same choice, cpython ``Lib/asyncio/streams.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CONSUMER", "FlowControl", "Waiters"]

CONSUMER = 1
"""Reason to pause reading: the consumer (app, queue, next cycle) is not ready."""
_PEER_NOT_READING = 2


class Waiters:
    """Futures of everyone waiting for one thing; ``wake()`` resolves them all.

    Never a single future slot: an ASGI app may await ``receive()`` from two tasks at
    once (a body reader and a disconnect watcher), and both must see what changed."""

    __slots__ = ("futures",)

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[None]] = []
        """Who waits now; hot paths test this list before calling ``wake()``."""

    def new(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        future: asyncio.Future[None] = loop.create_future()
        self.futures.append(future)
        return future

    def add(self, future: asyncio.Future[None]) -> None:
        self.futures.append(future)

    async def wait(self, loop: asyncio.AbstractEventLoop) -> None:
        future = self.new(loop)
        try:
            await future
        finally:
            if not future.done():  # cancelled: leave nothing behind
                future.cancel()

    def wake(self) -> None:
        futures = self.futures
        if futures:
            self.futures = []
            for future in futures:
                if not future.done():
                    future.set_result(None)


class FlowControl:
    """Read pauses (a bit set of reasons) and write drain waiters for one transport."""

    __slots__ = ("_loop", "_reasons", "_waiters", "read_paused", "transport", "write_paused")

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._reasons = 0
        self._waiters = Waiters()
        self.write_paused = False
        """The transport's write buffer is above its high-water mark."""
        self.read_paused = False
        """Some reason to pause reading holds (the transport is not being read)."""

    def pause_reading(self, reason: int = CONSUMER) -> None:
        reasons = self._reasons
        self._reasons = reasons | reason
        if not reasons:
            self.read_paused = True
            if self.transport is not None:
                self.transport.pause_reading()

    def resume_reading(self, reason: int = CONSUMER) -> None:
        reasons = self._reasons
        if reasons & reason:
            reasons = self._reasons = reasons & ~reason
            if not reasons:
                self.read_paused = False
                if self.transport is not None:
                    self.transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.pause_reading(_PEER_NOT_READING)

    def resume_writing(self) -> None:
        self.write_paused = False
        self.resume_reading(_PEER_NOT_READING)
        self._waiters.wake()

    def drain(self) -> asyncio.Future[None] | None:
        """A future that resolves when writing may go on, or None when it may now."""
        if not self.write_paused or self.transport is None:
            return None
        return self._waiters.new(self._loop)

    def add_waiter(self, waiter: asyncio.Future[None]) -> None:
        """Wake ``waiter`` with the drain waiters (sendfile waits for writability)."""
        self._waiters.add(waiter)

    def connection_lost(self) -> None:
        self.transport = None
        self.write_paused = False
        self._waiters.wake()
