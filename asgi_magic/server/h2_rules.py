"""HTTP/2 without I/O: the h2 connection we configure, requests from HEADERS, response
fields for HEADERS, and the budgets that bound what a peer may make us do.

``h2`` (python-hyper) owns framing, HPACK and the stream state machine; this module
owns our policy on top of it, so ``h2_protocol.py`` only moves bytes and events:

* ``new_connection``: an ``h2.connection.H2Connection`` with our SETTINGS and a frame
  buffer that bounds a header block in bytes as well as in frames (CVE-2024-27316).
* ``request_from_headers``: the ``http11.Request`` the shared ``HTTPCycle`` takes,
  with the HTTP/1.1 parser's strictness (tokens, field bytes, limits, the same status
  codes) on top of what h2 checks (RFC 9113 §8.2-8.3).
* ``H2Framer``: the ``ResponseFramer`` for one stream. It runs the response through
  the very ``http11.ResponseWriter`` HTTP/1.1 uses, so status and header rules,
  default headers, Date and Content-Length enforcement are one implementation, and
  turns the checked head into HTTP/2 fields.
* ``RateBudget``: events per time window (resets, control frames).

No asyncio, no sockets, no logging (the layer rule of DESIGN.md, kept here although
the module lives in ``server/``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import h2.config
import h2.connection
import h2.exceptions
import h2.frame_buffer
import h2.settings
import hpack
from h2.errors import ErrorCodes
from hyperframe.frame import ContinuationFrame, Frame, HeadersFrame, PushPromiseFrame

from asgi_magic import http11

__all__ = [
    "CONNECTION_WINDOW",
    "BoundedFrameBuffer",
    "PREFACE",
    "RATE_WINDOW",
    "H2Framer",
    "H2Limits",
    "RateBudget",
    "error_fields",
    "interim_fields",
    "new_connection",
    "request_from_headers",
    "response_fields",
]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""RFC 9113 §3.4: the client connection preface."""

RATE_WINDOW = 10.0
"""Seconds over which resets and control frames are counted (``RateBudget``)."""

CONNECTION_WINDOW = 1024 * 1024
"""The connection-level receive window we open to (RFC 9113 §6.9.2: it starts at
65,535 whatever SETTINGS say). It bounds the request body one connection can have
buffered, all streams together; each stream's own window bounds it per stream."""

# A header block may arrive in at most this many frames (HEADERS + CONTINUATIONs);
# h2 stops at 64, we stop earlier: no legitimate client needs more than a few.
MAX_HEADER_FRAMES = 32

# RFC 9110 §5.6.2: field names are tokens (HTTP/2 adds: lower case, RFC 9113 §8.2.1).
_TCHAR_LOWER = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
# RFC 9110 §5.5: field-vchar / obs-text, with SP and HTAB inside; no other control.
_FIELD_VALUE_BYTES = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
# RFC 3986 §3.3/§3.4: what a path and query may hold (printable ASCII without SP; "#"
# is refused separately, with its own message, as the HTTP/1.1 parser does).
_TARGET_BYTES = bytes(range(0x21, 0x7F))
# RFC 3986 §3.2: authority = host [ ":" port ], no userinfo (RFC 9113 §8.3.1).
_AUTHORITY_RE = re.compile(
    rb"(?:\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z\-._~!$&'()*+,;=]+|(?:%[0-9A-Fa-f]{2})+)+(?::[0-9]*)?"
)
# RFC 9113 §8.2.2: connection-specific fields have no meaning in HTTP/2; an endpoint
# MUST NOT generate them. An app written for HTTP/1.1 may send them: they are dropped.
_CONNECTION_FIELDS = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te")
)


