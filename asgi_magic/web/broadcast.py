"""Publish/subscribe for chat rooms, live dashboards and SSE fan-out.

    broadcast = Broadcast("memory://")              # one process
    broadcast = Broadcast("redis://127.0.0.1:6379/0")  # several workers or machines

    async with broadcast:                              # connect / disconnect
        async with broadcast.subscribe("room") as subscriber:
            await broadcast.publish("room", "hello")
            async for event in subscriber:
                print(event.channel, event.message)

Every subscriber has its own bounded queue (``max_queue_size``). A subscriber that
falls behind never slows the publisher or the other subscribers: when its queue is
full the *oldest* pending message is dropped and ``subscriber.dropped`` counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Broadcast", "Event", "Subscriber"]

logger = logging.getLogger("asgi_magic.web.broadcast")

_DEFAULT_QUEUE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Event:
    """One published message, as a subscriber receives it."""

    channel: str
    """The channel it was published on."""
    message: str
    """The message text, exactly as given to ``Broadcast.publish``."""


class Subscriber:
    """An async iterator of :class:`Event` for one ``subscribe()`` block."""

    def __init__(self, channel: str, max_queue_size: int) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(max_queue_size)
        self.dropped = 0

    def _put(self, event: Event | None) -> None:
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                # Drop-oldest: a slow reader loses stale messages, not fresh ones.
                with contextlib.suppress(asyncio.QueueEmpty):
                    self._queue.get_nowait()
                    self.dropped += 1

    async def get(self) -> Event:
        """The next event; raises ``StopAsyncIteration`` once the broadcast disconnects."""
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)  # keep reporting the end to later calls
            raise StopAsyncIteration
        return event

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class _MemoryBackend:
    async def connect(self, deliver: Any) -> None:
        self._deliver = deliver

    async def disconnect(self) -> None:
        pass

    async def subscribe(self, channel: str) -> None:
        pass

    async def unsubscribe(self, channel: str) -> None:
        pass

    async def wait_subscribed(self, channel: str) -> None:
        pass

    async def publish(self, channel: str, message: str) -> None:
        self._deliver(channel, message)


class _RedisBackend:
    """One pub/sub connection per Broadcast, subscribed to the channels in local use."""

    def __init__(self, url: str) -> None:
        import redis.asyncio  # optional dependency (`pip install asgi-magic[redis]`)

        self._redis = redis.asyncio.from_url(url, decode_responses=True)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmed: dict[str, asyncio.Event] = {}

    async def connect(self, deliver: Any) -> None:
        self._deliver = deliver
        await self._redis.ping()  # fail at startup, not at the first publish
        self._pubsub = self._redis.pubsub()

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._redis.aclose()

    async def subscribe(self, channel: str) -> None:
        confirmed = self._confirmed[channel] = asyncio.Event()
        await self._pubsub.subscribe(channel)
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        # Wait for Redis to confirm, so a publish made right after subscribe() returns
        # (by any worker) is guaranteed to reach this subscriber.
        await confirmed.wait()

    async def wait_subscribed(self, channel: str) -> None:
        confirmed = self._confirmed.get(channel)
        if confirmed is not None:
            await confirmed.wait()

    async def unsubscribe(self, channel: str) -> None:
        self._confirmed.pop(channel, None)
        await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: str) -> None:
        await self._redis.publish(channel, message)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # redis-py reconnects and re-subscribes on the next read.
                logger.warning("broadcast: redis pub/sub read failed: %r", exc)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            kind = message.get("type")
            if kind == "message":
                self._deliver(message["channel"], message["data"])
            elif kind == "subscribe":
                confirmed = self._confirmed.get(message["channel"])
                if confirmed is not None:
                    confirmed.set()


class Broadcast:
    """``Broadcast(url, max_queue_size=1024)``; ``url`` is ``memory://`` or ``redis://...``
    (``rediss://`` for TLS)."""

    def __init__(
        self, url: str = "memory://", *, max_queue_size: int = _DEFAULT_QUEUE_SIZE
    ) -> None:
        if max_queue_size < 1:
            raise ValueError("max_queue_size must be >= 1")
        scheme = urlsplit(url).scheme
        self._backend: _MemoryBackend | _RedisBackend
        if scheme == "memory":
            self._backend = _MemoryBackend()
        elif scheme in ("redis", "rediss", "unix"):
            self._backend = _RedisBackend(url)
        else:
            raise ValueError(f"unsupported broadcast URL {url!r}: use memory:// or redis://")
        self.url = url
        self.max_queue_size = max_queue_size
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._connected = False

    async def connect(self) -> None:
        """Connect the backend. With Redis, an unreachable server raises here (the
        client's connection error), at startup rather than at the first publish."""
        await self._backend.connect(self._deliver)
        self._connected = True

    async def disconnect(self) -> None:
        """Disconnect the backend and end every open ``async for`` over a subscriber."""
        self._connected = False
        await self._backend.disconnect()
        # End every open `async for` so no consumer waits forever.
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber._put(None)
        self._subscribers.clear()

    async def __aenter__(self) -> Broadcast:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    def _deliver(self, channel: str, message: str) -> None:
        subscribers = self._subscribers.get(channel)
        if subscribers:
            event = Event(channel, message)
            for subscriber in subscribers:
                subscriber._put(event)

    async def publish(self, channel: str, message: str) -> None:
        """Send ``message`` to every subscriber of ``channel`` (in every process, with
        Redis). ``RuntimeError`` when not connected, ``TypeError`` when ``message`` is
        not a ``str``. Delivery is at most once: see ``Subscriber`` for slow readers."""
        if not self._connected:
            raise RuntimeError("Broadcast is not connected: use `async with broadcast:`")
        if not isinstance(message, str):
            raise TypeError("broadcast messages are str (encode JSON yourself)")
        await self._backend.publish(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        """``async with broadcast.subscribe(channel) as subscriber:`` — a ``Subscriber``
        that receives every message published on ``channel`` from the moment the block
        is entered (with Redis, once the server has confirmed the subscription), until
        it is left. ``RuntimeError`` when not connected."""
        if not self._connected:
            raise RuntimeError("Broadcast is not connected: use `async with broadcast:`")
        subscriber = Subscriber(channel, self.max_queue_size)
        subscribers = self._subscribers.get(channel)
        first = not subscribers
        if subscribers is None:
            subscribers = self._subscribers[channel] = set()
        subscribers.add(subscriber)
        try:
            if first:
                await self._backend.subscribe(channel)
            else:
                await self._backend.wait_subscribed(channel)
            yield subscriber
        finally:
            current = self._subscribers.get(channel)
            if current is not None:
                current.discard(subscriber)
                if not current:
                    del self._subscribers[channel]
                    if self._connected:
                        await self._backend.unsubscribe(channel)
