"""The ASGI websocket protocol (asgiref www.rst, spec 2.4) hosted on our sans-IO stack.

The HTTP/1.1 protocol hands a parsed upgrade request to ``WebSocketProtocol.upgrade``
after switching the transport over; from then on this protocol validates the
handshake, runs the app and maps frames to ASGI events and back.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import Any

from asgi_magic import http11
from asgi_magic.asgi_types import ASGI3Application
from asgi_magic.config import Config
from asgi_magic.status import is_final
from asgi_magic.websocket import (
    BytesMessage,
    CloseCode,
    CloseReceived,
    Connection,
    ConnectionState,
    Handshake,
    HandshakeError,
    PerMessageDeflate,
    Ping,
    Pong,
    ProtocolError,
    Role,
    TextMessage,
    accept_headers,
    negotiate_deflate,
    validate_handshake,
)

from ._addresses import decode_path, get_local_addr, get_remote_addr, is_ssl
from .proxy_headers import proxy_for_peer
from .state import ServerState

__all__ = ["CLOSE_TIMEOUT", "ClientDisconnected", "WebSocketProtocol"]

error_logger = logging.getLogger("asgi_magic.error")
access_logger = logging.getLogger("asgi_magic.access")

# Seconds we wait for the peer's close frame after sending ours (RFC 6455 §7.1.1: the
# server closes the TCP connection once the close handshake is done, or gives up).
CLOSE_TIMEOUT = 10.0


class ClientDisconnected(OSError):
    """``send()`` on a websocket that is closed (asgiref www.rst 2.4: an IOError subclass)."""


_SPEC = {"version": "3.0", "spec_version": "2.4"}


class WebSocketProtocol(asyncio.Protocol):
    """One upgraded connection: handshake answer, the app's task, frames ↔ events."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app: ASGI3Application,
        app_state: dict[str, Any],
    ) -> None:
        self.config = config
        self.server_state = server_state
        self.app = app
        self.app_state = app_state
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.scope: dict[str, Any] = {}
        self.conn: Connection | None = None
        self.handshake: Handshake | None = None
        self._deflate_response: str | None = None
        self._deflate: PerMessageDeflate | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._max_queue = max(1, config.ws_max_queue)
        self._early: list[bytes] = []  # bytes that arrived before the app accepted
        self._early_size = 0
        # Lifecycle flags (all start False).
        self.accepted = False  # the 101 went out
        self.response_started = False  # the denial response extension is in use
        self.handshake_done = False  # accepted, denied or refused: no more HTTP answers
        self.close_sent = False  # our close frame (or a final HTTP answer) went out
        self.disconnected = False  # the app was told (or the TCP connection is gone)
        self.transport_closed = False
        self._read_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._disconnect: dict[str, Any] | None = None
        self._default_headers = self._build_default_headers()

    def _build_default_headers(self) -> list[tuple[bytes, bytes]]:
        if self.server_state.default_headers:
            return list(self.server_state.default_headers)
        headers: list[tuple[bytes, bytes]] = []
        if self.config.server_header:
            headers.append((b"server", b"asgi-magic"))
        for name, value in self.config.headers:
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return headers

    # --- called by the HTTP protocol ---------------------------------------------------

    def upgrade(
        self, transport: asyncio.Transport, request: http11.Request, trailing_data: bytes
    ) -> None:
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        self.server_state.connections.add(self)
        self.scope = self._build_scope(request)
        proxy = proxy_for_peer(self.config, self.scope["client"])
        if proxy is not None:  # a trusted proxy names the real client and scheme
            proxy.rewrite_scope(self.scope)
        try:
            self.handshake = validate_handshake(request)
        except HandshakeError as exc:
            # §4.2.1: a bad handshake gets an HTTP error and the app is never called.
            error_logger.warning("Invalid WebSocket handshake: %s", exc.reason)
            self._log_access(exc.status)
            self._write_http_error(exc.status, exc.reason, exc.headers)
            return
        self.scope["subprotocols"] = self.handshake.subprotocols
        if self.config.ws_per_message_deflate:
            params = negotiate_deflate(self.handshake.extensions)
            if params is not None:
                self._deflate = PerMessageDeflate(params, is_server=True)
                self._deflate_response = params.response()
        if trailing_data:
            self._buffer_early(trailing_data)
        self._queue.append({"type": "websocket.connect"})
        task = self._loop.create_task(self._run_asgi())
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)

    def shutdown(self) -> None:
        """Graceful shutdown: close 1012 (service restart), let the app see it."""
        if self.transport_closed or self.close_sent:
            return
        if not self.handshake_done:
            self._write_http_error(503, "Service Unavailable")
            self._push_disconnect(CloseCode.ABNORMAL)
            return
        if self.accepted:
            self._close(CloseCode.SERVICE_RESTART, "")
            self._push_disconnect(CloseCode.SERVICE_RESTART)

    # --- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # pragma: no cover
        # The transport is handed over by ``upgrade``; nothing to do here.
        pass

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None:
            self._buffer_early(data)
            return
        self._feed(conn, data)

    def eof_received(self) -> bool | None:
        return None  # let the transport close itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport_closed = True
        self.server_state.connections.discard(self)
        self._cancel_timers()
        code = CloseCode.ABNORMAL
        if self.conn is not None and self.conn.state is ConnectionState.CLOSED:
            code = CloseCode.NORMAL  # only reached if no disconnect was queued yet
        self._push_disconnect(code)
        self.disconnected = True
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._drain_waiter = None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._drain_waiter = None

    # --- incoming ----------------------------------------------------------------------

    def _buffer_early(self, data: bytes) -> None:
        # A client may pipeline frames right after its handshake; keep them (bounded)
        # until the app accepts, and stop reading meanwhile.
        self._early.append(data)
        self._early_size += len(data)
        if self._early_size > self.config.ws_max_size + 14:
            error_logger.warning("WebSocket client sent too much data before the handshake")
            self._abort()
            return
        if not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

    def _feed(self, conn: Connection, data: bytes) -> None:
        try:
            events = conn.receive_data(data)
        except ProtocolError as exc:
            # RFC 6455 §7.1.7: fail the connection: close frame with the code, then drop.
            error_logger.info("WebSocket protocol error: %s (%d)", exc.reason, exc.close_code)
            # Events decoded before the error are lost on purpose: the peer broke the
            # protocol and the app is told why through the disconnect code.
            frame = conn.fail(exc)
            if frame:
                self.transport.write(frame)
            self.close_sent = True
            self._push_disconnect(exc.close_code, exc.reason)
            self._close_transport()
            return
        queue = self._queue
        for event in events:
            cls = event.__class__
            if cls is TextMessage:
                queue.append({"type": "websocket.receive", "text": event.data})  # type: ignore[union-attr]
            elif cls is BytesMessage:
                queue.append({"type": "websocket.receive", "bytes": event.data})  # type: ignore[union-attr]
            elif cls is Ping:
                if not conn.close_sent:
                    self.transport.write(conn.send_pong(event.payload))  # type: ignore[union-attr]
            elif cls is Pong:
                if self._ping_payload is not None and event.payload == self._ping_payload:  # type: ignore[union-attr]
                    self._pong_received()
            else:
                assert isinstance(event, CloseReceived)
                self._close_received(conn, event)
                break
        if queue:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if len(queue) >= self._max_queue and not self._read_paused:
                # Flow control: the app reads slower than the peer sends.
                self._read_paused = True
                self.transport.pause_reading()

    def _close_received(self, conn: Connection, event: CloseReceived) -> None:
        if not conn.close_sent:
            # §5.5.1: answer with a close frame, echoing the code (1005 → empty frame).
            self.transport.write(conn.send_close(event.code))
            self.close_sent = True
        self._push_disconnect(event.code, event.reason)
        # §7.1.1: the server closes the TCP connection first once the handshake is done.
        self._close_transport()

    def _push_disconnect(self, code: int, reason: str = "") -> None:
        if self._disconnect is not None:
            return
        self._disconnect = {"type": "websocket.disconnect", "code": int(code), "reason": reason}
        self._queue.append(self._disconnect)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- the app -----------------------------------------------------------------------

    async def _run_asgi(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except asyncio.CancelledError:
            # The server gave up waiting (graceful timeout): drop the connection quietly.
            self._abort()
            raise
        except BaseException as exc:
            error_logger.exception("Exception in ASGI application", exc_info=exc)
            if not self.handshake_done:
                self._write_http_error(500, "Internal Server Error")
            elif self.accepted and not self.close_sent:
                self._close(CloseCode.INTERNAL_ERROR, "")
            elif self.response_started and not self.close_sent:
                self._abort()
            if not isinstance(exc, Exception):
                raise
        else:
            if not self.handshake_done:
                error_logger.error("ASGI callable returned without completing the handshake")
                self._write_http_error(500, "Internal Server Error")
            elif self.accepted and not self.close_sent:
                self._close(CloseCode.NORMAL, "")
            elif self.response_started and not self.close_sent:
                error_logger.error("ASGI callable returned without completing the response")
                self._abort()

    async def receive(self) -> dict[str, Any]:
        queue = self._queue
        while not queue:
            if self._disconnect is not None:
                return self._disconnect  # asked again after the disconnect: same answer
            waiter = self._loop.create_future()  # type: ignore[union-attr]
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        message = queue.popleft()
        if self._read_paused and len(queue) < self._max_queue and self.conn is not None:
            self._read_paused = False
            if not self.transport_closed:
                self.transport.resume_reading()
        return message

    async def send(self, message: Any) -> None:
        mtype = message["type"]
        if not self.handshake_done:
            if self.transport_closed:
                raise ClientDisconnected("client disconnected before the handshake completed")
            if mtype == "websocket.accept":
                self._accept(message)
            elif mtype == "websocket.close":
                # www.rst: close before accept → HTTP 403 Forbidden.
                self._log_access(403)
                self._write_http_error(403, "Forbidden")
                self._push_disconnect(CloseCode.ABNORMAL)
            elif mtype == "websocket.http.response.start":
                self._deny_start(message)
            else:
                raise RuntimeError(
                    "Expected 'websocket.accept', 'websocket.close' or "
                    f"'websocket.http.response.start' but got {mtype!r}"
                )
            return
        if self.response_started:
            if mtype != "websocket.http.response.body":
                raise RuntimeError(f"Expected 'websocket.http.response.body' but got {mtype!r}")
            if self.close_sent:
                raise ClientDisconnected("the response was already sent")
            self._deny_body(message)
            return
        conn = self.conn
        if conn is None or self.close_sent or self.transport_closed:
            raise ClientDisconnected("the websocket is closed")
        if mtype == "websocket.send":
            data = message.get("bytes")
            if data is not None:
                parts = conn.send_bytes_parts(data if data.__class__ is bytes else bytes(data))
            else:
                text = message.get("text")
                if text is None:
                    raise RuntimeError("'websocket.send' needs one of 'bytes' or 'text'")
                parts = conn.send_text_parts(text)
            # [header, payload] for a large frame: writelines sends both without first
            # copying the payload behind the header (uvloop writes them with writev).
            if len(parts) == 1:
                self.transport.write(parts[0])
            else:
                self.transport.writelines(parts)
            if self._write_paused:
                await self._drain()
        elif mtype == "websocket.close":
            code = message.get("code", CloseCode.NORMAL)
            reason = message.get("reason") or ""
            self._close(code, reason)
            self._push_disconnect(code, reason)
        else:
            raise RuntimeError(f"Expected 'websocket.send' or 'websocket.close' but got {mtype!r}")

    async def _drain(self) -> None:
        if self.transport_closed:
            return
        waiter = self._drain_waiter
        if waiter is None or waiter.done():
            waiter = self._drain_waiter = self._loop.create_future()  # type: ignore[union-attr]
        await waiter

    # --- handshake answers -------------------------------------------------------------

    def _accept(self, message: Any) -> None:
        assert self.handshake is not None
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in self.handshake.subprotocols:
            # RFC 6455 §4.2.2: the server selects one of the values the client offered.
            raise RuntimeError(f"subprotocol {subprotocol!r} was not offered by the client")
        # One validator and one field-ownership rule with every other head (http11):
        # the handshake's fields win, app fields replace defaults, never two Dates.
        try:
            head = http11.switching_protocols_response(
                message.get("headers", ()),
                self._default_headers,
                self.config.date_header,
                handshake=accept_headers(self.handshake, subprotocol, self._deflate_response),
            )
        except http11.ProtocolError as exc:
            raise RuntimeError(f"invalid headers in websocket.accept: {exc.reason}") from None
        self.handshake_done = True
        self.accepted = True
        self.conn = Connection(Role.SERVER, max_size=self.config.ws_max_size, deflate=self._deflate)
        self._log_access(101)
        self.transport.write(head)
        self._start_keepalive()
        early = self._early
        self._early = []
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()
        for chunk in early:
            if self.close_sent or self.transport_closed:
                break
            self._feed(self.conn, chunk)

    def _deny_start(self, message: Any) -> None:
        status = message["status"]
        # RFC 9110 §15: a denial is a final response, 200..599 (never a 1xx).
        if not is_final(status):
            raise RuntimeError(f"invalid status {status!r} in websocket.http.response.start")
        self.handshake_done = True
        self.response_started = True
        self._writer = http11.ResponseWriter(
            b"GET",
            "1.1",
            False,
            default_headers=self._default_headers,
            date_header=self.config.date_header,
        )
        self._log_access(status)
        self._pending_head = self._writer.start(status, list(message.get("headers", [])))

    def _deny_body(self, message: Any) -> None:
        more = bool(message.get("more_body", False))
        data = self._pending_head + self._writer.body(bytes(message.get("body", b"")), more)
        self._pending_head = b""
        self.transport.write(data)
        if not more:
            self.close_sent = True
            self._push_disconnect(CloseCode.ABNORMAL)
            self._close_transport()

    def _write_http_error(
        self, status: int, reason: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.handshake_done = True
        self.close_sent = True
        if not self.transport_closed:
            self.transport.write(self._error_bytes(status, reason, headers or []))
        self._close_transport()

    def _error_bytes(self, status: int, reason: str, headers: list[tuple[bytes, bytes]]) -> bytes:
        body = reason.encode("utf-8") + b"\n"
        writer = http11.ResponseWriter(
            b"GET",
            "1.1",
            False,
            default_headers=self._default_headers,
            date_header=self.config.date_header,
        )
        head = writer.start(
            status,
            [
                *headers,
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
            ],
        )
        return head + writer.body(body, False)

    # --- closing -----------------------------------------------------------------------

    def _close(self, code: int, reason: str) -> None:
        """Send our close frame and wait (bounded) for the peer's answer."""
        conn = self.conn
        assert conn is not None
        self.close_sent = True
        if self.transport_closed or conn.close_sent:
            return
        try:
            frame = conn.send_close(code, reason)
        except ValueError as exc:
            raise RuntimeError(str(exc)) from None
        self.transport.write(frame)
        if conn.state is ConnectionState.CLOSED:
            self._close_transport()
            return
        # The peer may be flow-controlled by us: let its close frame in.
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()
        self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self._abort)  # type: ignore[union-attr]

    def _close_transport(self) -> None:
        self._cancel_timers()
        if not self.transport_closed:
            self.transport.close()

    def _abort(self) -> None:
        self._cancel_timers()
        if not self.transport_closed:
            self.transport.abort()

    def _cancel_timers(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None

    # --- keep-alive pings --------------------------------------------------------------

    def _start_keepalive(self) -> None:
        interval = self.config.ws_ping_interval
        if interval:
            self._ping_timer = self._loop.call_later(interval, self._send_ping)  # type: ignore[union-attr]

    def _send_ping(self) -> None:
        conn = self.conn
        if conn is None or self.close_sent or self.transport_closed:
            return
        self._ping_payload = os.urandom(4)
        self.transport.write(conn.send_ping(self._ping_payload))
        timeout = self.config.ws_ping_timeout
        if timeout:
            self._ping_timer = self._loop.call_later(timeout, self._ping_timed_out)  # type: ignore[union-attr]
        else:
            self._ping_payload = None
            self._start_keepalive()

    def _pong_received(self) -> None:
        self._ping_payload = None
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        self._start_keepalive()

    def _ping_timed_out(self) -> None:
        self._ping_timer = None
        error_logger.info("WebSocket keepalive ping timed out; closing the connection")
        conn = self.conn
        if conn is not None and not conn.close_sent and not self.transport_closed:
            self.transport.write(
                conn.send_close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            )
        self.close_sent = True
        # The peer is unresponsive: the app sees 1006, the TCP connection is dropped.
        self._push_disconnect(CloseCode.ABNORMAL)
        self._abort()

    # --- scope and logs ----------------------------------------------------------------

    def _build_scope(self, request: http11.Request) -> dict[str, Any]:
        transport = self.transport
        root_path = self.config.root_path
        return {
            "type": "websocket",
            "asgi": dict(_SPEC),
            "http_version": request.http_version,
            "scheme": "wss" if is_ssl(transport) else "ws",
            "server": get_local_addr(transport),
            "client": get_remote_addr(transport),
            "root_path": root_path,
            "path": root_path + decode_path(request.path),
            "raw_path": root_path.encode("latin-1") + request.path,
            "query_string": request.query,
            "headers": request.headers,
            "subprotocols": [],
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }

    def _log_access(self, status: int) -> None:
        if not self.config.access_log or not access_logger.isEnabledFor(logging.INFO):
            return
        scope = self.scope
        client = scope.get("client")
        client_str = f"{client[0]}:{client[1]}" if client else "-"
        path = scope.get("raw_path", b"").decode("ascii", "backslashreplace")
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("ascii", "backslashreplace")
        access_logger.info('%s - "WebSocket %s" %d', client_str, path, status)