class H2Limits:
    """The HTTP/2 settings and budgets of one server, read once from ``Config``."""

    __slots__ = (
        "connect_protocol",
        "control_frames",
        "gap_limit",
        "head_timeout",
        "header_list_size",
        "initial_window",
        "max_body",
        "max_fields",
        "max_frame_size",
        "max_path",
        "max_streams",
        "min_rate",
        "rate_grace",
        "resets",
        "timeout_app",
        "window_timeout",
    )

    def __init__(self, config: Any) -> None:
        self.max_streams: int = config.http2_max_concurrent_streams
        self.header_list_size: int = config.http2_max_header_list_size
        self.max_frame_size: int = config.http2_max_frame_size
        self.initial_window: int = config.http2_initial_window_size
        self.resets: int = config.http2_max_resets
        self.control_frames: int = config.http2_max_control_frames
        self.window_timeout: float = config.http2_window_timeout
        # The HTTP/1.1 limits apply to the same things over HTTP/2.
        self.max_path: int = config.limit_request_line
        self.max_fields: int = config.limit_request_fields
        self.max_body: int | None = config.limit_request_body
        # The HTTP/1.1 timeouts too (docs/server/timeouts.md), per stream: a body that
        # stalls or trickles (None: off), an app that starts no response (None: off),
        # and the client preface, which plays the part of the first request head.
        self.gap_limit: float | None = config.timeout_request_body or None
        self.min_rate: float | None = config.min_request_body_rate or None
        self.rate_grace: float = config.min_request_body_rate_grace
        self.timeout_app: float | None = config.timeout_app or None
        self.head_timeout: float = config.timeout_request_head
        # RFC 8441: WebSocket over HTTP/2 (extended CONNECT), offered unless --ws none.
        self.connect_protocol: bool = config.ws != "none"


class _CompressionError(h2.exceptions.ProtocolError):
    """RFC 9113 §4.3: a header block that cannot be decompressed MUST be treated as a
    connection error of type COMPRESSION_ERROR (h2 would say PROTOCOL_ERROR)."""

    error_code = ErrorCodes.COMPRESSION_ERROR


class _Decoder(hpack.Decoder):
    def decode(self, data: bytes, raw: bool = False) -> Any:
        try:
            return super().decode(data, raw)
        except hpack.OversizedHeaderListError:
            raise  # h2 answers ENHANCE_YOUR_CALM: an HPACK bomb
        except (hpack.HPACKError, IndexError, TypeError, UnicodeDecodeError) as exc:
            raise _CompressionError(f"invalid header block: {exc}") from exc


class BoundedFrameBuffer(h2.frame_buffer.FrameBuffer):
    """h2's frame buffer, with a header block bounded in bytes and in frames.

    CVE-2024-27316 and kin: a peer that sends HEADERS without END_HEADERS followed by
    endless CONTINUATION frames makes a server buffer the block until it ends. h2
    stops at 64 frames, but each may be ``max_frame_size`` long; we also stop once the
    compressed block is larger than the decoded list may be (``max_header_list_size``:
    HPACK never makes a sane block larger than what it decodes to) and after
    ``MAX_HEADER_FRAMES`` frames. Either is a connection error ENHANCE_YOUR_CALM."""

    def __init__(self, max_block: int) -> None:
        super().__init__(server=True)
        self._max_block = max_block
        self._block_size = 0

    @property
    def header_block_open(self) -> bool:
        """A HEADERS frame came without END_HEADERS: its CONTINUATIONs are due (and no
        other frame may come on the connection until they end, RFC 9113 §6.10)."""
        return bool(self._headers_buffer)

    def __next__(self) -> Frame:
        head = self._data[:9]
        # RFC 9113 §6.5: a SETTINGS ACK with a payload MUST be a connection error of
        # type FRAME_SIZE_ERROR (hyperframe's refusal would become PROTOCOL_ERROR).
        if len(head) == 9 and head[3] == 0x4 and head[4] & 0x1 and head[:3] != b"\0\0\0":
            raise h2.exceptions.FrameTooLargeError("SETTINGS ACK with a payload")
        return super().__next__()

    def _update_header_buffer(self, f: Frame | None) -> Frame | None:
        if isinstance(f, (HeadersFrame, PushPromiseFrame, ContinuationFrame)):
            if isinstance(f, ContinuationFrame) and self._headers_buffer:
                self._block_size += len(f.data)
                frames = len(self._headers_buffer) + 1
            else:
                self._block_size = len(f.data)
                frames = 1
            if self._block_size > self._max_block or frames > MAX_HEADER_FRAMES:
                raise h2.exceptions.DenialOfServiceError(
                    "header block too large"
                    if frames <= MAX_HEADER_FRAMES
                    else "header block in too many frames"
                )
        return super()._update_header_buffer(f)


