"""One HTTP request/response exchange as the ASGI app sees it: scope, receive, send.

The cycle owns the exchange: the request body on its way to the app, the response on
its way out, and every way an app can fail. It knows nothing about sockets or parsers;
it talks to the connection through ``CycleOwner``, so any connection protocol can drive
it (HTTP/1.1 today, HTTP/2 next, DESIGN.md).

States. The response goes ``NOT_STARTED → STARTED → COMPLETE`` and only forward; the
state changes after the step it records has succeeded, so an error path can trust it.
Three facts about the peer sit beside it: ``body_complete`` (the whole request body
has arrived), ``eof`` (the client will send nothing more: it half-closed) and
``peer_gone`` (the connection is lost). ``disconnect_delivered`` records that the app
was given ``http.disconnect``; from then on ``send()`` raises ``ClientDisconnected``
(asgiref www.rst, spec 2.4).

Half-close (a deliberate choice, as nginx and uvicorn make it): end-of-file from the
client after a complete request means "no more input". A response the app produces
without waiting for more input is still written, and the connection closes after it;
an app waiting in ``receive()`` is told ``http.disconnect`` at once. Its access-log
line waits for the connection's end: a client that had closed fully resets instead of
acknowledging, and the line says 499 (``connection_lost(failed=True)``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from enum import IntEnum
from typing import Any, BinaryIO, Protocol

from asgi_magic import http11
from asgi_magic.server.access_log import STATUS_CLIENT_CLOSED, AccessLog
from asgi_magic.server.exceptions import ClientDisconnected, app_error
from asgi_magic.server.flow_control import FlowControl, Waiters

__all__ = ["ClientDisconnected", "CycleOwner", "HTTPCycle", "ResponseFramer", "ResponseState"]

_ProtocolError = http11.ProtocolError

error_logger = logging.getLogger("asgi_magic.error")

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

# Module globals, not direct calls, so tests can replace them in both builds (mypyc
# reads a module global from the module's namespace; a call of `time.perf_counter` or
# the builtin `open` it binds at import).
_perf_counter = time.perf_counter
_open = open


class ResponseState(IntEnum):
    NOT_STARTED = 0
    STARTED = 1
    COMPLETE = 2


_NOT_STARTED = ResponseState.NOT_STARTED
_STARTED = ResponseState.STARTED
_COMPLETE = ResponseState.COMPLETE


class ResponseFramer(Protocol):
    """Turns one response into the connection's bytes (``http11.ResponseWriter`` for
    HTTP/1.1). Every method raises ``http11.ProtocolError`` for what the app may not
    send; the cycle turns that into the app's ``RuntimeError``."""

    keep_alive: bool
    """After ``start()``: whether the connection may persist after this response."""

    @property
    def finished(self) -> bool:
        """The last body (and, if announced, the last trailers) has been framed."""

    def start(
        self, status: int, headers: Iterable[tuple[bytes, bytes]], trailers: bool = False
    ) -> bytes: ...

    def body(self, data: bytes, more_body: bool = False) -> bytes: ...

    def trailers(
        self, fields: Iterable[tuple[bytes, bytes]], more_trailers: bool = False
    ) -> bytes: ...

    @property
    def bodiless(self) -> bool: ...

    @property
    def out_of_band_ok(self) -> bool: ...

    def out_of_band(self, count: int, more_body: bool = False) -> None: ...


class CycleOwner(Protocol):
    """What a cycle needs from the connection that drives it."""

    flow: FlowControl
    """Write back-pressure: ``send()`` awaits ``flow.drain()`` while writing is paused."""

    def write(self, data: bytes) -> None: ...

    def interim(self, message: bytes) -> None:
        """Send a 1xx interim response now, ahead of the final head. ``message`` is the
        checked HTTP/1.1 form (``http11.informational_response``); HTTP/2 sends it as a
        HEADERS frame (RFC 9113 §8.1)."""

    def drain(self) -> Awaitable[None] | None:
        """None when writing may go on now, else a future to await."""

    def resume_reading(self) -> None: ...

    def pause_reading(self) -> None: ...

    def response_writer(self, cycle: HTTPCycle) -> ResponseFramer:
        """A new framer for ``cycle``'s response. The connection decides there whether
        it may persist after the response (so the head can say ``close``)."""

    def response_complete(self, cycle: HTTPCycle) -> None: ...

    def error_response(self, status: int, reason: str) -> bytes:
        """A whole response that closes the connection, with the server's headers."""

    def abort(self) -> None: ...

    def can_sendfile(self) -> bool:
        """Whether ``sendfile`` is available (no TLS, a real socket)."""

    def sendfile(self, file: BinaryIO, offset: int, count: int) -> Awaitable[int]:
        """Send ``count`` bytes of ``file`` from ``offset`` after what was written.

        Resolves to the bytes sent (fewer only if the file was shorter); raises
        ``ClientDisconnected`` if the client goes."""


