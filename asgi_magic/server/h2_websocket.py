"""WebSocket over HTTP/2 (RFC 8441): one WebSocket per stream, the same code as HTTP/1.1.

RFC 8441 §5: after an extended CONNECT (``:protocol websocket``) and a 2xx answer,
the stream's DATA carries the WebSocket frames exactly as a TCP connection would,
masking included; END_STREAM stands for the TCP FIN and RST_STREAM (CANCEL) for a
TCP reset. So the one ``WebSocketProtocol`` (frames, pings, close handshake, flow
control, the ``WebSocketSession`` that runs the app) runs unchanged over a stream:

* ``H2StreamTransport`` is the transport it writes to and pauses: ``write`` queues
  DATA on the stream (sent as the windows allow, ``H2Protocol.flush``), ``close``
  ends the stream, ``abort`` resets it, and pausing reading holds back the stream's
  WINDOW_UPDATEs, so a client cannot send more than one stream window while the app
  does not read.
* ``H2WebSocketProtocol`` changes what differs: the handshake is checked by
  ``validate_extended_connect`` (RFC 8441 §5: no key, no Upgrade), the scope's
  scheme is the request's ``:scheme`` (``ws``/``wss``), ``websocket.accept`` is a
  ``:status 200`` HEADERS frame without ``Sec-WebSocket-Accept``, and every HTTP
  answer (403, 426, 500, a ``websocket.http.response``) becomes HEADERS and DATA.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from h2.errors import ErrorCodes

from asgi_magic import http11
from asgi_magic.server.flow_control import FlowControl
from asgi_magic.server.h2_rules import response_fields
from asgi_magic.server.scope import ConnectionInfo, websocket_scope
from asgi_magic.server.ws_protocol import WebSocketProtocol
from asgi_magic.websocket import Handshake, validate_extended_connect

if TYPE_CHECKING:
    from asgi_magic.server.h2_protocol import H2Protocol, H2Stream

__all__ = ["H2StreamTransport", "H2WebSocketProtocol", "open_websocket"]

# RFC 8441 §5: Sec-WebSocket-Accept is not used over HTTP/2 (Upgrade and Connection
# are connection-specific and dropped anyway, RFC 9113 §8.2.2).
_NOT_OVER_H2 = frozenset((b"sec-websocket-accept",))


class H2StreamTransport:
    """The transport of one WebSocket: an HTTP/2 stream (see the module doc)."""

    __slots__ = ("_closing", "_lost", "conn", "head_sent", "protocol", "reading", "stream")

    def __init__(self, conn: H2Protocol, stream: H2Stream) -> None:
        self.conn = conn
        self.stream = stream
        self.protocol: H2WebSocketProtocol | None = None
        self.reading = True  # WINDOW_UPDATEs go out as DATA arrives
        self.head_sent = False  # the HEADERS that answer the CONNECT
        self._closing = False
        self._lost = False

    def write(self, data: bytes) -> None:
        self.stream.write(data)

    def writelines(self, parts: Iterable[bytes]) -> None:
        for part in parts:
            self.stream.pending.append(memoryview(part))
        self.stream.write(b"")

    def send_head(self, fields: list[tuple[bytes, bytes]]) -> None:
        """The response HEADERS (without END_STREAM): ``:status`` first."""
        self.head_sent = True
        self.stream.head = fields
        self.conn.flush(self.stream)

    def is_closing(self) -> bool:
        return self._closing or self.stream.reset

    def close(self) -> None:
        """RFC 8441 §5: an orderly close is END_STREAM (after what is queued). A client
        that has not ended its side is told to stop (RST_STREAM NO_ERROR, RFC 9113
        §8.1), as when a response ends before its request."""
        if self._closing:
            return
        if not self.head_sent:
            # No answer to end yet (the client ended its side during the handshake):
            # END_STREAM cannot come before HEADERS (RFC 9113 §8.1); reset instead.
            self.abort()
            return
        self._closing = True
        stream = self.stream
        conn = self.conn
        if not stream.reset and not stream.ended:
            stream.end_due = True
            conn.flush(stream)
            conn.response_done(stream)
        # As a socket transport does: connection_lost follows close(), not within it.
        conn.loop.call_soon(self.lost)

    def abort(self) -> None:
        """RFC 8441 §5: a TCP reset is RST_STREAM CANCEL."""
        self._closing = True
        self.conn.reset_stream(self.stream, ErrorCodes.CANCEL)
        self.lost()

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True
        if self.stream.unacked:
            self.conn.acknowledge(self.stream)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        transport = self.conn.transport
        return default if transport is None else transport.get_extra_info(name, default)

    def lost(self) -> None:
        """The stream is gone (closed, reset, or the connection lost): once."""
        if self._lost:
            return
        self._lost = True
        self._closing = True
        protocol = self.protocol
        if protocol is not None:
            protocol.connection_lost(None)


class H2WebSocketProtocol(WebSocketProtocol):
    """``WebSocketProtocol`` over an HTTP/2 stream (RFC 8441); see the module doc."""

    secure: bool | None = None
    """The request's ``:scheme`` is https (None: the connection's)."""

    def _validate(self, request: http11.Request) -> Handshake:
        return validate_extended_connect(request)

    def _scope(self, info: ConnectionInfo, request: http11.Request, subprotocols: list[str]) -> Any:
        return websocket_scope(info, request, subprotocols, self.secure)

    def _write_head(self, head: bytes) -> None:
        # RFC 8441 §5: the handshake is answered with a 2xx; the checked 101 head (the
        # app's fields, our defaults, the negotiated subprotocol and extensions) keeps
        # every field but the HTTP/1.1 handshake's own.
        fields = [pair for pair in response_fields(head, 200) if pair[0] not in _NOT_OVER_H2]
        transport: H2StreamTransport = self.transport  # type: ignore[assignment]
        transport.send_head(fields)
        if self.session is not None:
            self.session.status = 200  # what the access log says: the client saw a 200

    def denial_writer(self) -> http11.ResponseWriter:
        # HTTP/1.0 framing: the body passes through as it is (HTTP/2 frames it).
        return http11.ResponseWriter(b"GET", "1.0", False, self.defaults, self.config.date_header)

    def write_http(self, data: bytes, final: bool) -> None:
        """An HTTP answer instead of the handshake (``data``: HTTP/1.1 bytes from the
        writer, the head in the first call), as HEADERS then DATA on the stream."""
        transport: H2StreamTransport = self.transport  # type: ignore[assignment]
        if not self.closed:
            if not transport.head_sent:
                end = data.find(b"\r\n\r\n") + 4
                head, data = data[:end], data[end:]
                transport.send_head(response_fields(head, int(head[9:12])))
            if data:
                transport.write(data)
        if final:
            self._close_transport()


def open_websocket(
    conn: H2Protocol,
    stream: H2Stream,
    request: http11.Request,
    info: ConnectionInfo,
    secure: bool | None,
) -> H2WebSocketProtocol:
    """Run a WebSocket on ``stream`` for an extended CONNECT ``request``: the handshake
    goes to the app (or is answered with an HTTP error), then frames flow."""
    transport = H2StreamTransport(conn, stream)
    stream.ws = transport
    # One FlowControl, as over HTTP/1.1: the connection pauses its writing when the
    # stream's DATA waits for window, and its reading pauses the stream's window.
    flow = stream.flow = FlowControl(transport, conn.loop)
    protocol = H2WebSocketProtocol(conn.config, conn.server_state, conn.app, conn.app_state)
    protocol.secure = secure
    transport.protocol = protocol
    protocol.upgrade(transport, request, b"", info=info, flow=flow)  # type: ignore[arg-type]
    return protocol