def new_connection(limits: H2Limits) -> h2.connection.H2Connection:
    """A server-side ``H2Connection`` with our SETTINGS, before ``initiate_connection``.

    Raises ``h2.exceptions.InvalidSettingsValueError`` for a setting out of the range
    RFC 9113 §6.5.2 allows (frame size 16,384-16,777,215, window below 2^31)."""
    config = h2.config.H2Configuration(
        client_side=False,
        header_encoding=None,  # bytes, as ASGI wants them
        validate_inbound_headers=True,
        normalize_inbound_headers=True,  # RFC 9113 §8.2.3: split cookies joined
        validate_outbound_headers=True,
    )
    conn = h2.connection.H2Connection(config=config)
    codes = h2.settings.SettingCodes
    # Set before initiate_connection(): these are both what the first SETTINGS frame
    # advertises and what h2 enforces from the first byte (no window where a client
    # may assume "unlimited" and be right).
    conn.local_settings = h2.settings.Settings(
        client=False,
        initial_values={
            codes.MAX_CONCURRENT_STREAMS: limits.max_streams,
            codes.MAX_HEADER_LIST_SIZE: limits.header_list_size,
            codes.MAX_FRAME_SIZE: limits.max_frame_size,
            codes.INITIAL_WINDOW_SIZE: limits.initial_window,
            codes.ENABLE_PUSH: 0,  # a server never receives pushes
            # RFC 8441 §3: we accept extended CONNECT (":protocol websocket").
            codes.ENABLE_CONNECT_PROTOCOL: int(limits.connect_protocol),
        },
    )
    conn.max_inbound_frame_size = limits.max_frame_size
    # HPACK bomb: the decoder stops inflating past this (DenialOfServiceError →
    # GOAWAY ENHANCE_YOUR_CALM); its dynamic table is capped at our
    # SETTINGS_HEADER_TABLE_SIZE (4,096, the default we advertise).
    conn.decoder = _Decoder()
    conn.decoder.max_header_list_size = limits.header_list_size
    conn.decoder.max_allowed_table_size = conn.local_settings.header_table_size
    conn.incoming_buffer = BoundedFrameBuffer(limits.header_list_size)
    conn.incoming_buffer.max_frame_size = limits.max_frame_size
    return conn


def _check_fields(names: list[bytes], values: list[bytes]) -> None:
    if b"" in names or b"".join(names).translate(None, _TCHAR_LOWER):
        raise http11.ProtocolError(400, "invalid header name")
    if b"".join(values).translate(None, _FIELD_VALUE_BYTES):
        raise http11.ProtocolError(400, "invalid character in header value")


