"""The ASGI side of one WebSocket: the receive queue and the app's messages.

``WebSocketSession`` maps the asgiref websocket protocol (www.rst, spec 2.4) onto the
transport side (``ws_protocol.WebSocketProtocol``). It owns the handshake decision and
the receive queue; it owns no close state: once accepted, the sans-IO
``websocket.Connection`` alone knows whether a close frame went out or came in.

Handshake states (``HandshakeState``), forward only, changed after the step succeeded::

    PENDING ──websocket.accept──▶ ACCEPTED
       │ ─websocket.http.response.start─▶ DENYING ──last body──▶ ANSWERED
       └──websocket.close / app error / refused──▶ ANSWERED (403 / 500 …)

Every way the app's task ends leaves the connection closed or closing: an accepted
socket gets a close frame (1000 when the app returns, 1011 when it fails), a pending
one an HTTP 500, a half-sent denial response an abort.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from enum import Enum
from typing import TYPE_CHECKING, Any

from asgi_magic import http11
from asgi_magic.server.exceptions import ClientDisconnected, app_error
from asgi_magic.server.flow_control import Waiters
from asgi_magic.websocket import CloseCode, Handshake, is_valid_close_code

if TYPE_CHECKING:
    from asgi_magic.server.ws_protocol import WebSocketProtocol

__all__ = ["HandshakeState", "WebSocketSession"]

error_logger = logging.getLogger("asgi_magic.error")


class HandshakeState(Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DENYING = "denying"
    ANSWERED = "answered"


_PENDING = HandshakeState.PENDING
_ACCEPTED = HandshakeState.ACCEPTED
_DENYING = HandshakeState.DENYING
_ANSWERED = HandshakeState.ANSWERED


# What a queued message costs beyond its payload (the dict, the deque slot).
MESSAGE_OVERHEAD = 64


class WebSocketSession:
    """Receive queue (bounded in messages and bytes) and the app's send()."""

    def __init__(
        self,
        protocol: WebSocketProtocol,
        scope: Any,
        handshake: Handshake,
        max_queue: int,
        max_queue_bytes: int,
    ) -> None:
        self.protocol = protocol
        self.scope = scope
        self.handshake = handshake
        self.state = _PENDING
        self.status = 0  # the HTTP status that answered the handshake (101, 403 …)
        # (message, bytes it counts for): the size is known when the frame is parsed.
        self._queue: deque[tuple[dict[str, Any], int]] = deque([({"type": "websocket.connect"}, 0)])
        self._queued_bytes = 0
        self._max_queue = max(1, max_queue)
        self._max_queue_bytes = max_queue_bytes
        self._waiters = Waiters()
        self._disconnect: dict[str, Any] | None = None
        self._deny: http11.ResponseWriter | None = None
        self._deny_head = b""
        self._start = time.perf_counter()

    # --- from the transport side -------------------------------------------------------

    def push(self, message: dict[str, Any], size: int) -> bool:
        """A message from the peer, ``size`` bytes of payload. Returns ``full``: when
        true the caller stops reading."""
        size += MESSAGE_OVERHEAD
        queue = self._queue
        queue.append((message, size))
        queued = self._queued_bytes = self._queued_bytes + size
        futures = self._waiters.futures
        if futures:  # Waiters.wake, inlined: once per message
            self._waiters.futures = []
            for future in futures:
                if not future.done():
                    future.set_result(None)
        return len(queue) >= self._max_queue or queued >= self._max_queue_bytes

    @property
    def full(self) -> bool:
        """The app reads slower than the peer sends: stop reading (one budget for the
        whole connection, in messages and in bytes)."""
        return len(self._queue) >= self._max_queue or self._queued_bytes >= self._max_queue_bytes

    def push_disconnect(self, code: int, reason: str = "") -> None:
        if self._disconnect is not None:
            return
        self._disconnect = {"type": "websocket.disconnect", "code": int(code), "reason": reason}
        self._queue.append((self._disconnect, 0))
        self._waiters.wake()

    @property
    def disconnected(self) -> bool:
        return self._disconnect is not None

    # --- the app -----------------------------------------------------------------------

    async def run_asgi(self, app: Any) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            self._end(failed=False)
        except asyncio.CancelledError:
            # The server gave up waiting (graceful timeout): drop the connection.
            self.protocol.abort()
            self._log()
            raise
        except BaseException as exc:
            error_logger.error("Exception in ASGI application", exc_info=exc)
            self._end(failed=True)
            if not isinstance(exc, Exception):
                raise
        else:
            if self.state is _PENDING and not self.protocol.closed:
                error_logger.error("ASGI callable returned without completing the handshake")
            elif self.state is _DENYING:
                error_logger.error("ASGI callable returned without completing the response")
            self._end(failed=False)

    def _end(self, failed: bool) -> None:
        state = self.state
        protocol = self.protocol
        if state is _PENDING:
            self.answer(500, "Internal Server Error")
        elif state is _ACCEPTED:
            # 1011 (RFC 6455 §7.4.1): the server hit a condition it cannot handle.
            protocol.close(CloseCode.INTERNAL_ERROR if failed else CloseCode.NORMAL, "")
            self.push_disconnect(CloseCode.INTERNAL_ERROR if failed else CloseCode.NORMAL)
        elif state is _DENYING:
            protocol.abort()
        self._log()

    def _log(self) -> None:
        access = self.protocol.access_log
        if access.enabled and self.status:
            access.log(self.scope, self.status, (), 0, time.perf_counter() - self._start)

    def answer(self, status: int, reason: str) -> None:
        """A final HTTP answer instead of the handshake (403, 500, 503 …)."""
        self.state = _ANSWERED
        self.status = status
        self.protocol.write_http(self.protocol.error_response(status, reason), final=True)
        self.push_disconnect(CloseCode.ABNORMAL)

    async def receive(self) -> dict[str, Any]:
        queue = self._queue
        while not queue:
            if self._disconnect is not None:
                return self._disconnect  # asked again after the disconnect: same answer
            # Waiters.wait, inlined: this runs once per message for an echoing app.
            future = asyncio.get_running_loop().create_future()
            self._waiters.futures.append(future)
            try:
                await future
            finally:
                if not future.done():
                    future.cancel()
        message, size = queue.popleft()
        self._queued_bytes -= size
        flow = self.protocol.flow
        if flow is not None and flow.read_paused and not self.full:
            self.protocol.queue_has_room()
        return message

    async def send(self, message: Any) -> None:
        try:
            mtype = message["type"]
        except (KeyError, TypeError):
            raise app_error(f"Unexpected ASGI message: {message!r:.100}") from None
        state = self.state
        protocol = self.protocol
        if state is _ACCEPTED:
            conn = protocol.conn
            if conn is None or conn.close_sent or protocol.closed:
                raise ClientDisconnected("the websocket is closed")
            if mtype == "websocket.send":
                drain = protocol.send_message(message)
                if drain is not None:
                    await drain
            elif mtype == "websocket.close":
                code, reason = _close_args(message)
                protocol.close(code, reason)
                self.push_disconnect(code, reason)
            else:
                raise RuntimeError(
                    f"Expected 'websocket.send' or 'websocket.close' but got {mtype!r}"
                )
            return
        if protocol.closed or state is _ANSWERED:
            raise ClientDisconnected("the connection is closed")
        if state is _PENDING:
            if mtype == "websocket.accept":
                self._accept(message)
            elif mtype == "websocket.close":
                # www.rst: close before accept → HTTP 403 Forbidden.
                self.answer(403, "Forbidden")
            elif mtype == "websocket.http.response.start":
                self._deny_start(message)
            else:
                raise RuntimeError(
                    "Expected 'websocket.accept', 'websocket.close' or "
                    f"'websocket.http.response.start' but got {mtype!r}"
                )
            return
        # DENYING
        if mtype != "websocket.http.response.body":
            raise RuntimeError(f"Expected 'websocket.http.response.body' but got {mtype!r}")
        self._deny_body(message)

    # --- handshake answers -------------------------------------------------------------

    def _accept(self, message: Any) -> None:
        protocol = self.protocol
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in self.handshake.subprotocols:
            # RFC 6455 §4.2.2: the server selects one of the values the client offered.
            raise RuntimeError(f"subprotocol {subprotocol!r} was not offered by the client")
        try:
            app_headers = list(message.get("headers", ()))
        except TypeError:
            raise app_error("websocket.accept headers must be pairs of bytes") from None
        # Validated by the http11 writer like any response head (RFC 9110 §5.5: no CR,
        # LF or NUL; names are tokens); nothing changes unless it succeeds.
        head = protocol.switching_protocols_head(subprotocol, app_headers)
        self.state = _ACCEPTED
        self.status = 101
        protocol.accept(head)

    def _deny_start(self, message: Any) -> None:
        protocol = self.protocol
        try:
            status = message["status"]
        except KeyError:
            raise app_error("'websocket.http.response.start' needs a 'status'") from None
        writer = protocol.denial_writer()
        try:
            # The writer checks the status (RFC 9110 §15: final, 200..599) and fields.
            head = writer.start(status, message.get("headers", ()))
        except http11.ProtocolError as exc:
            raise app_error("invalid 'websocket.http.response.start'", exc) from None
        self._deny = writer
        self._deny_head = head
        self.state = _DENYING
        self.status = status

    def _deny_body(self, message: Any) -> None:
        writer = self._deny
        assert writer is not None
        more = bool(message.get("more_body", False))
        try:
            data = writer.body(message.get("body", b""), more)
        except http11.ProtocolError as exc:
            raise app_error("invalid 'websocket.http.response.body'", exc) from None
        data = self._deny_head + data
        self._deny_head = b""
        if not more:
            self.state = _ANSWERED
            self.push_disconnect(CloseCode.ABNORMAL)
        self.protocol.write_http(data, final=not more)


def _close_args(message: Any) -> tuple[int, str]:
    """The code and reason of an app's ``websocket.close``, checked before anything is
    sent: RFC 6455 §7.4.1 forbids 1005, 1006 and 1015 on the wire, and the reason must
    fit a control frame (§5.5: 125 bytes, two of them the code)."""
    code = message.get("code", CloseCode.NORMAL)
    if type(code) is not int or not is_valid_close_code(code):
        raise RuntimeError(f"invalid close code {code!r} in 'websocket.close'")
    reason = message.get("reason") or ""
    if not isinstance(reason, str):
        raise RuntimeError("'websocket.close' reason must be a str")
    return code, reason