SendHandler = Callable[["HTTPCycle", Any], "Awaitable[None] | None"]


def _open_for_pathsend(path: str) -> tuple[BinaryIO, int]:
    # Runs in a worker thread: open() and fstat() may block (a FIFO, a slow disk).
    file = _open(path, "rb")  # closed by the caller
    try:
        return file, os.fstat(file.fileno()).st_size
    except BaseException:
        file.close()
        raise


class HTTPCycle:
    """Runs the app for one request; buffers its body; frames its response."""

    __slots__ = (
        "_access",
        "_body_returned",
        "_buffered",
        "_chunks",
        "_date_header",
        "_defaults",
        "_flow",
        "_head",
        "_loop",
        "_response_headers",
        "_start_time",
        "_waiters",
        "body_complete",
        "bytes_sent",
        "disconnect_delivered",
        "draining",
        "eof",
        "expect_100",
        "owner",
        "peer_gone",
        "received",
        "request",
        "response",
        "scope",
        "status",
        "task",
        "writer",
    )

    def __init__(
        self,
        scope: Any,
        request: http11.Request,
        owner: CycleOwner,
        access_log: AccessLog,
    ) -> None:
        self.scope = scope
        self.request = request
        self.owner = owner
        self._flow = owner.flow
        self.writer: ResponseFramer | None = None
        self.status = 0
        self.task: asyncio.Task[None] | None = None
        self.response = _NOT_STARTED
        self.peer_gone = False
        self.eof = False
        self.disconnect_delivered = False
        self.draining = False
        """The server is shutting down: an app waiting in receive() once its body is
        read is told ``http.disconnect`` (``drain_notice``)."""
        # No framing means no body (RFC 9112 §6.3 item 7 for requests).
        self.body_complete = request.content_length is None and not request.chunked
        self.received = 0
        self.bytes_sent = 0
        self._body_returned = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        # RFC 9110 §10.1.1: a server that receives 100-continue MAY skip the 100 when it
        # answers without reading the body; we send it only when the app asks for the
        # body, so an app that rejects the upload never invites it.
        self.expect_100 = request.expect_continue and not self.body_complete
        """The client waits for a 100 (Continue) we have not sent."""
        self._waiters: Waiters | None = None  # made by the first wait: most never wait
        self._head: bytes | None = None
        self._response_headers: Any = ()
        self._access = access_log
        self._start_time = _perf_counter() if access_log.enabled else 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- driven by the connection ------------------------------------------------

    def body_data(self, data: bytes) -> None:
        self.received += len(data)
        if self.response is _COMPLETE:
            return  # the app is done with this request: the rest of the body is dropped
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > BODY_HIGH_WATER:
            self.owner.pause_reading()
        self._wake()

    def body_end(self) -> None:
        self.body_complete = True
        self._wake()

    def eof_received(self) -> None:
        """The client half-closed: it will send nothing more (see the module doc)."""
        self.eof = True
        self._wake()

    def connection_lost(self, failed: bool = False) -> None:
        """The connection is gone; ``failed``: a write failed or the peer reset it."""
        self.peer_gone = True
        if self.response is not _COMPLETE:
            self._log(closed_early=True)  # written now, even if the app never returns
        elif failed:
            # A response to a peer that had half-closed and turned out to be gone: it
            # never got it (nginx's 499, "client closed request").
            self._log(closed_early=True, status=STATUS_CLIENT_CLOSED)
        else:
            self._log(closed_early=False)  # the line that waited for delivery, if any
        self._wake()

    def refused(self, status: int) -> None:
        """The server ends this request with an error answer of its own (``status``: a
        408 for a slow body, a 413, a 400 for a body that broke the framing rules). The
        app sees a disconnect, as if the client had gone; the access log says
        ``status``, which the client got, not 499 (the client did not close).
        Only before a response started; after, the exchange is ``connection_lost``."""
        self.peer_gone = True
        self._log(closed_early=False, status=status)
        self._wake()

    def delivered(self) -> None:
        """The connection goes on to the next request: a line still owed is written."""
        self._log(closed_early=False)

    def drain_notice(self) -> None:
        """Graceful shutdown has begun. An app that has read its whole body and waits in
        ``receive()`` (SSE, long-poll) gets ``http.disconnect`` now instead of being
        cancelled at the deadline; its ``send()`` keeps working (the client is still
        there), and a response it leaves unfinished is ended cleanly
        (``_end_after_drain``)."""
        self.draining = True
        self._wake()

    @property
    def awaiting_body(self) -> bool:
        """The app waits in ``receive()`` for request body bytes that have not come."""
        return not self.body_complete and not self._chunks and bool(self._waiters)

    def _wake(self) -> None:
        if self._waiters is not None:
            self._waiters.wake()

    async def _wait(self) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = Waiters()
        await waiters.wait(loop)

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
            if self.response is not _COMPLETE:
                self._log(closed_early=True)
                self.owner.abort()
            raise
        except BaseException as exc:
            if isinstance(exc, ClientDisconnected) and (
                self.peer_gone or self.disconnect_delivered
            ):
                error_logger.debug("client disconnected while the app was sending")
            else:
                error_logger.error("Exception in ASGI application", exc_info=exc)
            self._end_after_failure()
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt / SystemExit keep their meaning
        else:
            if result is not None:
                error_logger.error("ASGI callable returned a non-None value: %r", result)
            if self.response is not _COMPLETE and self.draining and not self.peer_gone:
                self._end_after_drain()
            elif self.response is not _COMPLETE:
                if self.peer_gone or self.disconnect_delivered:
                    # The app stopped because it was told the client left: normal.
                    error_logger.debug("ASGI callable stopped after the client disconnected")
                else:
                    error_logger.error(
                        "ASGI callable returned without %s the response",
                        "starting" if self.response is _NOT_STARTED else "completing",
                    )
                self._end_after_failure()
        finally:
            tasks.discard(self.task)

    def _end_after_failure(self) -> None:
        response = self.response
        if response is _COMPLETE:
            return
        if response is _NOT_STARTED and not self.peer_gone:
            self._send_500()
            return
        # The head is out (or nobody is listening): the only honest signal left is
        # closing the connection; the log says the response was cut short.
        self._log(closed_early=True)
        self.owner.abort()

    def _end_after_drain(self) -> None:
        """The app returned during a graceful shutdown without finishing its response:
        end it as cleanly as its framing allows, so the client reconnects elsewhere."""
        if self.response is _NOT_STARTED:
            # RFC 9110 §15.6.4: 503, the server cannot serve this now; it closes.
            self.send_error(503, "Service Unavailable")
            return
        writer = self.writer
        assert writer is not None
        try:
            # A chunked stream (SSE) ends with its last chunk, RFC 9112 §7.1; a body
            # short of its Content-Length cannot end well and the framer refuses.
            tail = writer.body(b"", False)
            if not writer.finished:
                tail += writer.trailers(())  # announced trailers: end without any
        except _ProtocolError:
            self._log(closed_early=True)
            self.owner.abort()
            return
        head = self._head
        if head is not None:
            self._head = None
            tail = head + tail
        self.owner.write(tail)
        self._finish()

    def _send_500(self) -> None:
        self.send_error(500, "Internal Server Error")

    def send_error(self, status: int, reason: str) -> None:
        """Answer for the app, before its response started: a whole response that
        closes the connection (500 for a failed app, 503 from ``--timeout-app`` or a
        shutdown). The exchange is then complete; the app's later sends raise."""
        self.status = status
        self.writer = None  # no writer: the connection closes after this response
        self._head = None
        self.owner.write(self.owner.error_response(status, reason))
        self._finish()

    # --- receive -----------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if self.expect_100:
            self.expect_100 = False
            if self.response is _NOT_STARTED and not self.peer_gone:
                self.owner.write(http11.informational_response(100))
        while True:
            if self.peer_gone or self.response is _COMPLETE:
                break
            if not self._body_returned:
                if self._chunks or self.body_complete:
                    return self._body_message()
                if self.eof:
                    break  # the rest of the body can never arrive
                self.owner.resume_reading()
            elif self.eof or self.draining:
                break
            await self._wait()
        # asgiref www.rst: http.disconnect once the client has gone or the response
        # has been sent; after it, send() raises.
        self.disconnect_delivered = True
        return {"type": "http.disconnect"}

    def _body_message(self) -> dict[str, Any]:
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
            raise app_error(f"Unexpected ASGI message: {message!r:.100}") from None
        if self.peer_gone or (self.disconnect_delivered and not self.draining):
            raise ClientDisconnected("the client has disconnected")
        waiter = handler(self, message)
        if waiter is not None:
            await waiter
        flow = self._flow
        if flow.write_paused:
            drain = flow.drain()
            if drain is not None:
                await drain

    def _send_start(self, message: Any) -> None:
        if self.response is not _NOT_STARTED:
            raise RuntimeError("Unexpected ASGI message 'http.response.start' sent twice")
        try:
            status = message["status"]
        except KeyError:
            raise app_error("'http.response.start' needs a 'status'") from None
        headers = message.get("headers", ())
        writer = self.owner.response_writer(self)
        try:
            # The writer checks the status (RFC 9110 §15) and every header field.
            if message.get("trailers"):
                # asgiref extensions.rst, HTTP Trailers: the last body is followed by
                # http.response.trailers; over HTTP/1.1 sent only if the request's TE
                # says trailers, over HTTP/2 always (H2Stream._set_trailers).
                self._head = writer.start(status, headers, True)
            else:
                self._head = writer.start(status, headers)
        except _ProtocolError as exc:
            raise app_error("invalid 'http.response.start'", exc) from None
        if self.expect_100:
            # RFC 9110 §10.1.1: the app answered without reading the body the client
            # is waiting to send; we never invited it, so nothing more is read.
            self.expect_100 = False
        self.writer = writer
        self.status = status
        self._response_headers = headers
        self.response = _STARTED

    def _send_body(self, message: Any) -> None:
        writer = self.writer
        if self.response is not _STARTED or writer is None:
            raise RuntimeError(
                "Unexpected ASGI message 'http.response.body' "
                + ("after completion" if self.response is _COMPLETE else "before start")
            )
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        try:
            data = writer.body(body, more_body)
        except _ProtocolError as exc:
            raise app_error("invalid 'http.response.body'", exc) from None
        head = self._head
        if head is not None:
            self._head = None
            if len(data) < _JOIN_LIMIT:
                data = head + data
            else:
                self.owner.write(head)
        if data:
            self.owner.write(data)
        self.bytes_sent += len(body)
        if not more_body and writer.finished:  # not finished: trailers are owed
            self._finish()

    def _send_trailers(self, message: Any) -> None:
        writer = self.writer
        if self.response is not _STARTED or writer is None:
            raise RuntimeError(
                "Unexpected ASGI message 'http.response.trailers' "
                + ("after completion" if self.response is _COMPLETE else "before start")
            )
        more = message.get("more_trailers", False)
        try:
            # Names and values checked as header fields; RFC 9110 §6.5.1's forbidden
            # fields (framing, routing, auth …) refused; the last-chunk and the final
            # CRLF written as RFC 9112 §7.1.2 says.
            data = writer.trailers(message.get("headers", ()), more)
        except _ProtocolError as exc:
            raise app_error("invalid 'http.response.trailers'", exc) from None
        head = self._head
        if head is not None:  # trailers right after a start with no body message
            self._head = None
            data = head + data
        if data:
            self.owner.write(data)
        if writer.finished:
            self._finish()

    def _send_early_hint(self, message: Any) -> None:
        # asgiref extensions.rst, Early Hints: a 103 with the links as Link fields
        # (RFC 8297), before the final response; HTTP/1.0 clients get nothing (RFC 9110
        # §15.2: no 1xx to HTTP/1.0); HTTP/2 gets an interim HEADERS (RFC 9113 §8.1). Once the final head is on the wire a 103 can no
        # longer precede it, so it is dropped (the extension lets a server ignore it).
        links = message.get("links", ())
        if isinstance(links, (bytes, str)):
            raise RuntimeError("'http.response.early_hint' links must be an iterable of bytes")
        fields = []
        for link in links:
            if not isinstance(link, bytes):
                raise RuntimeError("'http.response.early_hint' links must be bytes")
            fields.append((b"link", link))
        if self.response is _COMPLETE or (self.response is _STARTED and self._head is None):
            return
        if not fields:
            return
        try:
            data = http11.informational_response(103, fields)
        except _ProtocolError as exc:
            raise app_error("invalid 'http.response.early_hint'", exc) from None
        if self.request.http_version != "1.0":
            # Our head is still unwritten (buffered until the first body): the 103
            # goes out first, as RFC 9110 §15.2 requires.
            self.owner.interim(data)

    def _send_pathsend(self, message: Any) -> Awaitable[None]:
        if self.response is not _STARTED or self.writer is None:
            raise RuntimeError(
                "Unexpected ASGI message 'http.response.pathsend' "
                + ("after completion" if self.response is _COMPLETE else "before start")
            )
        path = message.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise RuntimeError("http.response.pathsend needs an absolute path")
        return self._pathsend(path)

    async def _pathsend(self, path: str) -> None:
        writer = self.writer
        assert writer is not None
        owner = self.owner
        loop = asyncio.get_running_loop()
        # open() and fstat() run in a thread: a FIFO or a slow disk must not stall
        # every other connection on this loop.
        file, size = await loop.run_in_executor(None, _open_for_pathsend, path)
        try:
            if self.peer_gone:
                raise ClientDisconnected("the client has disconnected")
            head = self._head
            if head is not None:
                self._head = None
                owner.write(head)
            if writer.bodiless:
                # HEAD, 204, 304: the content is not sent, so it is not read either.
                writer.body(b"", False)
                if writer.finished:  # else the announced trailers are owed
                    self._finish()
                return
            if size >= SENDFILE_MIN and writer.out_of_band_ok and owner.can_sendfile():
                # Zero copy: the kernel moves the file to the socket. The writer counts
                # the bytes first, so a file longer than the declared Content-Length
                # sends nothing past the head (an error, the connection closes).
                try:
                    writer.out_of_band(size)
                except _ProtocolError as exc:
                    raise app_error("invalid 'http.response.pathsend'", exc) from None
                try:
                    sent = await owner.sendfile(file, 0, size)
                except ClientDisconnected:
                    self.peer_gone = True  # seen here before connection_lost runs
                    raise
                self.bytes_sent += sent
                if sent != size:
                    # The file shrank under us: the response is short of its framing
                    # and the connection cannot be reused.
                    writer.keep_alive = False
                    raise RuntimeError("file changed size during http.response.pathsend")
                if writer.finished:  # else the announced trailers are owed
                    self._finish()
                return
            while True:
                chunk = await loop.run_in_executor(None, file.read, PATHSEND_CHUNK)
                if not chunk:
                    break
                try:
                    data = writer.body(chunk, True)
                except _ProtocolError as exc:
                    raise app_error("invalid 'http.response.pathsend'", exc) from None
                if data:
                    owner.write(data)
                self.bytes_sent += len(chunk)
                if self.peer_gone:
                    raise ClientDisconnected("the client has disconnected")
                drain = owner.drain()
                if drain is not None:
                    await drain
            try:
                tail = writer.body(b"", False)
            except _ProtocolError as exc:
                raise app_error("invalid 'http.response.pathsend'", exc) from None
            if tail:
                owner.write(tail)
        finally:
            file.close()
        if writer.finished:  # else the announced trailers are owed
            self._finish()

    def _finish(self) -> None:
        self.response = _COMPLETE
        if self._start_time and not self.eof:
            # After a half-close the line waits: a peer that closed fully never reads
            # this, and only the connection's end can tell (``connection_lost``).
            self._log(closed_early=False)
        self.owner.response_complete(self)
        self._wake()

    def _log(self, closed_early: bool, status: int | None = None) -> None:
        """The exchange's one access-log line (499 when no response started)."""
        start = self._start_time
        if not start:
            return  # the log is off, or the line was written
        self._start_time = 0.0
        if status is None:
            status = self.status if self.response is not _NOT_STARTED else STATUS_CLIENT_CLOSED
        self._access.log(
            self.scope,
            status,
            self._response_headers,
            self.bytes_sent,
            _perf_counter() - start,
            closed_early=closed_early,
        )


_SEND_HANDLERS: dict[str, SendHandler] = {
    "http.response.start": HTTPCycle._send_start,
    "http.response.body": HTTPCycle._send_body,
    "http.response.pathsend": HTTPCycle._send_pathsend,
    "http.response.trailers": HTTPCycle._send_trailers,
    "http.response.early_hint": HTTPCycle._send_early_hint,
}
