"""One HTTP request/response exchange as the ASGI app sees it: scope, receive, send.

The cycle knows nothing about sockets or parsers. It talks to its connection through
the small ``CycleOwner`` interface, so any connection protocol (HTTP/1.1 today,
perhaps HTTP/2 later) can drive the same cycle (DESIGN.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO, Protocol

from asgi_magic import http11

__all__ = ["ClientDisconnected", "CycleOwner", "HTTPCycle"]

_ResponseWriter = http11.ResponseWriter

error_logger = logging.getLogger("asgi_magic.error")
access_logger = logging.getLogger("asgi_magic.access")

# Buffered request body above which the connection stops reading until the app
# calls receive() (flow control, DESIGN.md step 3).
BODY_HIGH_WATER = 64 * 1024
# Chunk size for http.response.pathsend when the file is read and written in pieces.
PATHSEND_CHUNK = 256 * 1024
# Files smaller than this are read and written: sendfile's setup (waiting for the
# write buffer to drain) costs more than copying a few pages.
SENDFILE_MIN = 64 * 1024
# Head and body are joined into one write below this size (one syscall, one packet);
# above it the join would copy a large body just to save a write.
_JOIN_LIMIT = 64 * 1024


class ClientDisconnected(OSError):
    """Raised by ``send()`` after the client has gone (asgiref www.rst, spec 2.4)."""


class CycleOwner(Protocol):
    """What a cycle needs from the connection that drives it."""

    write_paused: bool

    def write(self, data: bytes) -> None: ...

    def drain(self) -> Awaitable[None]: ...

    def resume_reading(self) -> None: ...

    def pause_reading(self) -> None: ...

    def response_complete(self, cycle: HTTPCycle) -> None: ...

    def abort(self) -> None: ...

    def can_sendfile(self) -> bool:
        """Whether ``sendfile`` is available (no TLS, a real socket)."""
        ...

    def sendfile(self, file: BinaryIO, offset: int, count: int) -> Awaitable[int]:
        """Send ``count`` bytes of ``file`` from ``offset`` after what was written.

        Resolves to the bytes sent (fewer only if the file was shorter); raises
        ``ClientDisconnected`` if the client goes."""
        ...


SendHandler = Callable[["HTTPCycle", Any], "Awaitable[None] | None"]


class HTTPCycle:
    """Runs the app for one request; buffers its body; frames its response."""

    __slots__ = (
        "_body_returned",
        "_buffered",
        "_chunks",
        "_date_header",
        "_default_headers",
        "_expect_100",
        "_head",
        "_loop",
        "_start_time",
        "_waiter",
        "body_complete",
        "disconnected",
        "keep_alive",
        "owner",
        "request",
        "response_complete",
        "response_started",
        "scope",
        "status",
        "task",
        "writer",
    )

    def __init__(
        self,
        scope: dict[str, Any],
        request: http11.Request,
        owner: CycleOwner,
        default_headers: http11.WriterDefaults,
        date_header: bool,
        access_log: bool,
    ) -> None:
        self.scope = scope
        self.request = request
        self.owner = owner
        self.keep_alive = request.keep_alive
        self.writer: http11.ResponseWriter | None = None
        self.status = 0
        self.task: asyncio.Task[None] | None = None
        self.response_started = False
        self.response_complete = False
        self.disconnected = False
        # No framing means no body (RFC 9112 §6.3 item 7 for requests).
        self.body_complete = request.content_length is None and not request.chunked
        self._body_returned = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        # RFC 9110 §10.1.1: a server that receives 100-continue MAY skip the 100 when it
        # answers without reading the body; we send it only when the app asks for the
        # body, so an app that rejects the upload never invites it.
        self._expect_100 = request.expect_continue and not self.body_complete
        self._waiter: asyncio.Future[None] | None = None
        self._head: bytes | None = None
        self._default_headers = default_headers
        self._date_header = date_header
        self._start_time = time.perf_counter() if access_log else 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- driven by the connection ------------------------------------------------

    def body_data(self, data: bytes) -> None:
        if self.response_complete:
            return  # the app is done with this request: discard what is left of the body
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > BODY_HIGH_WATER:
            self.owner.pause_reading()
        self._wake()

    def body_end(self) -> None:
        self.body_complete = True
        self._wake()

    def connection_lost(self) -> None:
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        waiter = self._waiter = self._loop.create_future()
        await waiter

    # --- running the app -----------------------------------------------------------

    async def run_asgi(
        self, app: Callable[..., Awaitable[Any]], tasks: set[asyncio.Task[None]]
    ) -> None:
        """Run the app and handle every way it can fail (one log line each).

        The task leaves ``tasks`` here rather than through a done-callback: that saves
        one event-loop callback per request.
        """
        try:
            result = await app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            # Forced shutdown: the connection is being torn down by the server.
            if not self.response_complete:
                self.owner.abort()
            raise
        except BaseException as exc:
            if isinstance(exc, ClientDisconnected) and self.disconnected:
                error_logger.debug("client disconnected while the app was sending")
            else:
                error_logger.error("Exception in ASGI application", exc_info=exc)
            if not self.response_started:
                self._send_500()
            elif not self.response_complete:
                # The head is out; the only honest signal left is closing the connection.
                self.owner.abort()
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt / SystemExit keep their meaning
        else:
            if result is not None:
                error_logger.error("ASGI callable returned a non-None value: %r", result)
            if not self.response_started:
                if not self.disconnected:
                    error_logger.error("ASGI callable returned without starting a response")
                self._send_500()
            elif not self.response_complete:
                if not self.disconnected:
                    error_logger.error("ASGI callable returned without completing the response")
                self.owner.abort()
        finally:
            tasks.discard(self.task)

    def _send_500(self) -> None:
        if self.disconnected or self.response_complete:
            return
        self.keep_alive = False
        self.status = 500
        self.response_started = True
        self.response_complete = True
        self.owner.write(
            http11.error_response(
                500,
                "Internal Server Error",
                defaults=self._default_headers,
                date_header=self._date_header,
            )
        )
        self.owner.response_complete(self)

    # --- receive -----------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if self._expect_100:
            self._expect_100 = False
            if not self.response_started and not self.disconnected:
                self.owner.write(http11.informational_response(100))
        if self._body_returned:
            # The whole body was delivered: the next message is the disconnect, sent when
            # the client goes or once the response is complete (asgiref www.rst).
            while not (self.disconnected or self.response_complete):
                await self._wait()
            return {"type": "http.disconnect"}
        while not (self._chunks or self.body_complete or self.disconnected):
            self.owner.resume_reading()
            await self._wait()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        chunks = self._chunks
        if not chunks:
            body = b""
        elif len(chunks) == 1:
            body = chunks[0]
            chunks.clear()
        else:
            body = b"".join(chunks)
            chunks.clear()
        if self._buffered > BODY_HIGH_WATER or not self.body_complete:
            self.owner.resume_reading()
        self._buffered = 0
        more_body = not self.body_complete
        if not more_body:
            self._body_returned = True
        return {"type": "http.request", "body": body, "more_body": more_body}

    # --- send: a table of message types, not a chain of ifs (DESIGN.md) ------------

    async def send(self, message: Any) -> None:
        try:
            handler = _SEND_HANDLERS[message["type"]]
        except (KeyError, TypeError):
            raise RuntimeError(f"Unexpected ASGI message: {message!r:.100}") from None
        if self.disconnected:
            raise ClientDisconnected("the client has disconnected")
        waiter = handler(self, message)
        if waiter is not None:
            await waiter
        if self.owner.write_paused and not self.disconnected:
            await self.owner.drain()

    def _send_start(self, message: Any) -> None:
        if self.response_started:
            raise RuntimeError("Unexpected ASGI message 'http.response.start' sent twice")
        status = message["status"]
        if type(status) is not int or status < 200:
            # 1xx are informational (RFC 9110 §15.2): a final response must follow, and
            # http.response.start is the final one. The writer checks the upper bound.
            raise RuntimeError(f"Invalid final HTTP status {status!r} in http.response.start")
        headers = message.get("headers", ())
        if self._expect_100:
            # RFC 9110 §10.1.1: the app answered without reading the body the client is
            # waiting to send; the connection cannot be reused (we never invited the body).
            self._expect_100 = False
            self.keep_alive = False
        request = self.request
        writer = _ResponseWriter(
            request.method,
            request.http_version,
            self.keep_alive,
            self._default_headers,
            self._date_header,
        )
        # Raises ProtocolError(500) for headers the app may not send; the app sees it.
        self._head = writer.start(status, headers)
        self.writer = writer
        self.status = status
        self.response_started = True

    def _send_body(self, message: Any) -> None:
        writer = self.writer
        if writer is None:
            raise RuntimeError("Unexpected ASGI message 'http.response.body' before start")
        if self.response_complete:
            raise RuntimeError("Unexpected ASGI message 'http.response.body' after completion")
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        data = writer.body(body, more_body)
        head = self._head
        if head is not None:
            self._head = None
            if len(data) < _JOIN_LIMIT:
                data = head + data
            else:
                self.owner.write(head)
        if data:
            self.owner.write(data)
        if not more_body:
            self._finish()

    def _send_pathsend(self, message: Any) -> Awaitable[None]:
        if self.writer is None:
            raise RuntimeError("Unexpected ASGI message 'http.response.pathsend' before start")
        if self.response_complete:
            raise RuntimeError("Unexpected ASGI message 'http.response.pathsend' after completion")
        path = message["path"]
        if not isinstance(path, str) or not os.path.isabs(path):
            raise RuntimeError("http.response.pathsend needs an absolute path")
        return self._pathsend(path)

    async def _pathsend(self, path: str) -> None:
        writer = self.writer
        assert writer is not None
        owner = self.owner
        with open(path, "rb") as file:
            head = self._head
            if head is not None:
                self._head = None
                owner.write(head)
            size = os.fstat(file.fileno()).st_size
            if writer.bodiless:
                # HEAD, 204, 304: the content is not sent, so it is not read either.
                writer.body(b"", False)
                self._finish()
                return
            if size >= SENDFILE_MIN and writer.out_of_band_ok and owner.can_sendfile():
                # Zero copy: the kernel moves the file to the socket. The writer counts
                # the bytes first, so a file longer than the declared Content-Length
                # sends nothing past the head (ProtocolError, connection closed).
                writer.out_of_band(size)
                try:
                    sent = await owner.sendfile(file, 0, size)
                except ClientDisconnected:
                    self.disconnected = True  # seen here before connection_lost runs
                    raise
                if sent != size:
                    # The file shrank under us: the response is short of its framing
                    # and the connection cannot be reused.
                    writer.keep_alive = False
                    raise RuntimeError("file changed size during http.response.pathsend")
                self._finish()
                return
            while True:
                chunk = file.read(PATHSEND_CHUNK)
                if not chunk:
                    break
                data = writer.body(chunk, True)
                if data:
                    owner.write(data)
                if self.disconnected:
                    raise ClientDisconnected("the client has disconnected")
                if owner.write_paused:
                    await owner.drain()
            tail = writer.body(b"", False)
            if tail:
                owner.write(tail)
        self._finish()

    def _finish(self) -> None:
        self.response_complete = True
        if self._start_time:
            self._log_access()
        self.owner.response_complete(self)
        self._wake()

    def _log_access(self) -> None:
        scope = self.scope
        client = scope["client"]
        client_str = f"{client[0]}:{client[1]}" if client else "-"
        path = scope["raw_path"].decode("ascii", "backslashreplace")
        if scope["query_string"]:
            path += "?" + scope["query_string"].decode("ascii", "backslashreplace")
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d %.1fms',
            client_str,
            scope["method"],
            path,
            scope["http_version"],
            self.status,
            (time.perf_counter() - self._start_time) * 1000.0,
        )


_SEND_HANDLERS: dict[str, SendHandler] = {
    "http.response.start": HTTPCycle._send_start,
    "http.response.body": HTTPCycle._send_body,
    "http.response.pathsend": HTTPCycle._send_pathsend,
}
