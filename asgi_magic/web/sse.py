"""Server-Sent Events (WHATWG HTML §9.2, ``text/event-stream``).

``EventSourceResponse`` streams events from an async or sync iterable, sends a comment
line every ``ping_interval`` seconds so proxies and browsers keep the connection open,
and stops as soon as the iterable ends or the client goes away (an
``http.disconnect`` is watched for in a parallel task, so a generator blocked waiting
for the next event is cancelled at once).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from ._concurrency import iterate_in_threadpool
from ._types import Receive, Scope, Send
from .background import BackgroundTask
from .responses import Response

__all__ = ["EventSourceResponse", "ServerSentEvent"]

logger = logging.getLogger("asgi_magic.web.sse")

# The event-stream grammar ends a field at CR, LF or CRLF; data may span lines (each
# becomes its own "data:" line), but id and event are single-line fields.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORBIDDEN_ID = re.compile(r"[\r\n\x00]")
_FORBIDDEN_EVENT = re.compile(r"[\r\n]")


class ServerSentEvent:
    """One event: ``data`` (``str``, or anything JSON-serialisable), ``event``, ``id``,
    ``retry`` (milliseconds) and an optional ``comment``.

    Raises ``ValueError`` for an ``id`` containing CR, LF or NUL (the browser would drop
    it, or it would inject fields), an ``event`` with CR/LF, or a negative ``retry``.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        if id is not None and _FORBIDDEN_ID.search(id):
            raise ValueError("SSE id must not contain CR, LF or NUL")
        if event is not None and _FORBIDDEN_EVENT.search(event):
            raise ValueError("SSE event name must not contain CR or LF")
        if retry is not None and (
            isinstance(retry, bool) or not isinstance(retry, int) or retry < 0
        ):
            raise ValueError("SSE retry must be a non-negative integer (milliseconds)")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(": " + line for line in _LINE_BREAK.split(self.comment))
        if self.id is not None:
            lines.append("id: " + self.id)
        if self.event is not None:
            lines.append("event: " + self.event)
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            data = (
                self.data
                if isinstance(self.data, str)
                else json.dumps(self.data, separators=(",", ":"))
            )
            lines.extend("data: " + line for line in _LINE_BREAK.split(data))
        # A blank line dispatches the event.
        return ("\n".join(lines) + "\n\n").encode("utf-8")

    def __repr__(self) -> str:
        return f"ServerSentEvent(data={self.data!r}, event={self.event!r}, id={self.id!r})"


EventItem = ServerSentEvent | Mapping[str, Any] | str | bytes


def _encode(item: EventItem) -> bytes:
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, str):
        return ServerSentEvent(item).encode()
    if isinstance(item, bytes):
        # Already-encoded event-stream text, sent as is.
        return item
    if isinstance(item, Mapping):
        return ServerSentEvent(**item).encode()
    raise TypeError(f"cannot send {type(item).__name__} as a server-sent event")


_PING = b": ping\n\n"


class EventSourceResponse(Response):
    """``return EventSourceResponse(generator())`` from a route.

    Items may be ``ServerSentEvent``, a ``dict`` of its arguments, a ``str`` (sent as
    ``data``) or pre-encoded ``bytes``. ``ping_interval=None`` disables the keep-alive
    comments. Sync iterables run in the thread pool.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterable[EventItem] | Iterable[EventItem],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        ping_interval: float | None = 15,
    ) -> None:
        if ping_interval is not None and ping_interval <= 0:
            raise ValueError("ping_interval must be a positive number of seconds or None")
        self.status_code = status_code
        if media_type is not None or headers is not None:
            self._declare(media_type, headers)
            # WHATWG HTML §9.2.5: event streams are always decoded as UTF-8, and the
            # events are encoded as UTF-8 here; any other label would be a lie.
            if codecs.lookup(self.charset).name != "utf-8":
                raise ValueError(f"text/event-stream is always UTF-8, not {self.charset}")
        self.background = background
        self.content = content
        self.ping_interval = ping_interval
        # No body attribute yet: init_headers then adds no Content-Length (the stream
        # ends when the connection's chunked body ends).
        self.init_headers(headers)
        names = {key for key, _ in self.raw_headers}
        if b"cache-control" not in names:
            self.raw_headers.append((b"cache-control", b"no-cache"))
        if b"x-accel-buffering" not in names:
            # nginx buffers proxied responses by default, which would hold events back.
            self.raw_headers.append((b"x-accel-buffering", b"no"))
        self.body = b""

    def _iterate(self) -> AsyncIterator[EventItem]:
        if isinstance(self.content, AsyncIterable):
            return self.content.__aiter__()
        return iterate_in_threadpool(self.content)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        lock = asyncio.Lock()  # events and pings must not interleave inside send()
        completed = False

        async def stream() -> None:
            nonlocal completed
            iterator = self._iterate()
            try:
                async for item in iterator:
                    data = _encode(item)
                    async with lock:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
            finally:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            completed = True

        async def ping(interval: float) -> None:
            while True:
                await asyncio.sleep(interval)
                async with lock:
                    await send({"type": "http.response.body", "body": _PING, "more_body": True})

        async def watch_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return

        stream_task = asyncio.ensure_future(stream())
        tasks = [stream_task, asyncio.ensure_future(watch_disconnect())]
        if self.ping_interval is not None:
            tasks.append(asyncio.ensure_future(ping(self.ping_interval)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        if stream_task in done and isinstance(results[0], Exception):
            raise results[0]  # the app's iterator failed: let the server report it
        for result in results[1:]:
            if isinstance(result, Exception):
                # A ping written while the client was leaving: not the app's fault.
                logger.debug("SSE stream stopped: %r", result)
        if completed:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.background is not None:
            await self.background()
