"""The per-connection HTTP/1.1 protocol: bytes from the socket to cycles and back.

One ``HTTPProtocol`` per TCP connection. It feeds the sans-IO parser, builds each
request's scope (``scope.py``), runs one ``HTTPCycle`` at a time, and owns the
connection's timers, its flow control (``flow_control.py``) and the decision whether
the connection persists after a response (``_may_keep_alive``/``response_complete``,
the one place that decides).

Connection states (``ConnState``; the allowed moves are the table ``_TRANSITIONS``)::

    (PROXY ──preamble──▶) IDLE ──bytes──▶ HEAD ──head──▶ BUSY ──response done──▶ IDLE
      │                │             │                  └─▶ DISCARDING ─▶ IDLE
      │                │             └─upgrade head──▶ UPGRADING ─▶ SWITCHED
      └────────────────┴──── error, timeout, close, EOF ──▶ CLOSING ─▶ CLOSED

* PROXY: only with ``--proxy-protocol``: waiting for the PROXY protocol preamble
  (``proxy_protocol.py``), bounded in bytes and by the request-head timeout; anything
  else closes the connection.
* IDLE: waiting for a request head, none of it received (keep-alive timeout).
* HEAD: part of a head received (request-head timeout, measured from its first byte).
* BUSY: a request is in flight: its app runs or its response is being written.
  Pipelined requests wait in the parser; reading pauses (one read's worth buffered).
* DISCARDING: the response is done but the app left body unread: read and drop up to
  ``DISCARD_LIMIT`` bytes, then serve the next request; more than that closes.
* UPGRADING / SWITCHED: a WebSocket upgrade; the transport goes to ``ws_protocol``.
* CLOSING: we are closing. With input possibly still arriving (an error answer, a
  body too large to discard) we half-close and read-and-drop for a short while
  (lingering close, RFC 9112 §9.6), so the peer's TCP stack does not reset the
  connection under the response we just wrote.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import sys
from enum import IntEnum
from typing import Any, BinaryIO

from asgi_magic import http11
from asgi_magic.config import Config
from asgi_magic.server._addresses import is_ssl
from asgi_magic.server.access_log import AccessLog
from asgi_magic.server.closing import DeliveryCheck, LingeringClose
from asgi_magic.server.exceptions import ClientDisconnected
from asgi_magic.server.flow_control import FlowControl
from asgi_magic.server.health import HealthApp
from asgi_magic.server.http_cycle import HTTPCycle, ResponseState
from asgi_magic.server.proxy_headers import proxy_for_peer, trust_from_config
from asgi_magic.server.proxy_protocol import ProxyProtocolError, parse_proxy_header
from asgi_magic.server.scope import ConnectionInfo, http_scope
from asgi_magic.server.slow_body import BodyClock
from asgi_magic.server.state import ServerState

__all__ = ["DISCARD_LIMIT", "ConnState", "HTTPProtocol", "limits_from_config"]

error_logger = logging.getLogger("asgi_magic.error")

_NEED_DATA = http11.NEED_DATA
_Request = http11.Request
_Data = http11.Data
_EndOfMessage = http11.EndOfMessage
_ProtocolError = http11.ProtocolError
_COMPLETE = ResponseState.COMPLETE

_NO_LOOP_SENDFILE = asyncio.AbstractEventLoop.sendfile
_os_sendfile = getattr(os, "sendfile", None)

# Python 3.12+: the app's task runs its first step inside the call that makes it
# (asyncio.Task(eager_start=True)), so an app that answers without waiting (most do)
# costs no scheduling and no extra loop iteration. Python 3.11 has no eager start; a
# task costs about 10,000 instructions of the ~112,000 of a pure-Python hello request
# there (callgrind, measured by driving the app with coro.send() instead). Driving
# the app without any task is not an option: anyio and asyncio.timeout need a current
# task from the first step on.
_EAGER_START = sys.version_info >= (3, 12)

# Request body an app left unread that we read and drop to keep the connection; past
# this the response says "close" (when the length is known in advance) or the
# connection closes once it is exceeded.
DISCARD_LIMIT = 1024 * 1024

# Bytes of pipelined responses gathered before they are written anyway (_uncork):
# bounded output held back, at most one socket buffer's worth.
CORK_LIMIT = 64 * 1024


class ConnState(IntEnum):
    # IntEnum, not Enum: its members hash and compare in C (the hot path asks).
    IDLE = 0
    HEAD = 1
    BUSY = 2
    DISCARDING = 3
    UPGRADING = 4
    SWITCHED = 5
    CLOSING = 6
    CLOSED = 7
    PROXY = 8


_IDLE = ConnState.IDLE
_HEAD = ConnState.HEAD
_BUSY = ConnState.BUSY
_DISCARDING = ConnState.DISCARDING
_UPGRADING = ConnState.UPGRADING
_SWITCHED = ConnState.SWITCHED
_CLOSING = ConnState.CLOSING
_CLOSED = ConnState.CLOSED
_PROXY = ConnState.PROXY

_TRANSITIONS: dict[ConnState, frozenset[ConnState]] = {
    _IDLE: frozenset((_HEAD, _BUSY, _UPGRADING, _SWITCHED, _CLOSING, _CLOSED)),
    _HEAD: frozenset((_BUSY, _UPGRADING, _SWITCHED, _CLOSING, _CLOSED)),
    _BUSY: frozenset((_IDLE, _DISCARDING, _CLOSING, _CLOSED)),
    _DISCARDING: frozenset((_IDLE, _CLOSING, _CLOSED)),
    _UPGRADING: frozenset((_SWITCHED, _CLOSING, _CLOSED)),
    _SWITCHED: frozenset(),
    _CLOSING: frozenset((_CLOSED,)),
    _CLOSED: frozenset(),
    _PROXY: frozenset((_IDLE, _CLOSING, _CLOSED)),
}
_ACCEPTS_INPUT = frozenset((_IDLE, _HEAD, _BUSY, _DISCARDING, _UPGRADING))


def limits_from_config(config: Config) -> http11.Limits:
    return http11.Limits(
        max_request_line=config.limit_request_line,
        max_head=config.limit_request_head,
        max_fields=config.limit_request_fields,
        max_body=config.limit_request_body,
    )


# RFC 9113 §3.4: the part of the HTTP/2 client preface that looks like an HTTP/1.1
# request head; it can only start a connection.
_H2_PREFACE_HEAD = b"PRI * HTTP/2.0\r\n\r\n"


def http2_enabled(config: Config) -> bool:
    """``--http2`` (default: on when the optional ``h2`` package is installed)."""
    if config.http2 is False:
        return False
    # Found, not imported: h2 is loaded by the first HTTP/2 connection, so a server that
    # never sees one carries none of it.
    try:
        return importlib.util.find_spec("h2") is not None
    except (ImportError, ValueError):
        return False


def _load_ws_protocol() -> type | None:
    # Imported lazily: the WebSocket stack is optional (--ws none) and written apart.
    try:
        from asgi_magic.server.ws_protocol import WebSocketProtocol
    except ImportError:
        return None
    return WebSocketProtocol


class _Watch:
    """A connection's optional, rarely touched state: the settings and marks of the
    slow-body and app-timeout checks, the health path and the PROXY preamble buffer.

    One object, so the protocol keeps few fields of its own: every connection pays
    for each one at creation, and these are read only by the timer, per request only
    when ``hooks`` says there is something to do."""

    __slots__ = (
        "body_look",
        "clock",
        "cycle",
        "gap_limit",
        "health_path",
        "hooks",
        "min_rate",
        "preamble",
        "rate_grace",
        "request_start",
        "timeout_app",
    )

    def __init__(self, config: Config) -> None:
        self.gap_limit = config.timeout_request_body or None
        self.min_rate = config.min_request_body_rate or None
        self.rate_grace = config.min_request_body_rate_grace
        self.timeout_app = config.timeout_app or None
        self.health_path: bytes | None = (
            config.health_path.encode("utf-8") if config.health_path else None
        )
        # How soon the timer looks at a request body once it starts (slow-body checks
        # on), as _busy_tick looks again: a quarter of the gap or of the rate's grace.
        looks = []
        if self.gap_limit is not None:
            looks.append(max(self.gap_limit / 4, 0.05))
        if self.min_rate is not None:
            looks.append(max(self.rate_grace / 4, 0.05))
        self.body_look: float | None = min(looks) if looks else None
        self.hooks = self.timeout_app is not None or self.health_path is not None
        """Something to do per request (app timeout, health path)."""
        self.request_start = 0.0
        self.cycle: HTTPCycle | None = None  # the request the clock is about
        self.clock: BodyClock | None = None  # its slow-body marks
        self.preamble = b""  # PROXY protocol bytes received so far


class HTTPProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection. Owns: the parser, the current cycle, the connection
    state, the timer, flow control and the keep-alive decision."""

    # Slots: more than ~30 instance attributes would put every attribute access on
    # CPython's slower dictionary path, and this object is on the hot path.
    __slots__ = (
        "_checks_step_of",
        "_corked",
        "_corked_size",
        "_discarded",
        "_fresh",
        "_lingering",
        "_peer_eof",
        "_pipeline_deferred",
        "_shutting_down",
        "_since",
        "_timer",
        "_upgrade",
        "_wait_delay",
        "_watch",
        "access_log",
        "app",
        "app_state",
        "config",
        "connections",
        "cycle",
        "date_header",
        "default_headers",
        "flow",
        "info",
        "limit_concurrency",
        "limits",
        "loop",
        "parser",
        "server_state",
        "state",
        "tasks",
        "timeout_keep_alive",
        "timeout_request_head",
        "transport",
        "ws_enabled",
    )

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
        self.flow: FlowControl = FlowControl(None, self.loop)
        self.info: ConnectionInfo | None = None
        self.cycle: HTTPCycle | None = None
        self.state = _PROXY if config.proxy_protocol else _IDLE
        # Validated and joined once, shared by every response of every connection.
        self.default_headers = http11.WriterDefaults.of(server_state.default_headers)
        self.date_header = config.date_header
        self.access_log = AccessLog.from_config(config)
        self.ws_enabled = config.ws != "none"
        # Only the first bytes of a connection may be the HTTP/2 preface: the check
        # costs one attribute test per read. One attribute, not two: on CPython 3.11 an
        # instance with 30 or more attributes loses its inline attribute values, and
        # every attribute access of every request gets slower (~2% per request here).
        self._fresh = server_state.http2
        self.limit_concurrency = config.limit_concurrency
        self.timeout_keep_alive = config.timeout_keep_alive
        self.timeout_request_head = config.timeout_request_head
        # The optional watches (slow bodies, app timeout, health path, PROXY preamble),
        # all off the hot path, in one object (see _Watch).
        self._watch = _Watch(config)
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self._shutting_down = False
        self._upgrade: http11.Request | None = None
        self._pipeline_deferred = False
        # Responses to requests pipelined in one read are gathered here and written
        # together (see write() and _uncork()); None when not corked.
        self._corked: list[bytes] | None = None
        self._corked_size = 0
        # The cycle whose app's first step _first_step_done() will look at, if any.
        self._checks_step_of: HTTPCycle | None = None
        self._discarded = 0
        self._peer_eof = False
        self._lingering: LingeringClose | None = None
        # Timer: one handle, re-armed by itself for whatever wait is current (see
        # _on_timer); per request only the clock is read.
        self._timer: asyncio.TimerHandle | None = None
        self._since = 0.0  # when the current state's wait began
        self._wait_delay = min(self.timeout_keep_alive, self.timeout_request_head)

    # --- state -------------------------------------------------------------------------

    def _set_state(self, new: ConnState) -> None:
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"invalid connection state change {self.state} -> {new}")
        self.state = new

    # --- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self.transport = transport  # type: ignore[assignment]
        self.flow.transport = transport
        self.connections.add(self)
        self.info = ConnectionInfo(transport, self.config, self.app_state)
        if error_logger.isEnabledFor(5):
            error_logger.log(5, "%s - connection made", self.info.client_str())
        if self._fresh and self.info.secure:
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
                self._switch_to_http2(b"")  # RFC 9113 §3.2: ALPN chose HTTP/2
                return
        self._since = self.loop.time()
        self._timer = self.loop.call_later(self._wait_delay, self._on_timer)
        if self.state is _PROXY and not trust_from_config(self.config).trusts_peer(
            self.info.client
        ):
            # HAProxy proxy-protocol.txt §2: only trusted proxies may use the protocol,
            # or anyone could claim any address.
            self._proxy_refused("peer not in --forwarded-allow-ips")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state is _SWITCHED:
            return
        self.state = _CLOSED  # from any state
        self._corked = None
        self.connections.discard(self)
        self._cancel_timer()
        cycle = self.cycle
        if cycle is not None:
            lingering = self._lingering
            cycle.connection_lost(exc is not None or getattr(lingering, "peer_reset", False))
        self.flow.connection_lost()
        self.transport = None

    def eof_received(self) -> bool | None:
        state = self.state
        if state is _PROXY:
            self._proxy_refused("connection closed before the header")
            return None
        self._peer_eof = True
        self.parser.feed_eof()
        tls = self.info is not None and self.info.secure
        if state is _HEAD:
            # A head cut off by end-of-file: the parser answers 400 (and the log says
            # so); the peer may still read it (half-close).
            self._process()
            return None if tls or self.state is _CLOSED else True
        if state is _BUSY:
            cycle = self.cycle
            assert cycle is not None
            if not cycle.body_complete:
                # The rest of the body can never arrive: the exchange is over.
                cycle.connection_lost()
                return None
            # Half-close after a complete request (module doc of http_cycle): the app
            # is told at receive(); a response it sends is still written, then close.
            cycle.eof_received()
            return None if tls else True
        if state is _IDLE and self._pipeline_deferred and not tls:
            # Requests the client pipelined before it half-closed are still answered,
            # in order; the connection closes after the last one.
            return True
        if state is _CLOSING:
            self._close_now()  # the peer is done: no need to linger
        return None  # idle, discarding or lingering: let the transport close

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state not in _ACCEPTS_INPUT:
            if state is _CLOSING and self._lingering is not None:
                self._lingering.received(len(data))
            elif state is _PROXY:
                self._proxy_received(data)
            return
        if self._fresh and self._http2_preface(data):
            return
        try:
            self.parser.feed(data)
        except _ProtocolError as exc:
            self._protocol_error(exc)
            return
        if state is _BUSY:
            if self.cycle is not None and self.cycle.body_complete:
                # A pipelined request arrived while a response is still being produced:
                # stop reading so buffered input stays bounded (one read's worth).
                # Reading resumes when the response has ended.
                self.flow.pause_reading()
                return
        elif self._pipeline_deferred:
            # Requests already buffered wait for their turn (_resume_pipeline); these
            # bytes queue behind them, and reading pauses until the buffer is used up.
            # (An app that answers inside its eager first step leaves the connection
            # IDLE between reads, not BUSY: this is what bounds the buffer then.)
            self.flow.pause_reading()
            return
        self._process()

    def pause_writing(self) -> None:
        # The peer is not reading: neither do we (flow_control.py).
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()
        if self._pipeline_deferred and self.state is _IDLE:
            self._pipeline_deferred = False
            self._process()

    # --- the PROXY protocol preamble --------------------------------------------------

    def _proxy_received(self, data: bytes) -> None:
        watch = self._watch
        buffer = watch.preamble + data
        try:
            header = parse_proxy_header(buffer)
        except ProxyProtocolError as exc:
            self._proxy_refused(exc.reason)
            return
        if header is None:
            watch.preamble = buffer  # bounded by the parser (107 bytes, or v2's length)
            return
        watch.preamble = b""
        info = self.info
        assert info is not None
        if not header.local:
            info.client = header.client
            info.server = header.server
            info.http_template = None  # made again with these addresses
            # Proxy headers are judged by the real client now, not by the proxy that
            # sent the preamble (a TCP balancer passes the client's headers on as is).
            info.proxy = proxy_for_peer(self.config, info.client)
        self._set_state(_IDLE)
        self._since = self.loop.time()
        rest = buffer[header.length :]
        if rest:
            self.data_received(rest)

    def _proxy_refused(self, reason: str) -> None:
        error_logger.info("%s - PROXY protocol: %s: closing", self._client_str(), reason)
        self._watch.preamble = b""
        self._close(linger=False)

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
                if not self._on_request(event):  # type: ignore[arg-type]
                    return
            elif kind is _Data:
                cycle = self.cycle
                if cycle is not None:
                    cycle.body_data(event.data)  # type: ignore[union-attr]
                if self.state is _DISCARDING:
                    self._discarded += len(event.data)  # type: ignore[union-attr]
                    if self._discarded > DISCARD_LIMIT:
                        error_logger.debug(
                            "%s - unread request body over %d bytes: closing",
                            self._client_str(),
                            DISCARD_LIMIT,
                        )
                        self._close(linger=True)
                        return
            elif kind is _EndOfMessage:
                state = self.state
                if state is _UPGRADING:
                    self._switch_to_websocket()
                    return
                cycle = self.cycle
                if cycle is not None:
                    cycle.body_end()
                if state is _DISCARDING:
                    self._next_cycle()
                # Otherwise the parser says PAUSED until start_next_cycle(): the cycle
                # moves things on when its response is complete.
                return
            else:
                if event is _NEED_DATA:
                    if self._corked is not None:
                        self._uncork()  # the rest of the next request is not here yet
                    state = self.state
                    if state is _IDLE and parser.trailing_data:
                        # Part of a head: its deadline runs from its first byte.
                        self._set_state(_HEAD)
                        self._since = self.loop.time()
                        state = _HEAD
                    if state is not _BUSY and self.flow.read_paused:
                        # Between requests the parser's buffer is used up: read on.
                        # (While busy, the cycle paces reading by what the app takes.)
                        self.flow.resume_reading()
                return

    def _on_request(self, request: http11.Request) -> bool:
        """Start the exchange ``request`` begins. Returns whether the parser's next
        events belong to it (its body, or the end of an upgrade request); False when
        the request had no body (its EndOfMessage is taken here) or was refused."""
        info = self.info
        assert info is not None
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) > limit or len(self.tasks) >= limit):
            # Overload: answer 503 at once and close; the client may retry elsewhere.
            # Upgrades count too: a WebSocket holds a connection and a task.
            error_logger.warning("Exceeded concurrency limit (%d): 503", limit)
            self._write_error(503, "Service Unavailable")
            return False
        if (
            request.upgrade == b"websocket"
            and self.ws_enabled
            and request.method == b"GET"
            and request.content_length is None
            and not request.chunked
        ):
            if _load_ws_protocol() is None:
                self.ws_enabled = False
            else:
                # The upgrade happens at end of message (the parser's EndOfMessage).
                self._set_state(_UPGRADING)
                self._upgrade = request
                return True
        cycle = HTTPCycle(
            http_scope(info, request),
            request,
            self,
            self.access_log,
        )
        # IDLE/HEAD → BUSY: a request event only comes in those states (the table's
        # check is skipped on the two moves every request makes).
        self.state = _BUSY
        self.cycle = cycle
        if self._peer_eof:
            cycle.eof_received()  # pipelined before the client half-closed
        app = self.app
        watch = self._watch
        if watch.hooks:  # one check on the hot path for every optional feature
            if watch.timeout_app is not None:
                self._arm_app_timeout(watch.timeout_app)
            if request.path == watch.health_path and (
                request.method == b"GET" or request.method == b"HEAD"
            ):
                app = HealthApp(self.server_state)  # answered by the server itself
        tasks = self.tasks
        coro = cycle.run_asgi(app, tasks)
        if request.chunked or request.content_length:
            body_look = watch.body_look
            if body_look is not None:
                # The slow-body checks look from the body's start, not at the next
                # keep-alive look (which may be seconds away).
                self._look_by(self.loop.time() + body_look)
            cycle.task = task = self.loop.create_task(coro)
            tasks.add(task)
            if self._corked is not None:
                self._check_first_step(cycle)
            return True
        # No body (RFC 9112 §6.3): the parser's EndOfMessage is due now; take it before
        # the app runs, so an app that answers at once finds the parser ready for the
        # next request (start_next_cycle needs EndOfMessage first).
        self.parser.next_event()
        cycle.body_end()
        if _EAGER_START:
            task = asyncio.Task(coro, loop=self.loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            if task.done():
                return False  # answered already (the state is IDLE again, or CLOSING)
            self._uncork()  # its app waits on something: what was gathered goes now
        else:
            task = self.loop.create_task(coro)
            if self._corked is not None:
                self._check_first_step(cycle)
        cycle.task = task
        tasks.add(task)
        return False

    def _switch_to_websocket(self) -> None:
        ws_cls: Any = _load_ws_protocol()
        transport = self.transport
        request = self._upgrade
        if transport is None or request is None:
            return
        self._uncork()  # responses to the requests pipelined before the upgrade
        self._cancel_timer()
        self.connections.discard(self)
        self._set_state(_SWITCHED)  # this protocol is finished with the transport
        self._upgrade = None
        ws = ws_cls(self.config, self.server_state, self.app, self.app_state)
        transport.set_protocol(ws)
        ws.upgrade(transport, request, self.parser.trailing_data, info=self.info, flow=self.flow)

    def _http2_preface(self, data: bytes) -> bool:
        """Switch to HTTP/2 if the connection starts with its preface (prior knowledge,
        RFC 9113 §3.3); otherwise settle, after the first bytes, that it never will."""
        buffered = self.parser.trailing_data + data
        if buffered.startswith(_H2_PREFACE_HEAD):
            self._switch_to_http2(buffered)
            return True
        # A preface split across reads: look again at the next bytes.
        self._fresh = _H2_PREFACE_HEAD.startswith(buffered)
        return False

    def _switch_to_http2(self, data: bytes) -> None:
        from asgi_magic.server.h2_protocol import H2Protocol

        transport = self.transport
        info = self.info
        if transport is None or info is None:
            return
        self._cancel_timer()
        self.connections.discard(self)
        self._set_state(_SWITCHED)
        h2_protocol = H2Protocol(
            self.config, self.server_state, self.app, self.app_state, self.loop
        )
        transport.set_protocol(h2_protocol)
        h2_protocol.take_over(transport, info, self.flow, data)

    # --- CycleOwner interface ---------------------------------------------------------

    def write(self, data: bytes) -> None:
        corked = self._corked
        if corked is not None:
            corked.append(data)
            self._corked_size += len(data)
            if self._corked_size >= CORK_LIMIT:
                self._uncork()
            return
        transport = self.transport
        if transport is not None:
            transport.write(data)

    def _uncork(self) -> None:
        """Write what was gathered while corked, in one ``transport.write``.

        Corked: from the end of a response while more pipelined requests are already
        in the parser's buffer until that buffer is used up, a response stalls (its app
        is waiting on something after its first step), CORK_LIMIT bytes are gathered,
        or anything else is about to reach the transport (an upgrade, a file, a close).
        A client that pipelines 16 requests in one packet gets its 16 responses in
        two writes instead of 16 (RFC 9112 §9.3.2 only asks that they come in order).
        """
        corked = self._corked
        if corked is None:
            return
        self._corked = None
        self._corked_size = 0
        transport = self.transport
        if transport is not None and corked:
            transport.write(corked[0] if len(corked) == 1 else b"".join(corked))

    def _check_first_step(self, cycle: HTTPCycle) -> None:
        # Scheduled right after the task: runs after the first step of its app.
        self._checks_step_of = cycle
        self.loop.call_soon(self._first_step_done, cycle)

    def _first_step_done(self, cycle: HTTPCycle) -> None:
        """After the first step of a corked ``cycle``'s app. Its response is not complete:
        the app waits on something (a database, a timer, the body), and the responses
        gathered before it must not wait with it. Complete: this callback is the one
        that moves on to the next pipelined request (_next_cycle left that to it, which
        saves a loop callback per request)."""
        self._checks_step_of = None
        if self.cycle is cycle:
            self._uncork()
        else:
            self._resume_pipeline()

    def interim(self, message: bytes) -> None:
        self.write(message)  # a 1xx is a whole HTTP/1.1 message of its own

    def drain(self) -> asyncio.Future[None] | None:
        return self.flow.drain()

    def pause_reading(self) -> None:
        self.flow.pause_reading()

    def resume_reading(self) -> None:
        self.flow.resume_reading()

    def error_response(self, status: int, reason: str) -> bytes:
        return http11.error_response(
            status, reason, defaults=self.default_headers, date_header=self.date_header
        )

    def response_writer(self, cycle: HTTPCycle) -> http11.ResponseWriter:
        request = cycle.request
        return http11.ResponseWriter(
            request.method,
            request.http_version,
            self._may_keep_alive(cycle),
            self.default_headers,
            self.date_header,
            request.te_trailers,
        )

    def _may_keep_alive(self, cycle: HTTPCycle) -> bool:
        """Whether the connection may persist after ``cycle``'s response (decided when
        the response starts, so the head can say ``close``, RFC 9112 §9.6)."""
        request = cycle.request
        if (
            not request.keep_alive
            or self._shutting_down
            or (cycle.eof and not self.parser.trailing_data)  # nothing more will come
            or cycle.peer_gone
            or cycle.expect_100
        ):
            return False
        if not cycle.body_complete and request.content_length is not None:
            # Known size left unread: drop it only while that stays cheap.
            return request.content_length - cycle.received <= DISCARD_LIMIT
        return True

    def response_complete(self, cycle: HTTPCycle) -> None:
        self.server_state.total_requests += 1
        if self.state is not _BUSY:
            return
        writer = cycle.writer
        keep_alive = (
            writer is not None
            and writer.keep_alive
            and not self._shutting_down
            and not (cycle.eof and not self.parser.trailing_data)
            and not cycle.peer_gone
        )
        if not keep_alive:
            # Body bytes still on their way in must not reset the connection under
            # the response: half-close and drain them for a moment first.
            self._close(linger=not cycle.body_complete)
            return
        if cycle.eof:
            cycle.delivered()  # pipelined before a half-close: its line waited
        if cycle.body_complete:
            self._next_cycle()
        else:
            # The app answered without reading the whole body: read on and drop the
            # rest (bounded by DISCARD_LIMIT) so the connection can serve the next
            # request.
            self._set_state(_DISCARDING)
            self._discarded = 0
            self._since = self.loop.time()
            self.flow.resume_reading()

    def _next_cycle(self) -> None:
        self.cycle = None
        parser = self.parser
        parser.start_next_cycle()
        self.state = _IDLE  # BUSY/DISCARDING → IDLE, both in the table
        self._since = self.loop.time()
        if parser.trailing_data:
            # A pipelined request is already buffered. It is parsed in this protocol's
            # own callback, not inside the previous app's send(), and only once the
            # peer reads what we wrote (bounded output for a client that never reads).
            # Reading stays paused until the buffer is used up: one read's worth of
            # input at a time, however many requests it holds.
            self._pipeline_deferred = True
            if self._corked is None:
                self._corked = []
            if not self.flow.write_paused and self._checks_step_of is None:
                self.loop.call_soon(self._resume_pipeline)
        else:
            if self._corked is not None:
                self._uncork()  # the pipelined batch is answered
            if self.flow.read_paused:
                self.flow.resume_reading()

    def _resume_pipeline(self) -> None:
        if self._pipeline_deferred and self.state is _IDLE and not self.flow.write_paused:
            self._pipeline_deferred = False
            self._process()

    def abort(self) -> None:
        transport = self.transport
        if transport is not None and self.state is not _CLOSING and self.state is not _CLOSED:
            self._uncork()  # the complete responses before this one still go out
            self._set_state(_CLOSING)
            self._cancel_timer()
            transport.close()

    def can_sendfile(self) -> bool:
        transport = self.transport
        if transport is None or self.state is _CLOSING or _os_sendfile is None:
            return False
        # TLS must encrypt in user space; only a plain socket can take a file directly.
        return transport.get_extra_info("socket") is not None and not is_ssl(transport)

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> int:
        transport = self.transport
        if transport is None:
            raise ClientDisconnected("the client has disconnected")
        self._uncork()  # the head, and any responses before it, go first
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
                waiter = self.flow.drain()
                if waiter is not None:
                    await waiter
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
                    fut: asyncio.Future[None] = loop.create_future()
                    # connection_lost and resume_writing also wake it: a spurious
                    # wake-up only retries the send.
                    self.flow.add_waiter(fut)
                    loop.add_writer(fd, _wake, fut)
                    try:
                        await fut
                    finally:
                        loop.remove_writer(fd)
                    continue
                if n == 0:
                    break  # the file ended early
                sent += n
            return sent
        finally:
            os.close(fd)

    # --- errors and closing ------------------------------------------------------------

    def _protocol_error(self, exc: http11.ProtocolError) -> None:
        # One line, no traceback: a malformed request is the client's fault.
        error_logger.info(
            "%s - invalid HTTP request: %d %s", self._client_str(), exc.status, exc.reason
        )
        self._fail_request(exc.status, exc.reason)

    def _fail_request(self, status: int, reason: str) -> None:
        """End the request in flight (if any) with an error answer and close."""
        cycle = self.cycle
        if cycle is not None:
            # The app sees a disconnect: its request can never be completed.
            if cycle.response is not ResponseState.NOT_STARTED:
                # A response is under way (the body broke a rule mid-stream): we cannot
                # start another one, so the connection closes.
                cycle.connection_lost()
                self.abort()
                return
            cycle.refused(status)  # logged with the status the client gets
        self._write_error(status, reason)

    def _write_error(self, status: int, reason: str) -> None:
        transport = self.transport
        if transport is None or self.state is _CLOSING or self.state is _CLOSED:
            return
        self.write(self.error_response(status, reason))
        self._close(linger=True)

    def _close(self, linger: bool) -> None:
        """Close after what was written; with ``linger``, half-close first and read and
        drop the peer's remaining input for a moment (``closing.LingeringClose``)."""
        transport = self.transport
        if transport is None or self.state is _CLOSING or self.state is _CLOSED:
            return
        self._uncork()
        self._set_state(_CLOSING)
        self._cancel_timer()
        if linger and not self._peer_eof:
            self._lingering = LingeringClose(transport, self.loop)
        elif self._peer_eof:  # is the half-closed peer reading? (the access log asks)
            self._lingering = DeliveryCheck(transport, self.loop)
        else:
            transport.close()

    def _close_now(self) -> None:
        self._cancel_timer()
        if self._lingering is not None:
            self._lingering.close()
        elif self.transport is not None:
            self.transport.close()

    def _client_str(self) -> str:
        return self.info.client_str() if self.info is not None else "-"

    # --- timers --------------------------------------------------------------------

    def _cancel_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def _on_timer(self) -> None:
        # One handle, armed at connection_made and re-armed here for whatever wait is
        # current: creating and cancelling a TimerHandle per request costs more than
        # the whole scope dict.
        self._timer = None
        state = self.state
        if state is _CLOSING or state is _CLOSED or state is _SWITCHED:
            return
        elapsed = self.loop.time() - self._since
        if state is _IDLE and self._pipeline_deferred:
            # Requests already received wait for the client to read our earlier
            # responses (flow control): the connection is not idle, and closing it
            # would reset it under those requests. Look again later.
            limit = elapsed + self._wait_delay
        elif state is _IDLE or state is _DISCARDING:
            limit = self.timeout_keep_alive
            if elapsed >= limit:
                # Idle with nothing sent: close quietly (RFC 9112 §9.8 permits it).
                error_logger.debug("%s - keep-alive timeout", self._client_str())
                self._close(linger=state is _DISCARDING)
                return
            # Look again within one head timeout: a head that starts meanwhile must be
            # timed from its first byte, not from here.
            limit = min(limit, elapsed + self._wait_delay)
        elif state is _PROXY:
            if elapsed >= self.timeout_request_head:
                self._proxy_refused("no complete header in time")
                return
            limit = self.timeout_request_head
        elif state is _HEAD:
            limit = self.timeout_request_head
            if elapsed >= limit:
                # Slowloris defence: the head did not arrive in time.
                error_logger.info("%s - request head timeout: 408", self._client_str())
                self._write_error(408, "Request Timeout")
                return
        else:
            # A request is in progress: no head is due; look again later.
            limit = elapsed + self._wait_delay
            cycle = self.cycle
            if state is _BUSY and cycle is not None and cycle.response is not _COMPLETE:
                delay = self._busy_tick(cycle)
                if delay is None:
                    return  # the request was ended
                limit = elapsed + delay
        self._timer = self.loop.call_later(max(limit - elapsed, 0.01), self._on_timer)

    def _busy_tick(self, cycle: HTTPCycle) -> float | None:
        """The timer's look at a request in flight: the app timeout and the slow-body
        checks. Returns the delay to the next look, or None when it ended the request.

        Slow bodies are judged only from these looks, never per chunk: a body that
        does not move between two looks while the app waits for it is a gap; bytes per
        second of waiting is the rate. While the app is not waiting for the body, or
        reading is paused (the app's buffer is full, or the peer does not read our
        output), the client is not to blame and the clock restarts."""
        now = self.loop.time()
        delay = self._wait_delay
        w = self._watch
        timeout_app = w.timeout_app
        if timeout_app is not None and cycle.response is ResponseState.NOT_STARTED:
            due = w.request_start + timeout_app - now
            if due <= 0:
                self._app_timed_out(cycle, timeout_app)
                return None
            delay = min(delay, due)
        gap_limit = w.gap_limit
        min_rate = w.min_rate
        if (gap_limit is None and min_rate is None) or cycle.body_complete or cycle.peer_gone:
            return delay
        if cycle is not w.cycle or w.clock is None:
            # A new request: start measuring again (the rule is slow_body.BodyClock's,
            # the same for an HTTP/2 stream).
            w.cycle = cycle
            w.clock = BodyClock(gap_limit, min_rate, w.rate_grace, now)
        # Waiting: the app waits for body bytes and nothing on our side stops the
        # client (reading not paused by the app's full buffer or an unread response).
        why = w.clock.look(now, cycle.received, cycle.awaiting_body and not self.flow.read_paused)
        if why is not None:
            error_logger.info("%s - %s: 408", self._client_str(), why)
            self._fail_request(408, "Request Timeout")
            return None
        if w.body_look is not None:
            delay = min(delay, w.body_look)
        return delay

    def _arm_app_timeout(self, timeout: float) -> None:
        # Only with --timeout-app: the one timer must look at start + timeout at the
        # latest (re-armed only when it would look later than that).
        now = self._watch.request_start = self.loop.time()
        self._look_by(now + timeout)

    def _look_by(self, due: float) -> None:
        """Make the one timer look at ``due`` (loop time) at the latest: re-armed only
        when it would look later than that."""
        timer = self._timer
        if timer is None or timer.when() > due:
            self._cancel_timer()
            self._timer = self.loop.call_at(due, self._on_timer)

    def _app_timed_out(self, cycle: HTTPCycle, timeout: float) -> None:
        error_logger.warning(
            "%s - app did not start a response within %g s: 503, request cancelled",
            self._client_str(),
            timeout,
        )
        # The access log says 503 (what the client got), and the connection closes.
        cycle.send_error(503, "Service Unavailable")
        task = cycle.task
        if task is not None:
            task.cancel()

    # --- graceful shutdown -------------------------------------------------------------

    def shutdown(self) -> None:
        """Close now if idle; otherwise close after the response under way."""
        self._shutting_down = True
        state = self.state
        if state is _IDLE or state is _HEAD or state is _DISCARDING:
            self._close(linger=False)
        elif state is _BUSY and self.cycle is not None:
            # A long response (SSE, long-poll) learns of the shutdown now, not when it
            # is cancelled at the graceful deadline.
            self.cycle.drain_notice()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