def request_from_headers(
    headers: Iterable[tuple[bytes, bytes]], limits: H2Limits
) -> tuple[http11.Request, bool, bool | None]:
    """The request head of one stream, whether it asked for ``100-continue``, and
    whether its ``:scheme`` is ``https`` (None without a ``:scheme``: the
    connection's scheme then).

    ``headers`` are the decoded fields of a HEADERS block that h2 has validated
    (pseudo-fields first and once each, lower-case names, no NUL/CR/LF, no
    connection-specific fields: RFC 9113 §8.2, §8.3). A request whose method is
    ``CONNECT`` is a WebSocket over HTTP/2 (RFC 8441): plain CONNECT and any other
    ``:protocol`` are refused here. Raises ``http11.ProtocolError``
    with the status to answer on the stream, the same the HTTP/1.1 parser uses:
    400 (malformed), 414 (path longer than ``--limit-request-line``), 431 (more than
    ``--limit-request-fields`` fields), 413 (Content-Length above
    ``--limit-request-body``), 501 (CONNECT); 400 too for a ``:scheme`` other than
    ``http`` or ``https``."""
    method = path_field = authority = scheme = protocol = None
    fields: list[tuple[bytes, bytes]] = []
    host = None
    content_lengths: list[bytes] = []
    expect = False
    for name, value in headers:
        if name[:1] == b":":
            if name == b":method":
                method = value
            elif name == b":path":
                path_field = value
            elif name == b":authority":
                authority = value
            elif name == b":scheme":
                scheme = value
            elif name == b":protocol":
                protocol = value
            continue
        if name == b"host":
            host = value
        elif name == b"content-length":
            content_lengths.append(value)
        elif name == b"expect" and value.lower() == b"100-continue":
            expect = True
        fields.append((name, value))
    if len(fields) > limits.max_fields:
        raise http11.ProtocolError(431, "too many header fields")
    _check_fields([n for n, _ in fields], [v for _, v in fields])
    if method is None:
        raise http11.ProtocolError(400, "missing :method")
    if method == b"CONNECT":
        # RFC 9113 §8.5: CONNECT asks for a tunnel; an origin server does not offer one.
        # RFC 8441 §4: an extended CONNECT (":protocol", with :scheme, :path and
        # :authority, which h2 has checked) asks for a protocol on the stream: only
        # "websocket" (RFC 8441 §5), and only when SETTINGS_ENABLE_CONNECT_PROTOCOL
        # said so (§3). The request goes on as a WebSocket handshake.
        if protocol is None:
            raise http11.ProtocolError(501, "CONNECT is not supported")
        # Upgrade tokens are case-insensitive (RFC 9110 §7.8).
        if not limits.connect_protocol or protocol.lower() != b"websocket":
            raise http11.ProtocolError(501, "extended CONNECT protocol not supported")
    if method.translate(None, _TCHAR_LOWER.upper() + _TCHAR_LOWER) or not method:
        raise http11.ProtocolError(400, "invalid method")
    secure = None
    if scheme is not None:
        # RFC 9113 §8.3.1: ":scheme" is the scheme of the target URI; it, not the
        # connection, says http or https, as the scheme of an absolute-form target
        # does over HTTP/1.1 (RFC 9112 §3.2.2; trusted proxy headers still override
        # it, server/scope.py). Schemes are case-insensitive (RFC 3986 §3.1). An
        # origin server serves http and https URIs only: any other is refused on the
        # stream (§8.1.1: a stream error; the connection goes on).
        scheme = scheme.lower()
        if scheme == b"https":
            secure = True
        elif scheme == b"http":
            secure = False
        else:
            raise http11.ProtocolError(400, "unsupported :scheme")
    if path_field is None:
        raise http11.ProtocolError(400, "missing :path")  # RFC 9113 §8.3.1
    if len(path_field) > limits.max_path:
        raise http11.ProtocolError(414, "request target too long")
    if path_field.translate(None, _TARGET_BYTES):
        raise http11.ProtocolError(400, "invalid request target")
    if path_field == b"*":
        # RFC 9113 §8.3.1: "*" only for a server-wide OPTIONS.
        if method != b"OPTIONS":
            raise http11.ProtocolError(400, "asterisk-form target is only valid for OPTIONS")
        path, query = path_field, b""
    elif path_field[:1] == b"/":
        path, _, query = path_field.partition(b"?")
    else:
        raise http11.ProtocolError(400, "invalid request target")
    if b"#" in path_field:
        raise http11.ProtocolError(400, "fragment in request target")
    # RFC 9113 §8.3.1: :authority stands for Host; h2 has checked that both agree when
    # both are sent. Apps read the host header, so it is added when only :authority
    # came (as an intermediary to HTTP/1.1 must, RFC 9113 §8.3.1).
    if authority is not None:
        if not authority or _AUTHORITY_RE.fullmatch(authority) is None:
            raise http11.ProtocolError(400, "invalid :authority")
        if host is None:
            fields.insert(0, (b"host", authority))
            host = authority
    elif host is not None and (not host or _AUTHORITY_RE.fullmatch(host) is None):
        raise http11.ProtocolError(400, "invalid Host header")
    content_length = None
    if content_lengths:
        if len(set(content_lengths)) != 1 or not content_lengths[0].isdigit():
            raise http11.ProtocolError(400, "invalid Content-Length")
        content_length = int(content_lengths[0])
        if limits.max_body is not None and content_length > limits.max_body:
            raise http11.ProtocolError(413, "request body too large")
    request = http11.Request(
        method,
        path_field,
        path,
        query,
        "2",
        fields,
        host,
        keep_alive=True,
        expect_continue=False,  # answered by the stream (h2_protocol), not the cycle
        content_length=content_length,
        chunked=False,
    )
    return request, expect, secure


