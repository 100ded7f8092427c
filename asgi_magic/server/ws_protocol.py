"""The transport side of one WebSocket: bytes ↔ the sans-IO ``websocket.Connection``.

The HTTP/1.1 protocol hands a parsed upgrade request to ``WebSocketProtocol.upgrade``
after switching the transport over. From then on this protocol validates the
handshake, feeds frames to the sans-IO connection, answers pings and close frames,
keeps the keep-alive ping and the close timer, and hands messages to the ASGI session
(``ws_session.WebSocketSession``), which runs the app.

Close state lives in one place, the sans-IO ``Connection`` (``close_sent``,
``state``); this side keeps only what the socket knows (``closed``: the TCP connection
is gone). Flow control is the one ``FlowControl`` object the HTTP protocol used: it
stops reading when the session's queue is full and whenever the peer does not read
what we write (pongs, close replies), so no peer can make us buffer without bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from asgi_magic import http11
from asgi_magic.asgi_types import ASGI3Application
from asgi_magic.config import Config
from asgi_magic.server.access_log import AccessLog
from asgi_magic.server.exceptions import ClientDisconnected, app_error
from asgi_magic.server.flow_control import FlowControl
from asgi_magic.server.scope import ConnectionInfo, websocket_scope
from asgi_magic.server.state import ServerState
from asgi_magic.server.ws_session import HandshakeState, WebSocketSession
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

__all__ = ["CLOSE_TIMEOUT", "ClientDisconnected", "WebSocketProtocol"]

error_logger = logging.getLogger("asgi_magic.error")

# Seconds we wait for the peer's close frame after sending ours (RFC 6455 §7.1.1: the
# server closes the TCP connection once the close handshake is done, or gives up).
CLOSE_TIMEOUT = 10.0


class WebSocketProtocol(asyncio.Protocol):
    """One upgraded connection: handshake, frames ↔ session messages, pings, closing."""

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
        self.flow: FlowControl | None = None
        self.conn: Connection | None = None
        self.session: WebSocketSession | None = None
        self.closed = False  # the TCP connection is gone (connection_lost ran)
        self.access_log = AccessLog.from_config(config)
        self.defaults = http11.WriterDefaults.of(server_state.default_headers)
        self._handshake: Handshake | None = None
        self._deflate: PerMessageDeflate | None = None
        self._deflate_response: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: list[bytes] = []  # bytes that arrived before the app accepted
        self._early_size = 0
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self.task: asyncio.Task[None] | None = None  # the session's, once it runs

    @property
    def scope(self) -> Any:
        return self.session.scope if self.session is not None else {}

    # --- called by the HTTP protocol ---------------------------------------------------

    def upgrade(
        self,
        transport: asyncio.Transport,
        request: http11.Request,
        trailing_data: bytes,
        info: ConnectionInfo | None = None,
        flow: FlowControl | None = None,
    ) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.transport = transport
        self.flow = flow if flow is not None else FlowControl(transport, loop)
        self.server_state.connections.add(self)
        if info is None:
            info = ConnectionInfo(transport, self.config, self.app_state)
        try:
            handshake = self._validate(request)
        except HandshakeError as exc:
            # RFC 6455 §4.2.1: a bad handshake gets an HTTP error; the app is never called.
            error_logger.warning("Invalid WebSocket handshake: %s", exc.reason)
            scope = self._scope(info, request, [])
            if self.access_log.enabled:
                self.access_log.log(scope, exc.status, (), 0, 0.0)
            self.write_http(self.error_response(exc.status, exc.reason, exc.headers), final=True)
            return
        self._handshake = handshake
        if self.config.ws_per_message_deflate:
            params = negotiate_deflate(handshake.extensions)
            if params is not None:
                self._deflate = PerMessageDeflate(params, is_server=True)
                self._deflate_response = params.response()
        scope = self._scope(info, request, list(handshake.subprotocols))
        max_size = self.config.ws_max_size
        self.session = WebSocketSession(
            self, scope, handshake, self.config.ws_max_queue, max(max_size, 64 * 1024)
        )
        if trailing_data:
            self._buffer_early(trailing_data)
        tasks = self.server_state.tasks
        task = self.task = loop.create_task(self.session.run_asgi(self.app))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # What WebSocket over HTTP/2 (RFC 8441) does differently is in these three methods
    # (h2_websocket.H2WebSocketProtocol); everything else is the same code.

    def _validate(self, request: http11.Request) -> Handshake:
        return validate_handshake(request)

    def _scope(self, info: ConnectionInfo, request: http11.Request, subprotocols: list[str]) -> Any:
        return websocket_scope(info, request, subprotocols)

    def _write_head(self, head: bytes) -> None:
        """Write the handshake's answer (here the 101 head)."""
        self.transport.write(head)

    def shutdown(self) -> None:
        """Graceful shutdown: close 1012 (service restart), let the app see it."""
        session = self.session
        if self.closed or session is None:
            return
        conn = self.conn
        if conn is None:
            if session.state is HandshakeState.PENDING:
                session.answer(503, "Service Unavailable")
            return
        if not conn.close_sent:
            self.close(CloseCode.SERVICE_RESTART, "")
            session.push_disconnect(CloseCode.SERVICE_RESTART)

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
        self.closed = True
        self.server_state.connections.discard(self)
        self._cancel_timers()
        if self.flow is not None:
            self.flow.connection_lost()
        code = CloseCode.ABNORMAL
        if self.conn is not None and self.conn.state is ConnectionState.CLOSED:
            code = CloseCode.NORMAL  # only reached if no disconnect was queued yet
        if self.session is not None:
            self.session.push_disconnect(code)

    def pause_writing(self) -> None:
        if self.flow is not None:
            self.flow.pause_writing()

    def resume_writing(self) -> None:
        if self.flow is not None:
            self.flow.resume_writing()

    # --- incoming ----------------------------------------------------------------------

    def _buffer_early(self, data: bytes) -> None:
        # A client may pipeline frames right after its handshake; keep them (bounded)
        # until the app accepts, and stop reading meanwhile.
        self._early.append(data)
        self._early_size += len(data)
        if self._early_size > self.config.ws_max_size + 14:
            error_logger.warning("WebSocket client sent too much data before the handshake")
            self.abort()
            return
        assert self.flow is not None
        self.flow.pause_reading()

    def _feed(self, conn: Connection, data: bytes) -> None:
        session = self.session
        assert session is not None
        try:
            events = conn.receive_data(data)
        except ProtocolError as exc:
            # RFC 6455 §7.1.7: fail the connection: close frame with the code, then drop.
            # Events decoded before the error are dropped on purpose: the peer broke
            # the protocol and the app is told why through the disconnect code.
            error_logger.info("WebSocket protocol error: %s (%d)", exc.reason, exc.close_code)
            frame = conn.fail(exc)
            if frame:
                self.transport.write(frame)
            session.push_disconnect(exc.close_code, exc.reason)
            self._close_transport()
            return
        transport = self.transport
        full = False
        for event in events:
            cls = event.__class__
            if cls is TextMessage:
                text = event.data  # type: ignore[union-attr]
                full = session.push({"type": "websocket.receive", "text": text}, len(text))
            elif cls is BytesMessage:
                payload = event.data  # type: ignore[union-attr]
                full = session.push({"type": "websocket.receive", "bytes": payload}, len(payload))
            elif cls is Ping:
                if not conn.close_sent:
                    # Written at once; reading stops while the peer does not read.
                    transport.write(conn.send_pong(event.payload))  # type: ignore[union-attr]
            elif cls is Pong:
                if self._ping_payload is not None and event.payload == self._ping_payload:  # type: ignore[union-attr]
                    self._pong_received()
            else:
                assert isinstance(event, CloseReceived)
                self._close_received(conn, event)
                return
        if full:
            # Flow control: the app reads slower than the peer sends.
            assert self.flow is not None
            self.flow.pause_reading()

    def queue_has_room(self) -> None:
        """The session's queue dropped below its budget: read again."""
        if self.conn is not None and self.flow is not None and not self.closed:
            self.flow.resume_reading()

    def _close_received(self, conn: Connection, event: CloseReceived) -> None:
        if not conn.close_sent:
            # §5.5.1: answer with a close frame, echoing the code (1005 → empty frame).
            self.transport.write(conn.send_close(event.code))
        assert self.session is not None
        self.session.push_disconnect(event.code, event.reason)
        # §7.1.1: the server closes the TCP connection first once the handshake is done.
        self._close_transport()

    # --- used by the session -----------------------------------------------------------

    def error_response(
        self, status: int, reason: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> bytes:
        return http11.error_response(
            status,
            reason,
            defaults=self.defaults,
            date_header=self.config.date_header,
            headers=headers or (),
        )

    def switching_protocols_head(
        self, subprotocol: str | None, app_headers: list[tuple[bytes, bytes]]
    ) -> bytes:
        """The 101 head, written by the http11 writer with its validation (the app's
        copies of handshake fields are dropped); raises ``RuntimeError`` for a header
        the app may not send. Nothing is written yet."""
        assert self._handshake is not None
        try:
            return http11.switching_protocols_response(
                app_headers,
                self.defaults,
                self.config.date_header,
                handshake=accept_headers(self._handshake, subprotocol, self._deflate_response),
            )
        except http11.ProtocolError as exc:
            raise app_error("invalid header in 'websocket.accept'", exc) from None

    def denial_writer(self) -> http11.ResponseWriter:
        return http11.ResponseWriter(b"GET", "1.1", False, self.defaults, self.config.date_header)

    def accept(self, head: bytes) -> None:
        """Write the 101 and start speaking WebSocket."""
        if self.closed:
            raise ClientDisconnected("the client has disconnected")
        conn = self.conn = Connection(
            Role.SERVER, max_size=self.config.ws_max_size, deflate=self._deflate
        )
        self._write_head(head)
        self._start_keepalive()
        early = self._early
        self._early = []
        assert self.flow is not None
        self.flow.resume_reading()
        for chunk in early:
            if conn.close_sent or self.closed or conn.state is not ConnectionState.OPEN:
                break
            self._feed(conn, chunk)

    def write_http(self, data: bytes, final: bool) -> None:
        """An HTTP answer instead of the handshake; ``final`` closes the connection."""
        if not self.closed:
            self.transport.write(data)
        if final:
            self._close_transport()

    def send_message(self, message: Any) -> asyncio.Future[None] | None:
        """Write one ``websocket.send``; returns a future to await when the peer is not
        reading (write back-pressure), else None. Not a coroutine: it runs once per
        message, and most never wait."""
        conn = self.conn
        assert conn is not None
        data = message.get("bytes")
        if data is not None:
            if data.__class__ is not bytes:
                if not isinstance(data, (bytearray, memoryview)):
                    raise RuntimeError("'websocket.send' bytes must be bytes")
                data = bytes(data)
            parts = conn.send_bytes_parts(data)
        else:
            text = message.get("text")
            if not isinstance(text, str):
                raise RuntimeError("'websocket.send' needs one of 'bytes' or 'text'")
            parts = conn.send_text_parts(text)
        # [header, payload] for a large frame: writelines sends both without first
        # copying the payload behind the header (uvloop writes them with writev).
        if len(parts) == 1:
            self.transport.write(parts[0])
        else:
            self.transport.writelines(parts)
        flow = self.flow
        assert flow is not None
        return flow.drain() if flow.write_paused else None

    def close(self, code: int, reason: str) -> None:
        """Send our close frame and wait (bounded) for the peer's answer."""
        conn = self.conn
        if conn is None or self.closed or conn.close_sent:
            return
        self.transport.write(conn.send_close(code, reason))
        if conn.state is ConnectionState.CLOSED:
            self._close_transport()
            return
        # The peer may be flow-controlled by us: let its close frame in.
        assert self.flow is not None and self._loop is not None
        self.flow.resume_reading()
        self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self.abort)

    def abort(self) -> None:
        self._cancel_timers()
        if not self.closed and self.transport is not None:
            self.transport.abort()

    # --- closing -----------------------------------------------------------------------

    def _close_transport(self) -> None:
        self._cancel_timers()
        if not self.closed:
            self.transport.close()

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
        if interval and self._loop is not None:
            self._ping_timer = self._loop.call_later(interval, self._send_ping)

    def _send_ping(self) -> None:
        self._ping_timer = None
        conn = self.conn
        if conn is None or conn.close_sent or self.closed:
            return
        self._ping_payload = os.urandom(4)
        self.transport.write(conn.send_ping(self._ping_payload))
        timeout = self.config.ws_ping_timeout
        if timeout and self._loop is not None:
            self._ping_timer = self._loop.call_later(timeout, self._ping_timed_out)
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
        if conn is not None and not conn.close_sent and not self.closed:
            self.transport.write(
                conn.send_close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            )
        # The peer is unresponsive: the app sees 1006, the TCP connection is dropped.
        if self.session is not None:
            self.session.push_disconnect(CloseCode.ABNORMAL)
        self.abort()
