"""The per-connection HTTP/1.1 protocol: bytes from the socket to cycles and back.

One ``HTTPProtocol`` per TCP connection. It feeds the sans-IO parser, builds the ASGI
scope once per request, runs one ``HTTPCycle`` at a time (pipelined requests wait in
the parser until the response before them has ended), and owns flow control in both
directions and the connection's timers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from typing import Any, BinaryIO

from asgi_magic import http11
from asgi_magic.config import Config
from asgi_magic.server._addresses import decode_path, get_local_addr, get_remote_addr, is_ssl
from asgi_magic.server.http_cycle import ClientDisconnected, HTTPCycle
from asgi_magic.server.proxy_headers import proxy_for_peer
from asgi_magic.server.state import ServerState

__all__ = ["HTTPProtocol", "limits_from_config"]

error_logger = logging.getLogger("asgi_magic.error")
access_logger = logging.getLogger("asgi_magic.access")

_NEED_DATA = http11.NEED_DATA
_PAUSED = http11.PAUSED
_Request = http11.Request
_Data = http11.Data
_EndOfMessage = http11.EndOfMessage
_ProtocolError = http11.ProtocolError

_NO_LOOP_SENDFILE = asyncio.AbstractEventLoop.sendfile
_os_sendfile = getattr(os, "sendfile", None)

# The usual methods as ready str objects: no decode per request.
_METHODS = {
    m: m.decode("ascii")
    for m in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE")
}

_ASGI_VERSION = "3.0"
_SPEC_VERSION = "2.4"


def limits_from_config(config: Config) -> http11.Limits:
    return http11.Limits(
        max_request_line=config.limit_request_line,
        max_head=config.limit_request_head,
        max_fields=config.limit_request_fields,
        max_body=config.limit_request_body,
    )


def _load_ws_protocol() -> type | None:
    # Imported lazily: the WebSocket stack is optional (--ws none) and written apart.
    try:
        from asgi_magic.server.ws_protocol import WebSocketProtocol
    except ImportError:
        return None
    return WebSocketProtocol


class HTTPProtocol(asyncio.Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app: Any,
        app_state: dict[str, Any],
        limits: http11.Limits | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config = config
        self.server_state = server_state
        self.app = app
        self.app_state = app_state
        self.loop = loop or asyncio.get_event_loop()
        self.limits = limits or limits_from_config(config)
        self.parser = http11.RequestParser(self.limits)
        self.transport: asyncio.Transport | None = None
        self.cycle: HTTPCycle | _PendingUpgrade | None = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.scheme = "http"
        self.root_path = config.root_path
        self._raw_root = config.root_path.encode("utf-8")
        # Validated and joined once, shared by every response of every connection.
        self.default_headers = http11.WriterDefaults.of(server_state.default_headers)
        self.date_header = config.date_header
        self.access_log = config.access_log and access_logger.isEnabledFor(logging.INFO)
        self.ws_enabled = config.ws != "none"
        self.limit_concurrency = config.limit_concurrency
        self.timeout_keep_alive = config.timeout_keep_alive
        self.timeout_request_head = config.timeout_request_head
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._read_paused = False
        self._closing = False
        self._shutting_down = False
        # Timer: one handle, armed while waiting for a request head (keep-alive idle
        # and slowloris defence), cancelled as soon as the head is complete.
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = False  # bytes of the next request head have arrived
        self._waiting = True  # between requests: a head is due
        self._waiting_since = 0.0
        self._wait_delay = min(self.timeout_keep_alive, self.timeout_request_head)

    # --- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        self.client = get_remote_addr(transport)
        self.server = get_local_addr(transport)
        self.scheme = "https" if is_ssl(transport) else "http"
        # Proxy headers: decided once per connection; None unless the peer is trusted.
        self.proxy = proxy_for_peer(self.config, self.client)
        if error_logger.isEnabledFor(5):
            error_logger.log(5, "%s - connection made", self._client_str())
        self._arm_wait_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.connections.discard(self)
        self._cancel_timer()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.connection_lost()
        elif cycle is not None:
            cycle.disconnected = True
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()
        self.transport = None

    def eof_received(self) -> bool | None:
        # A half-closed client may still read our response: keep the transport open
        # until the response is written (returning True), unless there is nothing in
        # flight, in which case close.
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return None
        if not cycle.body_complete:
            # The rest of the body can never arrive: the app sees a disconnect.
            cycle.connection_lost()
            return None
        cycle.keep_alive = False
        return True

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        cycle = self.cycle
        if cycle is None and not self._head_bytes:
            self._head_bytes = True
        try:
            self.parser.feed(data)
        except _ProtocolError as exc:
            self._protocol_error(exc)
            return
        if cycle is not None and cycle.body_complete:
            # A pipelined request arrived while a response is still being produced:
            # stop reading so buffered input stays bounded (one read's worth). Reading
            # resumes when the response has ended.
            self.pause_reading()
            return
        self._process()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters = self._drain_waiters
        if waiters:
            self._drain_waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    # --- events from the parser ------------------------------------------------------

    def _process(self) -> None:
        parser = self.parser
        while True:
            try:
                event = parser.next_event()
            except _ProtocolError as exc:
                self._protocol_error(exc)
                return
            kind = type(event)
            if kind is _Request:
                self._on_request(event)  # type: ignore[arg-type]
                if self._closing:
                    return
            elif kind is _Data:
                cycle = self.cycle
                if cycle is not None:
                    cycle.body_data(event.data)  # type: ignore[union-attr]
            elif kind is _EndOfMessage:
                cycle = self.cycle
                if cycle is None:
                    return
                if type(cycle) is _PendingUpgrade:
                    self._upgrade_websocket(cycle)
                    return
                cycle.body_end()
                if cycle.response_complete:
                    self._next_cycle()
                # Either way the parser now says PAUSED until start_next_cycle():
                # skip asking it.
                return
            else:
                # NEED_DATA or PAUSED: wait for bytes or for the response to end.
                return

    def _on_request(self, request: http11.Request) -> None:
        self._waiting = False
        self._head_bytes = False
        if (
            request.upgrade == b"websocket"
            and self.ws_enabled
            and request.method == b"GET"
            and request.content_length is None
            and not request.chunked
        ):
            ws_cls = _load_ws_protocol()
            if ws_cls is None:
                self.ws_enabled = False
            else:
                # Build no HTTP cycle: the upgrade happens at end of message.
                self.cycle = _PendingUpgrade(request, ws_cls)
                return
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) > limit or len(self.tasks) >= limit):
            # Overload: answer 503 at once and close; the client may retry elsewhere.
            error_logger.warning("Exceeded concurrency limit (%d): 503", limit)
            self._write_error(503, "Service Unavailable")
            return
        raw_path = request.path
        root = self.root_path
        # Fast path: without %-escapes the path is only decoded, never unquoted.
        path = decode_path(raw_path) if b"%" in raw_path else raw_path.decode("utf-8", "replace")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": _ASGI_VERSION, "spec_version": _SPEC_VERSION},
            "http_version": request.http_version,
            # RFC 9110 §9.1: methods are case-sensitive; sent as received (the parser
            # admits only tokens, so this is ASCII).
            "method": _METHODS.get(request.method) or request.method.decode("ascii"),
            "scheme": self.scheme,
            "path": root + path if root else path,
            "raw_path": self._raw_root + raw_path if root else raw_path,
            "query_string": request.query,
            "root_path": root,
            "headers": request.headers,
            "client": self.client,
            "server": self.server,
            "state": self.app_state.copy(),
            "extensions": {"http.response.pathsend": {}},
        }
        if self.proxy is not None:
            self.proxy.rewrite_scope(scope)
        cycle = HTTPCycle(
            scope,
            request,
            self,
            self.default_headers,
            self.date_header,
            self.access_log,
        )
        if self._shutting_down:
            cycle.keep_alive = False
        self.cycle = cycle
        tasks = self.tasks
        task = cycle.task = self.loop.create_task(cycle.run_asgi(self.app, tasks))
        tasks.add(task)

    def _upgrade_websocket(self, upgrade: _PendingUpgrade) -> None:
        ws_cls: Any = upgrade.ws_cls
        transport = self.transport
        if transport is None:
            return
        self._cancel_timer()
        self.connections.discard(self)
        self._closing = True  # this protocol is finished with the transport
        self.cycle = None
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        ws = ws_cls(self.config, self.server_state, self.app, self.app_state)
        transport.set_protocol(ws)
        ws.upgrade(transport, upgrade.request, self.parser.trailing_data)

    # --- CycleOwner interface ---------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None:
            transport.write(data)

    def drain(self) -> Awaitable[None]:
        waiter: asyncio.Future[None] = self.loop.create_future()
        if self.transport is None or not self.write_paused:
            waiter.set_result(None)
        else:
            self._drain_waiters.append(waiter)
        return waiter

    def pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        transport = self.transport
        if transport is not None and not self._closing:
            self._closing = True
            transport.close()

    def can_sendfile(self) -> bool:
        transport = self.transport
        if transport is None or self._closing or _os_sendfile is None:
            return False
        # TLS must encrypt in user space; only a plain socket can take a file directly.
        return transport.get_extra_info("socket") is not None and not is_ssl(transport)

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> int:
        transport = self.transport
        if transport is None:
            raise ClientDisconnected("the client has disconnected")
        loop = self.loop
        try:
            if type(loop).sendfile is not _NO_LOOP_SENDFILE:
                # The standard loop's native path: it waits for the transport's buffer
                # to drain, then hands the file to the kernel (os.sendfile).
                return await loop.sendfile(transport, file, offset, count)
            return await self._sendfile_fd(transport, file, offset, count)
        except (ConnectionError, ClientDisconnected):
            self.abort()
            raise ClientDisconnected("the client has disconnected") from None
        except (OSError, RuntimeError):
            if self.transport is None:
                raise ClientDisconnected("the client has disconnected") from None
            raise

    async def _sendfile_fd(
        self, transport: asyncio.Transport, file: BinaryIO, offset: int, count: int
    ) -> int:
        """os.sendfile on the socket, for loops without loop.sendfile (uvloop).

        Only ever with the transport's write buffer empty, so the file's bytes follow
        everything written before, and with the socket non-blocking: when the kernel's
        buffer is full we wait for writability on a duplicate descriptor (the loop
        refuses watchers on a descriptor its transport owns)."""
        loop = self.loop
        while transport.get_write_buffer_size():
            # Resume fires only once the buffer is empty while the low mark is 0.
            low, high = transport.get_write_buffer_limits()
            transport.set_write_buffer_limits(high=0, low=0)
            try:
                await self.drain()
            finally:
                if self.transport is not None:
                    transport.set_write_buffer_limits(high=high, low=low)
            if self.transport is None:
                raise ClientDisconnected("the client has disconnected")
        fd = os.dup(transport.get_extra_info("socket").fileno())
        try:
            in_fd = file.fileno()
            sent = 0
            while sent < count:
                if self.transport is None:
                    raise ClientDisconnected("the client has disconnected")
                try:
                    n = os.sendfile(fd, in_fd, offset + sent, count - sent)
                except BlockingIOError:
                    waiter: asyncio.Future[None] = loop.create_future()
                    # connection_lost and resume_writing also wake it: a spurious
                    # wake-up only retries the send.
                    self._drain_waiters.append(waiter)
                    loop.add_writer(fd, _wake, waiter)
                    try:
                        await waiter
                    finally:
                        loop.remove_writer(fd)
                    continue
                if n == 0:
                    break  # the file ended early
                sent += n
            return sent
        finally:
            os.close(fd)

    def response_complete(self, cycle: HTTPCycle) -> None:
        self.server_state.total_requests += 1
        transport = self.transport
        if transport is None or self._closing:
            return
        writer = cycle.writer
        keep_alive = cycle.keep_alive and (writer is None or writer.keep_alive)
        if not keep_alive or self._shutting_down:
            self._closing = True
            transport.close()
            return
        if cycle.body_complete:
            self._next_cycle()
        else:
            # The app answered without reading the whole body: read on and discard the
            # rest (HTTPCycle.body_data) so the connection can serve the next request.
            self.resume_reading()

    def _next_cycle(self) -> None:
        self.cycle = None
        parser = self.parser
        parser.start_next_cycle()
        self._arm_wait_timer()
        if self._read_paused:
            self.resume_reading()
        if parser.trailing_data:  # a pipelined request is already buffered
            self._process()

    # --- errors --------------------------------------------------------------------

    def _protocol_error(self, exc: http11.ProtocolError) -> None:
        # One line, no traceback: a malformed request is the client's fault.
        error_logger.info(
            "%s - invalid HTTP request: %d %s", self._client_str(), exc.status, exc.reason
        )
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            # A response is under way (e.g. the body broke a rule mid-stream): we cannot
            # start another one, so the app sees a disconnect and the connection closes.
            cycle.connection_lost()
            self.abort()
            return
        if cycle is not None:
            cycle.connection_lost()
        self._write_error(exc.status, exc.reason)

    def _write_error(self, status: int, reason: str) -> None:
        transport = self.transport
        self._cancel_timer()
        if transport is None or self._closing:
            return
        self._closing = True
        # The same Server and --header defaults as every other response (issue 10 item 7).
        transport.write(
            http11.error_response(
                status, reason, defaults=self.default_headers, date_header=self.date_header
            )
        )
        transport.close()

    def _client_str(self) -> str:
        client = self.client
        return f"{client[0]}:{client[1]}" if client else "-"

    # --- timers --------------------------------------------------------------------

    def _arm_wait_timer(self) -> None:
        # Per request this only reads the clock: the one timer handle stays armed and,
        # when it fires, re-arms itself for whatever wait is current. Creating and
        # cancelling a TimerHandle per request costs more than the whole scope dict.
        self._head_bytes = False
        self._waiting = True
        loop = self.loop
        self._waiting_since = loop.time()
        if self._timer is None:
            self._timer = loop.call_later(self._wait_delay, self._on_wait_timeout)

    def _cancel_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def _on_wait_timeout(self) -> None:
        self._timer = None
        if self._closing or self.transport is None:
            return
        if not self._waiting:
            # A request is in progress: no head is due; look again later.
            self._timer = self.loop.call_later(self._wait_delay, self._on_wait_timeout)
            return
        elapsed = self.loop.time() - self._waiting_since
        if not self._head_bytes:
            if elapsed >= self.timeout_keep_alive:
                # Idle with nothing sent: close quietly (RFC 9112 §9.8 permits it).
                error_logger.debug("%s - keep-alive timeout", self._client_str())
                self._closing = True
                self.transport.close()
                return
        elif elapsed >= self.timeout_request_head:
            # Slowloris defence: the head did not arrive in time.
            error_logger.info("%s - request head timeout: 408", self._client_str())
            self._write_error(408, "Request Timeout")
            return
        remaining = (
            self.timeout_request_head if self._head_bytes else self.timeout_keep_alive
        ) - elapsed
        self._timer = self.loop.call_later(max(remaining, 0.0), self._on_wait_timeout)

    # --- graceful shutdown -------------------------------------------------------------

    def shutdown(self) -> None:
        """Close now if idle; otherwise close after the response under way."""
        self._shutting_down = True
        cycle = self.cycle
        transport = self.transport
        if transport is None:
            return
        if cycle is None or cycle.response_complete:
            self._closing = True
            self._cancel_timer()
            transport.close()
        else:
            cycle.keep_alive = False


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _PendingUpgrade:
    """Stands in for a cycle between a WebSocket upgrade's head and its end of message."""

    __slots__ = (
        "body_complete",
        "disconnected",
        "keep_alive",
        "request",
        "response_complete",
        "response_started",
        "writer",
        "ws_cls",
    )

    def __init__(self, request: http11.Request, ws_cls: type) -> None:
        self.request = request
        self.ws_cls = ws_cls
        self.response_started = False
        self.response_complete = False
        self.body_complete = True
        self.keep_alive = False
        self.writer = None
        self.disconnected = False

    def body_data(self, data: bytes) -> None:
        pass

    def body_end(self) -> None:
        pass

    def connection_lost(self) -> None:
        pass