def response_fields(head: bytes, status: int) -> list[tuple[bytes, bytes]]:
    """HTTP/2 fields from an HTTP/1.1 head the writer has built and checked.

    The writer joined each field as ``name: value`` with values free of CR and LF, so
    the split is exact; names are lower-cased (RFC 9113 §8.2.1)."""
    fields = [(b":status", b"%d" % status)]
    for line in head.split(b"\r\n")[1:]:
        if not line:
            continue
        name, _, value = line.partition(b": ")
        name = name.lower()
        if name not in _CONNECTION_FIELDS:
            fields.append((name, value.strip(b" \t")))
    return fields


class H2Framer:
    """The ``ResponseFramer`` of one HTTP/2 stream (see ``http_cycle.ResponseFramer``).

    ``start()`` checks the response with ``http11.ResponseWriter`` (RFC 9110 status and
    field rules, the server's default headers and Date, Content-Length) and hands the
    HTTP/2 fields to ``on_head``; it returns no bytes. ``body()`` returns the body
    bytes as they are: the stream frames them as DATA. ``trailers()`` checks the
    fields as HTTP/1.1 does and hands the whole trailer section to ``on_trailers``
    with the last call (RFC 9113 §8.1: one HEADERS block that ends the stream). The
    writer is made for an HTTP/1.0 exchange because that is its one unframed mode (a
    body without Content-Length passes through untouched); nothing of HTTP/1.0
    reaches the wire. Raises ``http11.ProtocolError(500)`` as the HTTP/1.1 writer
    does."""

    __slots__ = (
        "_no_content",
        "_on_head",
        "_on_trailers",
        "_trailer_fields",
        "_writer",
        "keep_alive",
    )

    def __init__(
        self,
        method: bytes,
        defaults: http11.WriterDefaults,
        date_header: bool,
        on_head: Callable[[list[tuple[bytes, bytes]]], None],
        on_trailers: Callable[[list[tuple[bytes, bytes]]], None] | None = None,
    ) -> None:
        self._writer = http11.ResponseWriter(method, "1.0", False, defaults, date_header)
        self._on_head = on_head
        self._on_trailers = on_trailers
        self._trailer_fields: list[tuple[bytes, bytes]] = []
        self._no_content = False
        self.keep_alive = True
        """Streams end, connections persist: always true over HTTP/2."""

    def start(
        self, status: int, headers: Iterable[tuple[bytes, bytes]], trailers: bool = False
    ) -> bytes:
        # RFC 9113 §8.1: the final response is one HEADERS block; a 1xx there would
        # be an interim response and leave the stream waiting for another.
        if type(status) is int and status < 200:
            raise http11.ProtocolError(500, f"invalid status code {status!r}")
        head = self._writer.start(status, headers, trailers)
        self._no_content = self._writer.bodiless
        self._on_head(response_fields(head, status))
        return b""

    @property
    def finished(self) -> bool:
        return self._writer.finished

    def trailers(self, fields: Iterable[tuple[bytes, bytes]], more_trailers: bool = False) -> bytes:
        try:
            items = tuple(fields)
        except TypeError:
            raise http11.ProtocolError(500, "trailers must be (bytes, bytes) pairs") from None
        # The HTTP/1.1 writer checks the call order and the fields: header-field syntax
        # and RFC 9110 §6.5.1's forbidden names (http11.FORBIDDEN_TRAILERS, which holds
        # every connection-specific field of RFC 9113 §8.2.2 too). Over HTTP/1.0 framing
        # it returns b"": the HEADERS frame is ours to send.
        self._writer.trailers(items, more_trailers)
        # HEAD, 204 and 304 carry no content (RFC 9110 §6.4.1), so no trailer section
        # follows it: checked and dropped, as over HTTP/1.1 (§6.5.2 lets a sender
        # discard trailers). No TE check: see H2Stream.trailers in h2_protocol.
        if not self._no_content:
            # RFC 9113 §8.2.1: names in lower case; the checked values hold no CR, LF
            # or NUL; h2 refuses surrounding whitespace (RFC 9113 §8.2.1), so trim it.
            self._trailer_fields += [
                (bytes(name).lower(), bytes(value).strip(b" \t")) for name, value in items
            ]
        if not more_trailers and self._trailer_fields and self._on_trailers is not None:
            self._on_trailers(self._trailer_fields)
        return b""

    def body(self, data: bytes, more_body: bool = False) -> bytes:
        return self._writer.body(data, more_body)

    @property
    def bodiless(self) -> bool:
        return self._writer.bodiless

    @property
    def out_of_band_ok(self) -> bool:
        return False  # no sendfile: every byte is framed as DATA

    def out_of_band(self, count: int, more_body: bool = False) -> None:
        raise http11.ProtocolError(500, "no out-of-band body over HTTP/2")


