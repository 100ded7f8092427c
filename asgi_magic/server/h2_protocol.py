"""The per-connection HTTP/2 protocol: frames from the socket to cycles and back.

One ``H2Protocol`` per connection that negotiated HTTP/2: by ALPN ``h2`` over TLS, or
by the cleartext connection preface (prior knowledge, RFC 9113 §3.3). The HTTP/1.1
protocol sees either first and hands the transport over (``take_over``); the
``Upgrade: h2c`` dance of RFC 7540 §3.2 is not offered (RFC 9113 §3.1 deprecates it).

The ``h2`` state machine owns frames, HPACK and stream states; ``h2_rules`` owns our
policy. Each stream is one ``HTTPCycle``, the same cycle HTTP/1.1 runs, driven through
an ``H2Stream``, which is the cycle's ``CycleOwner``:

* ``write`` queues DATA; it leaves as the connection and stream windows allow
  (``_flush``). While any of it waits, the stream's ``flow`` is paused, so the app's
  ``send()`` waits for window exactly as it waits for a slow socket over HTTP/1.1.
* Received DATA is acknowledged (``WINDOW_UPDATE``) only once the app has taken it
  (``resume_reading``, which the cycle calls from ``receive()``), or when the stream
  ends: an app that does not read closes the peer's window and so stops the upload.
  The socket itself is never paused for one stream; it is paused only while the peer
  does not read what we write (``flow_control.py``).

Bounds (each is a flag; ``docs/server/http2.md``): SETTINGS_MAX_CONCURRENT_STREAMS
(h2 refuses more open streams), running apps per connection (a stream the client
reset still counts until its app returns; beyond the limit new streams get
REFUSED_STREAM), client resets and control frames (SETTINGS, PING, PRIORITY, unknown
frames, empty DATA) per ``RATE_WINDOW`` (over budget: GOAWAY ENHANCE_YOUR_CALM), the
header block (``h2_rules``), the decoded header list (HPACK), a stream whose window
stays shut (reset after ``--http2-window-timeout``) and an idle connection
(``--timeout-keep-alive``).

The HTTP/1.1 timeouts hold per stream (``_on_timer``, ``slow_body.BodyClock``): a body
that stalls or trickles while the app waits for it (``--timeout-request-body``,
``--min-request-body-rate``) gets 408 on its stream, or RST_STREAM CANCEL once its
response has started; an app that starts no response within ``--timeout-app`` gets
503 on its stream and is cancelled. Other streams go on. Until the client's preface
(and its SETTINGS) has arrived, the connection is closed after
``min(--timeout-keep-alive, --timeout-request-head)``.

An extended CONNECT with ``:protocol websocket`` (RFC 8441) runs a WebSocket on its
stream instead of a cycle: ``h2_websocket`` puts the one ``WebSocketProtocol`` on the
stream (``H2Stream.ws``); its DATA carries the frames.

Graceful shutdown: GOAWAY (NO_ERROR) naming the last stream we will serve; streams up
to it finish, later ones are refused, and the connection closes when none is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, BinaryIO

import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame

from asgi_magic import http11
from asgi_magic.config import Config
from asgi_magic.server.access_log import AccessLog
from asgi_magic.server.closing import LingeringClose
from asgi_magic.server.flow_control import FlowControl
from asgi_magic.server.h2_rules import (
    CONNECTION_WINDOW,
    BoundedFrameBuffer,
    H2Framer,
    H2Limits,
    RateBudget,
    error_fields,
    interim_fields,
    new_connection,
    request_from_headers,
)
from asgi_magic.server.health import HealthApp
from asgi_magic.server.http_cycle import HTTPCycle, ResponseState
from asgi_magic.server.scope import ConnectionInfo, http_scope
from asgi_magic.server.slow_body import BodyClock
from asgi_magic.server.state import ServerState

if TYPE_CHECKING:
    from asgi_magic.server.h2_websocket import H2StreamTransport

__all__ = ["H2Protocol", "H2Stream"]

error_logger = logging.getLogger("asgi_magic.error")

_COMPLETE = ResponseState.COMPLETE
_NOT_STARTED = ResponseState.NOT_STARTED


class _NoTransport:
    """What a stream's ``FlowControl`` pauses: nothing. One stream's reading is paced
    by its window, never by pausing the socket every other stream shares."""

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


_NO_TRANSPORT = _NoTransport()


class H2Stream:
    """One request stream: the ``CycleOwner`` of its ``HTTPCycle``."""

    __slots__ = (
        "app_due",
        "body_clock",
        "client_ended",
        "conn",
        "continue_due",
        "cycle",
        "end_due",
        "ended",
        "flow",
        "head",
        "method",
        "pending",
        "received",
        "reset",
        "stalled_since",
        "stream_id",
        "task_done",
        "trailers",
        "unacked",
        "ws",
    )

    def __init__(self, conn: H2Protocol, stream_id: int, method: bytes) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.method = method
        self.flow = FlowControl(_NO_TRANSPORT, conn.loop)
        self.cycle: HTTPCycle | None = None
        self.head: list[tuple[bytes, bytes]] | None = None  # HEADERS not yet sent
        # The trailer section, sent as the last HEADERS (END_STREAM) after the DATA.
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.pending: deque[memoryview] = deque()  # DATA waiting for window
        self.end_due = False  # END_STREAM goes after the pending DATA
        self.ended = False  # we sent END_STREAM
        self.client_ended = False  # the client sent END_STREAM
        self.reset = False  # RST_STREAM went either way: the stream is gone
        self.task_done = True  # until an app runs for it
        self.continue_due = False  # Expect: 100-continue and no 100 sent yet
        self.unacked = 0  # received DATA bytes not yet handed back as window
        self.received = 0  # request body bytes (--limit-request-body)
        self.stalled_since = 0.0  # when DATA began waiting for a shut window
        self.body_clock: BodyClock | None = None  # slow-body watch, when on and a body comes
        self.app_due = 0.0  # --timeout-app: when a response must have started (0: off)
        self.ws: H2StreamTransport | None = None  # a WebSocket runs here (RFC 8441)

    # --- CycleOwner -------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.reset or self.ended:
            return
        if data:
            self.pending.append(memoryview(data))
        self.conn.flush(self)

    def drain(self) -> asyncio.Future[None] | None:
        return self.flow.drain()

    def pause_reading(self) -> None:
        # Nothing to do: data not acknowledged is window not given back.
        pass

    def resume_reading(self) -> None:
        """The app asked for body: everything received so far has been taken."""
        if self.continue_due:
            # RFC 9110 §10.1.1 / RFC 9113 §8.1: the 100 is an interim HEADERS; sent
            # only when the app asks for the body, as over HTTP/1.1.
            self.continue_due = False
            cycle = self.cycle
            if cycle is not None and cycle.response is _NOT_STARTED and not self.reset:
                self.conn.send_interim(self, [(b":status", b"100")])
        if self.unacked:
            self.conn.acknowledge(self)

    def response_writer(self, cycle: HTTPCycle) -> H2Framer:
        conn = self.conn
        return H2Framer(
            self.method, conn.default_headers, conn.date_header, self._set_head, self._set_trailers
        )

    def _set_head(self, fields: list[tuple[bytes, bytes]]) -> None:
        self.continue_due = False  # answered without reading the body: no 100
        self.head = fields

    def _set_trailers(self, fields: list[tuple[bytes, bytes]]) -> None:
        # asgiref extensions.rst, HTTP Trailers; RFC 9113 §8.1: a response may end with
        # a HEADERS frame carrying the trailer section, after its DATA. They are sent
        # whenever the app announced them: unlike chunked HTTP/1.1, HTTP/2 frames a
        # trailer section on every response, and RFC 9110 makes no rule of the
        # request's "TE: trailers" (§10.1.4: it says the client will not discard them;
        # §6.5.1 asks only that the framing allow a trailer section). gRPC relies on
        # them; h2 refuses any TE but "trailers" on the way in (RFC 9113 §8.2.2).
        self.trailers = fields

    def interim(self, message: bytes) -> None:
        """RFC 9113 §8.1: an interim response (103 Early Hints, RFC 8297) is a HEADERS
        frame with a 1xx ``:status`` and without END_STREAM, before the final head.
        ``message`` is the checked HTTP/1.1 form (``http11.informational_response``)."""
        # A final head still waiting in ``self.head`` goes out after this; one already
        # sent makes h2 refuse ("information response after final response"), and
        # send_interim drops the hint (the cycle sends none that late anyway).
        if not self.reset and not self.ended:
            self.conn.send_interim(self, interim_fields(message))

    def response_complete(self, cycle: HTTPCycle) -> None:
        self.conn.server_state.total_requests += 1
        self.end_due = True
        self.conn.flush(self)
        self.conn.response_done(self)

    def error_response(self, status: int, reason: str) -> bytes:
        conn = self.conn
        fields, body = error_fields(status, reason, conn.default_headers, conn.date_header)
        self.head = fields
        return body

    def abort(self) -> None:
        # RFC 9113 §5.4.2: the response cannot be completed; the stream ends with an
        # error, the connection and its other streams go on.
        self.conn.reset_stream(self, ErrorCodes.INTERNAL_ERROR)

    def can_sendfile(self) -> bool:
        return False

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> int:
        raise RuntimeError("sendfile is not used over HTTP/2")

    # --- driven by the connection ------------------------------------------------

    def gone(self) -> None:
        """The stream was reset or the connection lost: wake everything waiting."""
        self.reset = True
        self.pending.clear()
        cycle = self.cycle
        if cycle is not None and cycle.response is not _COMPLETE:
            cycle.connection_lost()
        self.flow.connection_lost()
        ws = self.ws
        if ws is not None:
            ws.lost()

    def _task_finished(self, task: asyncio.Task[None]) -> None:
        self.task_done = True
        self.conn.task_finished(self)


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection. Owns the h2 state machine, the streams, the timer and
    the connection's flow control."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app: Any,
        app_state: dict[str, Any],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config = config
        self.server_state = server_state
        self.app = app
        self.app_state = app_state
        self.loop = loop or asyncio.get_event_loop()
        self.limits = H2Limits(config)
        self.h2 = new_connection(self.limits)
        self.transport: asyncio.Transport | None = None
        self.flow = FlowControl(None, self.loop)
        self.info: ConnectionInfo | None = None
        self.streams: dict[int, H2Stream] = {}
        self.running = 0  # apps still running for this connection's streams
        self.default_headers = http11.WriterDefaults.of(server_state.default_headers)
        self.date_header = config.date_header
        self.access_log = AccessLog.from_config(config)
        self.resets = RateBudget(self.limits.resets)
        self.control = RateBudget(self.limits.control_frames)
        self.goaway_last: int | None = None  # set by shutdown(): the last stream served
        self.closed = False
        self._lingering: LingeringClose | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._preface_done = False  # the client's preface and first SETTINGS arrived
        # --health-path: answered by the server, never by the app (as over HTTP/1.1).
        self._health_path: bytes | None = (
            config.health_path.encode("utf-8") if config.health_path else None
        )
        self._block_since = 0.0  # when the header block still open began to arrive
        buffer = self.h2.incoming_buffer
        assert isinstance(buffer, BoundedFrameBuffer)
        self._frame_buffer = buffer
        limits = self.limits
        # The timer's period: half the shortest connection-level wait; a quarter of the
        # body timeout and of the rate grace when those are on (as over HTTP/1.1).
        tick = min(config.timeout_keep_alive, limits.window_timeout, limits.head_timeout) / 2
        if limits.gap_limit is not None:
            tick = min(tick, limits.gap_limit / 4)
        if limits.min_rate is not None:
            tick = min(tick, limits.rate_grace / 4)
        self._tick = max(tick, 0.05)

    # --- taking over a transport ----------------------------------------------------

    def take_over(
        self,
        transport: asyncio.Transport,
        info: ConnectionInfo,
        flow: FlowControl,
        data: bytes,
    ) -> None:
        """Serve ``transport`` from now on: send our SETTINGS, then process ``data``
        (bytes the HTTP/1.1 protocol already read: the preface and what followed)."""
        self.transport = transport
        self.info = info
        self.flow = flow
        self.server_state.connections.add(self)
        h2c = self.h2
        h2c.initiate_connection()
        # RFC 9113 §6.9.2: the connection window starts at 65,535 whatever SETTINGS say;
        # open it so several streams can upload at once.
        h2c.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._write_out()
        self._idle_since = self.loop.time()
        self._arm_timer()
        if data:
            self.data_received(data)

    # --- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Only when used directly as a protocol factory (tests); the server hands
        # connections over from HTTPProtocol through take_over().
        self.take_over(
            transport,  # type: ignore[arg-type]
            ConnectionInfo(transport, self.config, self.app_state),
            FlowControl(transport, self.loop),
            b"",
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self.server_state.connections.discard(self)
        self._cancel_timer()
        for stream in list(self.streams.values()):
            stream.gone()
        self.flow.connection_lost()

    def eof_received(self) -> bool | None:
        # No half-close in HTTP/2: streams end with END_STREAM, and a client that
        # sends nothing more cannot open windows either. Close.
        if self._lingering is not None:
            self._lingering.eof()
        return None

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()
        self._flush_all()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            if self._lingering is not None:
                self._lingering.received(len(data))
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued GOAWAY with the error's code (PROTOCOL_ERROR, FRAME_SIZE_ERROR,
            # ENHANCE_YOUR_CALM for an HPACK bomb or a header-block flood …).
            error_logger.info(
                "%s - invalid HTTP/2: %s (GOAWAY %s)",
                self._client_str(),
                exc,
                getattr(exc, "error_code", ErrorCodes.PROTOCOL_ERROR).name,
            )
            self._write_out()
            self._close_transport(linger=True)
            return
        for event in events:
            self._handle(event)
            if self.closed:
                return
        if self._frame_buffer.header_block_open:
            if not self._block_since:
                self._block_since = self.loop.time()
        elif self._block_since:
            self._block_since = 0.0
        self._write_out()

    # --- events ----------------------------------------------------------------------

    def _handle(self, event: h2.events.Event) -> None:
        kind = type(event)
        if kind is h2.events.DataReceived:
            self._on_data(event)  # type: ignore[arg-type]
        elif kind is h2.events.RequestReceived:
            self._on_request(event)  # type: ignore[arg-type]
        elif kind is h2.events.StreamEnded:
            stream = self.streams.get(event.stream_id)  # type: ignore[attr-defined]
            if stream is not None:
                stream.client_ended = True
                if stream.cycle is not None:
                    stream.cycle.body_end()
                elif stream.ws is not None:
                    # RFC 8441 §5: END_STREAM is the WebSocket's TCP FIN: nothing more
                    # will come; the stream closes (as our socket transports do at EOF).
                    stream.ws.close()
                self._forget_if_done(stream)
        elif kind is h2.events.WindowUpdated:
            stream_id = event.stream_id  # type: ignore[attr-defined]
            if stream_id:
                stream = self.streams.get(stream_id)
                if stream is not None and stream.pending:
                    self.flush(stream)
            else:
                self._flush_all()
        elif kind is h2.events.StreamReset:
            self._on_reset(event)  # type: ignore[arg-type]
        elif kind is h2.events.RemoteSettingsChanged:
            # RFC 9113 §3.4: the client preface ends with a SETTINGS frame.
            self._preface_done = True
            self._spend_control("SETTINGS")
            if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:  # type: ignore[attr-defined]
                self._flush_all()
        elif kind is h2.events.PingReceived:
            self._spend_control("PING")
        elif kind is h2.events.PriorityUpdated:
            # A HEADERS frame's own priority comes as this event too: only a PRIORITY
            # frame of its own costs budget.
            if event.stream_id not in self.streams:  # type: ignore[attr-defined]
                self._spend_control("PRIORITY")
        elif kind is h2.events.UnknownFrameReceived:
            self._spend_control("unknown frame")
        elif kind is h2.events.ConnectionTerminated:
            # The client's GOAWAY. h2 treats it as the end of the connection (its state
            # machine sends nothing after it), so the streams still running end here;
            # clients send it once they are done.
            error_logger.debug(
                "%s - client GOAWAY %s",
                self._client_str(),
                event.error_code,  # type: ignore[attr-defined]
            )
            self._close_transport()
        # TrailersReceived (ASGI has no request trailers: dropped), SettingsAcknowledged,
        # PingAckReceived: nothing to do.

    def _spend_control(self, what: str) -> None:
        # SETTINGS/PING floods (CVE-2019-9515, -9512), PRIORITY (-9513), unknown and
        # empty frames (-9518): each makes us work or write without a request.
        if self.control.spend(self.loop.time()):
            self._calm(f"more than {self.limits.control_frames} control frames ({what})")

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None and event.headers is not None
        headers: list[tuple[bytes, bytes]] = event.headers
        if self.goaway_last is not None and stream_id > self.goaway_last:
            # After our GOAWAY: not processed, safe to retry elsewhere (RFC 9113 §8.7).
            self._refuse(stream_id)
            return
        if self.running >= self.limits.max_streams:
            # h2 counts open streams; a stream the client reset is closed for h2 but
            # its app may still run. Apps per connection stay within the advertised
            # limit (the rapid-reset lesson, CVE-2023-44487).
            self._refuse(stream_id)
            return
        method = b""
        for name, value in headers:
            if name == b":method":
                method = value
                break
        stream = H2Stream(self, stream_id, method)
        self.streams[stream_id] = stream
        ended = event.stream_ended is not None
        stream.client_ended = ended
        limit = self.config.limit_concurrency
        info = self.info
        assert info is not None
        try:
            request, expect, secure = request_from_headers(headers, self.limits)
        except http11.ProtocolError as exc:
            error_logger.info(
                "%s - invalid HTTP/2 request: %d %s", info.client_str(), exc.status, exc.reason
            )
            self._answer(stream, exc.status, exc.reason)
            return
        if limit is not None and (
            len(self.server_state.connections) > limit or len(self.server_state.tasks) >= limit
        ):
            error_logger.warning("Exceeded concurrency limit (%d): 503", limit)
            self._answer(stream, 503, "Service Unavailable")
            return
        if request.method == b"CONNECT":
            # Extended CONNECT, checked by request_from_headers (RFC 8441).
            self._open_websocket(stream, request, info, secure)
            return
        cycle = HTTPCycle(http_scope(info, request, secure), request, stream, self.access_log)
        # HTTP/2 frames the body itself: a request has one unless HEADERS ended the
        # stream (RFC 9113 §8.1), whatever Content-Length says.
        cycle.body_complete = ended
        stream.continue_due = expect and not ended
        stream.cycle = cycle
        self._idle_since = 0.0
        limits = self.limits
        if not ended and (limits.gap_limit is not None or limits.min_rate is not None):
            stream.body_clock = BodyClock(
                limits.gap_limit, limits.min_rate, limits.rate_grace, self.loop.time()
            )
        if limits.timeout_app is not None:
            self._arm_app_timeout(stream, limits.timeout_app)
        app = self.app
        if request.path == self._health_path and (method == b"GET" or method == b"HEAD"):
            app = HealthApp(self.server_state)
        tasks = self.server_state.tasks
        task = cycle.task = self.loop.create_task(cycle.run_asgi(app, tasks))
        tasks.add(task)
        stream.task_done = False
        self.running += 1
        task.add_done_callback(stream._task_finished)

    def _open_websocket(
        self, stream: H2Stream, request: http11.Request, info: ConnectionInfo, secure: bool | None
    ) -> None:
        from asgi_magic.server.h2_websocket import open_websocket

        if stream.client_ended:
            # RFC 8441 §5: the stream carries the WebSocket; one the client ended with
            # its HEADERS can carry nothing from it.
            error_logger.info("%s - WebSocket request ended its stream: 400", info.client_str())
            self._answer(stream, 400, "WebSocket request without a stream to run on")
            return
        protocol = open_websocket(self, stream, request, info, secure)
        task = protocol.task
        if task is not None:  # None: the handshake was refused, the stream answered
            stream.task_done = False
            self.running += 1
            task.add_done_callback(stream._task_finished)

    def _answer(self, stream: H2Stream, status: int, reason: str) -> None:
        """A response of the server's own (400, 413, 503 …) on ``stream``; no app."""
        body = stream.error_response(status, reason)
        stream.pending.append(memoryview(body))
        stream.end_due = True
        self.flush(stream)
        self.response_done(stream)

    def _refuse(self, stream_id: int) -> None:
        try:
            self.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
        except h2.exceptions.ProtocolError:
            pass

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None and event.data is not None
        size = event.flow_controlled_length or 0
        data = event.data
        stream = self.streams.get(stream_id)
        if not data and event.stream_ended is None:
            self._spend_control("empty DATA")
        if stream is None or stream.reset:
            self._ack(stream_id, size)
            return
        stream.unacked += size
        ws = stream.ws
        if ws is not None:
            # WebSocket frames (RFC 8441 §5). The window goes back at once unless the
            # WebSocket stopped reading (its app's queue is full, or the client does not
            # read ours): then the client can send one stream window more, no further.
            protocol = ws.protocol
            if data and protocol is not None and not ws.is_closing():
                protocol.data_received(data)
            if ws.reading or ws.is_closing():
                self.acknowledge(stream)
            return
        cycle = stream.cycle
        if cycle is None or cycle.response is _COMPLETE:
            # Nobody will read it (a server answer, a finished response): give the
            # window back at once.
            self.acknowledge(stream)
            return
        stream.received += len(data)
        max_body = self.limits.max_body
        if max_body is not None and stream.received > max_body:
            error_logger.info("%s - request body too large: 413", self._client_str())
            self._fail_stream(stream, cycle, 413, "Content Too Large")
            return
        if data:
            cycle.body_data(data)

    def _fail_stream(self, stream: H2Stream, cycle: HTTPCycle, status: int, reason: str) -> None:
        """End a request the client got wrong (a body too large, too slow). As over
        HTTP/1.1, the app sees a disconnect (its ``send()`` raises); the client gets
        ``status`` on the stream if no response had started, else the stream ends with
        RST_STREAM CANCEL (RFC 9113 §5.4.2: a stream error; the connection goes on)."""
        if cycle.response is _NOT_STARTED:
            cycle.refused(status)  # logged with the status the client gets
            self._answer(stream, status, reason)
        else:
            cycle.connection_lost()
            self.reset_stream(stream, ErrorCodes.CANCEL)

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.get(event.stream_id or 0)
        if stream is None:
            return
        cycle = stream.cycle
        # Rapid reset (CVE-2023-44487): streams opened and reset at once cost us an app
        # start each while never counting against the stream limit.
        running = (cycle is not None and cycle.response is not _COMPLETE) or (
            stream.ws is not None and not stream.task_done
        )
        if running and self.resets.spend(self.loop.time()):
            self._calm(f"more than {self.limits.resets} streams reset by the client")
            return
        if stream.unacked:
            self.acknowledge(stream)
        stream.gone()
        self._forget_if_done(stream)

    def _calm(self, why: str) -> None:
        error_logger.warning("%s - %s: GOAWAY ENHANCE_YOUR_CALM", self._client_str(), why)
        self.close(ErrorCodes.ENHANCE_YOUR_CALM, why.encode("ascii", "replace"))

    # --- sending ------------------------------------------------------------------------

    def flush(self, stream: H2Stream) -> None:
        """Send the stream's HEADERS, then as much DATA as the windows allow, then
        END_STREAM once nothing is left; pause the stream's writer while DATA waits."""
        if self.closed or stream.reset:
            return
        h2c = self.h2
        stream_id = stream.stream_id
        pending = stream.pending
        progress = False
        try:
            # With a trailer section due, the last DATA does not end the stream: the
            # trailers' HEADERS does (RFC 9113 §8.1).
            last = stream.end_due and stream.trailers is None
            if stream.head is not None:
                head = stream.head
                stream.head = None
                end = last and not pending
                h2c.send_headers(stream_id, head, end_stream=end)
                stream.ended = end
            while pending and not self.flow.write_paused:
                window = min(h2c.local_flow_control_window(stream_id), h2c.max_outbound_frame_size)
                if window <= 0:
                    break
                chunk = pending[0]
                if len(chunk) > window:
                    pending[0] = chunk[window:]
                    chunk = chunk[:window]
                else:
                    pending.popleft()
                end = last and not pending
                h2c.send_data(stream_id, chunk.tobytes(), end_stream=end)
                stream.ended = end
                progress = True
            if stream.end_due and not pending and not stream.ended:
                trailers = stream.trailers
                if trailers is not None:
                    stream.trailers = None
                    h2c.send_headers(stream_id, trailers, end_stream=True)
                else:
                    h2c.end_stream(stream_id)
                stream.ended = True
        except h2.exceptions.ProtocolError:
            # The stream closed under us (a reset crossed our DATA) or the connection
            # did: nothing more can go out on it.
            pending.clear()
        self._write_out()
        if pending:
            # The stall clock runs from the last time the window let anything through:
            # a client that reads slowly is not a client that never reads.
            if progress or self.flow.write_paused:
                stream.stalled_since = 0.0
            if not stream.stalled_since and not self.flow.write_paused:
                stream.stalled_since = self.loop.time()
            stream.flow.pause_writing()
        else:
            stream.stalled_since = 0.0
            if stream.flow.write_paused:
                stream.flow.resume_writing()

    def _flush_all(self) -> None:
        for stream in list(self.streams.values()):
            if stream.pending or stream.head is not None:
                self.flush(stream)

    def send_interim(self, stream: H2Stream, fields: list[tuple[bytes, bytes]]) -> None:
        """A 1xx HEADERS frame (``fields`` from ``:status`` on), now, without END_STREAM."""
        if self.closed:
            return
        try:
            self.h2.send_headers(stream.stream_id, fields)
        except h2.exceptions.ProtocolError:
            return
        self._write_out()

    def acknowledge(self, stream: H2Stream) -> None:
        size = stream.unacked
        stream.unacked = 0
        self._ack(stream.stream_id, size)
        self._write_out()

    def _ack(self, stream_id: int, size: int) -> None:
        if size and not self.closed:
            try:
                self.h2.acknowledge_received_data(size, stream_id)
            except h2.exceptions.ProtocolError:
                pass  # the stream is long gone; its bytes no longer count

    def reset_stream(self, stream: H2Stream, code: ErrorCodes) -> None:
        if stream.reset or self.closed:
            return
        try:
            self.h2.reset_stream(stream.stream_id, code)
        except h2.exceptions.ProtocolError:
            pass
        if stream.unacked:
            self.acknowledge(stream)
        stream.gone()
        self._write_out()
        self._forget_if_done(stream)

    def response_done(self, stream: H2Stream) -> None:
        if not stream.client_ended and not stream.reset and stream.ended:
            # RFC 9113 §8.1: the response is complete before the request: tell the
            # client to stop sending with RST_STREAM NO_ERROR.
            self.reset_stream(stream, ErrorCodes.NO_ERROR)
        if stream.unacked:
            self.acknowledge(stream)
        self._forget_if_done(stream)

    def task_finished(self, stream: H2Stream) -> None:
        self.running -= 1
        self._forget_if_done(stream)

    def _forget_if_done(self, stream: H2Stream) -> None:
        if not stream.task_done:
            return
        finished = stream.reset or (stream.ended and stream.client_ended and not stream.pending)
        if finished and self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
            if not self.streams:
                self._idle_since = self.loop.time()
                if self.goaway_last is not None:
                    self.close(ErrorCodes.NO_ERROR)

    def _write_out(self) -> None:
        data = self.h2.data_to_send()
        transport = self.transport
        if data and transport is not None:
            transport.write(data)

    # --- closing ------------------------------------------------------------------------

    def close(self, code: ErrorCodes, debug: bytes = b"") -> None:
        """GOAWAY with ``code``, then close the connection after what was written."""
        if self.closed:
            return
        try:
            self.h2.close_connection(code, additional_data=debug or None)
        except h2.exceptions.ProtocolError:
            pass
        self._write_out()
        self._close_transport(linger=True)

    def _close_transport(self, linger: bool = False) -> None:
        """Close after what was written. With ``linger`` (after a GOAWAY for an error,
        while the client may still be sending) half-close first, so the client reads
        the GOAWAY instead of a reset (``closing.LingeringClose``)."""
        self.closed = True
        self._cancel_timer()
        transport = self.transport
        if transport is not None and self._lingering is None:
            if linger:
                self._lingering = LingeringClose(transport, self.loop)
            else:
                transport.close()

    def abort(self) -> None:
        """Forced shutdown: drop the connection."""
        self._close_transport()

    def shutdown(self) -> None:
        """Graceful shutdown: GOAWAY NO_ERROR; in-flight streams finish (those waiting
        in ``receive()`` are told ``http.disconnect``), new ones are refused, and the
        connection closes once the last stream is done.

        The GOAWAY is written here, not through h2's ``close_connection`` (which would
        close h2's state machine at once and end the streams still running); the final
        GOAWAY goes through h2 when they are done (RFC 9113 §6.8 allows several)."""
        if self.closed or self.goaway_last is not None:
            return
        last = self.goaway_last = self.h2.highest_inbound_stream_id
        if not self.streams:
            self.close(ErrorCodes.NO_ERROR)
            return
        self._write_out()
        transport = self.transport
        if transport is not None:
            frame = GoAwayFrame(stream_id=0, last_stream_id=last, error_code=ErrorCodes.NO_ERROR)
            transport.write(frame.serialize())
        # As over HTTP/1.1: a long response (SSE, long-poll) whose app waits in
        # receive() is told http.disconnect now, and a stream it leaves open is ended
        # cleanly (END_STREAM), instead of running to the graceful deadline.
        for stream in list(self.streams.values()):
            cycle = stream.cycle
            if cycle is not None and cycle.response is not _COMPLETE:
                cycle.drain_notice()

    # --- timer ------------------------------------------------------------------------------

    def _arm_timer(self, delay: float | None = None) -> None:
        self._timer = self.loop.call_later(
            self._tick if delay is None else max(delay, 0.01), self._on_timer
        )

    def _arm_app_timeout(self, stream: H2Stream, timeout: float) -> None:
        # The one timer must look at the stream's deadline at the latest.
        due = stream.app_due = self.loop.time() + timeout
        timer = self._timer
        if timer is not None and timer.when() > due:
            timer.cancel()
            self._timer = self.loop.call_at(due, self._on_timer)

    def _cancel_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def _on_timer(self) -> None:
        self._timer = None
        if self.closed:
            return
        now = self.loop.time()
        delay = self._tick
        since = self._block_since
        if since and now - since >= self.limits.head_timeout:
            # A header block is a request head: it gets --timeout-request-head, however
            # steadily its CONTINUATIONs trickle (the slowloris defence; while it is
            # open nothing else can come on the connection, RFC 9113 §6.10).
            self._calm(f"header block not complete after {now - since:.3g} s")
            return
        if not self.streams:
            limit = self.config.timeout_keep_alive
            if not self._preface_done:
                # The preface is the first request head of an HTTP/2 connection: it
                # gets no longer than one (the slowloris defence, before any stream).
                limit = min(limit, self.limits.head_timeout)
            if self._idle_since and now - self._idle_since >= limit:
                error_logger.debug(
                    "%s - HTTP/2 %s timeout",
                    self._client_str(),
                    "idle" if self._preface_done else "preface",
                )
                self.close(ErrorCodes.NO_ERROR)
                return
        else:
            limit = self.limits.window_timeout
            for stream in list(self.streams.values()):
                since = stream.stalled_since
                if since and now - since >= limit:
                    # A window that never opens would hold the app (and its memory)
                    # forever: the zero-window stall.
                    error_logger.info(
                        "%s - stream %d: flow-control window shut for %.0f s: reset",
                        self._client_str(),
                        stream.stream_id,
                        limit,
                    )
                    self.reset_stream(stream, ErrorCodes.CANCEL)
                    continue
                cycle = stream.cycle
                if cycle is None or stream.reset or cycle.response is _COMPLETE:
                    continue
                due = stream.app_due
                if due and cycle.response is _NOT_STARTED:
                    if now >= due:
                        self._app_timed_out(stream, cycle)
                        continue
                    delay = min(delay, due - now)
                clock = stream.body_clock
                if clock is not None and not (stream.client_ended or cycle.peer_gone):
                    why = clock.look(now, cycle.received, self._client_may_send(stream, cycle))
                    if why is not None:
                        error_logger.info(
                            "%s - stream %d: %s: 408", self._client_str(), stream.stream_id, why
                        )
                        self._fail_stream(stream, cycle, 408, "Request Timeout")
        if not self.closed:
            self._arm_timer(delay)

    def _client_may_send(self, stream: H2Stream, cycle: HTTPCycle) -> bool:
        """The app waits in ``receive()`` for body bytes the client is free to send: the
        connection is being read and the flow-control windows (the stream's and the
        connection's, RFC 9113 §5.2) are open. A window that other streams' unread
        bodies have shut is not this client's stall."""
        if not cycle.awaiting_body or self.flow.read_paused:
            return False
        try:
            return self.h2.remote_flow_control_window(stream.stream_id) > 0
        except h2.exceptions.ProtocolError:
            return False  # the stream is closed for h2: nothing more can come

    def _app_timed_out(self, stream: H2Stream, cycle: HTTPCycle) -> None:
        error_logger.warning(
            "%s - stream %d: app did not start a response within %g s: 503, request cancelled",
            self._client_str(),
            stream.stream_id,
            self.limits.timeout_app,
        )
        # As over HTTP/1.1: the access log says 503 (what the client got); over HTTP/2
        # only this stream ends, the connection goes on.
        cycle.send_error(503, "Service Unavailable")
        task = cycle.task
        if task is not None:
            task.cancel()

    def _client_str(self) -> str:
        return self.info.client_str() if self.info is not None else "-"