def interim_fields(message: bytes) -> list[tuple[bytes, bytes]]:
    """The HTTP/2 fields of a 1xx interim response that ``http11.informational_response``
    built and checked (``b"HTTP/1.1 103 Early Hints\\r\\nlink: ...\\r\\n\\r\\n"``):
    ``:status`` and the fields, names lower-cased (RFC 9113 §8.1, §8.2.1)."""
    return response_fields(message, int(message[9:12]))


def error_fields(
    status: int, reason: str, defaults: http11.WriterDefaults, date_header: bool
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The HTTP/2 fields and body of one of the server's own answers (400, 413, 500,
    503 …): ``reason`` and a newline as plain text, with the server's default headers
    and Date, through the same writer as every response."""
    body = reason.encode("utf-8", "replace") + b"\n"
    writer = http11.ResponseWriter(b"GET", "1.0", False, defaults, date_header)
    head = writer.start(
        status,
        [
            (b"content-type", b"text/plain; charset=utf-8"),
            # Keeps browsers from guessing a type for the plain-text body.
            (b"x-content-type-options", b"nosniff"),
            (b"content-length", b"%d" % len(body)),
        ],
    )
    return response_fields(head, status), body


class RateBudget:
    """At most ``limit`` events per ``RATE_WINDOW`` seconds (a fixed window).

    ``spend(now)`` counts one event and says whether the budget is exceeded. A fixed
    window lets through at most twice the limit across a window boundary; that is
    the bound the documentation states."""

    __slots__ = ("_count", "_start", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._start = 0.0
        self._count = 0

    def spend(self, now: float) -> bool:
        if now - self._start >= RATE_WINDOW:
            self._start = now
            self._count = 0
        self._count += 1
        return self._count > self.limit
