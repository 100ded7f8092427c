"""The incremental HTTP/1.1 request parser (RFC 9112).

Theory of operation. The parser is a small state machine over one buffer:

    HEAD ──Request──▶ BODY_LENGTH ──Data*──▶ (EndOfMessage) ─▶ DONE ──start_next_cycle──▶ HEAD
         └──Request──▶ CHUNK_SIZE ⇄ CHUNK_DATA ⇄ CHUNK_CRLF; CHUNK_SIZE(0) ─▶ TRAILERS ─▶ DONE
    any state ──ProtocolError──▶ ERROR (terminal: the connection must be closed)

A request without a body is a BODY_LENGTH of 0, so it yields Request then EndOfMessage.
DONE answers PAUSED until the server finished the response and calls
``start_next_cycle()``: pipelined requests stay in the buffer until then (RFC 9112
§9.3.2: responses go out in request order).

Speed: a head is located with one ``find(b"\\r\\n\\r\\n")`` (resumed where the last
search stopped) and split into lines once. Field lines seen before are looked up whole
in a bounded cache (a hit is a line that was checked and parsed before); only new lines
are checked, each by one ``translate`` pass in C, and parsed. No Python loop ever walks
single bytes. Compiled by mypyc, dict and list methods called directly on a Final
module-level object (``_LINE_CACHE.get(line)``, ``headers.append(pair)``) become C
calls; a bound method kept in a variable would be a generic Python call.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from ._abnf import (
    ABSOLUTE_FORM_RE,
    ANY_VERSION_RE,
    CHUNK_SIZE_RE,
    FIELD_LINE_TABLE,
    HOST_RE,
    TARGET_TABLE,
)
from ._abnf import TOKEN_RE as _TOKEN_RE
from ._errors import ProtocolError
from ._events import NEED_DATA, PAUSED, Data, EndOfMessage, Request, Sentinel
from ._headers import (
    _NAME_CACHE,
    SPECIAL_FIELDS,
    Headers,
    check_field_bytes,
    check_transfer_encoding,
    comma_list,
    connection_tokens,
    diagnose_fields,
    new_field_name,
    parse_content_length,
    parse_fields,
)

__all__ = ["Limits", "RequestParser"]

# RFC 9112 §3 / RFC 9110 §4.1: support at least 8000 octets of request-line; longer → 414.
DEFAULT_MAX_REQUEST_LINE: Final = 8192
# RFC 6585 §5: a head larger than we accept (request line included) → 431.
DEFAULT_MAX_HEAD: Final = 64 * 1024
# Field lines per head (and per trailer section) → 431.
DEFAULT_MAX_FIELDS: Final = 100
# 16 hex digits are 2**64 - 1: more is an overflow attempt, not a chunk (RFC 9112 §7.1
# asks recipients to anticipate large sizes and guard against overflow).
DEFAULT_MAX_CHUNK_SIZE_DIGITS: Final = 16
# Chunk extensions are checked against their grammar and then ignored, and bounded
# (RFC 9112 §7.1.1: a server ought to limit their total length); beyond this → 400.
DEFAULT_MAX_CHUNK_EXT: Final = 4096
# The trailer section of a chunked body → 431.
DEFAULT_MAX_TRAILER_SIZE: Final = 16 * 1024


@dataclass(slots=True)
class Limits:
    """Every size the parser accepts; each breach raises ``ProtocolError`` (status noted)."""

    max_request_line: int = DEFAULT_MAX_REQUEST_LINE
    """Request line, without its CRLF (→ 414)."""
    max_head: int = DEFAULT_MAX_HEAD
    """Whole head, request line and final empty line included (→ 431)."""
    max_fields: int = DEFAULT_MAX_FIELDS
    """Field lines in the head, and separately in the trailers (→ 431)."""
    max_body: int | None = None
    """Body bytes (→ 413); a larger declared Content-Length fails as soon as the head is
    parsed, a chunked body when its running total passes the limit. None: unlimited."""
    max_chunk_size_digits: int = DEFAULT_MAX_CHUNK_SIZE_DIGITS
    """Hex digits of a chunk size (→ 400)."""
    max_chunk_ext: int = DEFAULT_MAX_CHUNK_EXT
    """Bytes of chunk extension after the size on one chunk line (→ 400)."""
    max_trailer_size: int = DEFAULT_MAX_TRAILER_SIZE
    """Trailer section, final empty line included (→ 431)."""

    def __post_init__(self) -> None:
        for name in (
            "max_request_line",
            "max_head",
            "max_fields",
            "max_chunk_size_digits",
            "max_chunk_ext",
            "max_trailer_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1")
        if self.max_body is not None and self.max_body < 0:
            raise ValueError("Limits.max_body must be None or at least 0")


# States (plain ints: compared on every call).
_HEAD: Final = 0
_BODY_LENGTH: Final = 1
_CHUNK_SIZE: Final = 2
_CHUNK_DATA: Final = 3
_CHUNK_CRLF: Final = 4
_TRAILERS: Final = 5
_DONE: Final = 6
_ERROR: Final = 7

_CRLF: Final = b"\r\n"
# Host values already validated: a server sees the same few on every request. Bounded,
# so a client sending random hosts cannot grow it.
_VALID_HOSTS: Final[set[bytes]] = set()
_VALID_HOSTS_SIZE: Final = 256
# Whole field lines already parsed, mapped to their (name, value) pair. Never the fields
# the parser interprets, and never credentials (they would outlive their request here).
# Typed ``tuple[bytes, ...]``, not ``tuple[bytes, bytes]``: mypyc keeps a fixed-length
# tuple unboxed in C, so every hit would be taken apart and built again as a new tuple
# object; a variable-length tuple is the cached object itself. Always two items.
_LINE_CACHE: Final[dict[bytes, tuple[bytes, ...]]] = {}
_Pairs = list[tuple[bytes, ...]]
# The same for the lines of SPECIAL_FIELDS, which the parser must act on and so cannot
# take from _LINE_CACHE unseen: clients repeat their Host and Connection lines on every
# request, and a hit here still skips the byte check, the split and the name lookup.
_SPECIAL_LINES: Final[dict[bytes, tuple[bytes, ...]]] = {}
_SPECIAL_LINES_SIZE: Final = 256
_LINE_CACHE_SIZE: Final = 1024
_LINE_CACHE_MAX_LINE: Final = 256
_NEVER_CACHED: Final = frozenset((b"cookie", b"authorization", b"proxy-authorization"))
# RFC 9110 §9 methods: known tokens skip the token regex.
_KNOWN_METHODS: Final = frozenset(
    (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH")
)


class RequestParser:
    """Feed bytes with ``feed()``; take ``Request``/``Data``/``EndOfMessage`` from
    ``next_event()``. Raises ``ProtocolError`` for anything the client got wrong."""

    __slots__ = (
        "_body_total",
        "_buf",
        "_eof",
        "_error",
        "_feed_check",
        "_limits",
        "_max_chunk_line",
        "_pos",
        "_remaining",
        "_scan",
        "_state",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits if limits is not None else Limits()
        self._buf = b""
        self._pos = 0  # start of unconsumed bytes in _buf
        self._scan = 0  # where the next search for the end of the head resumes
        self._state = _HEAD
        self._remaining = 0  # body bytes (Content-Length) or chunk bytes still due
        self._body_total = 0  # chunked: body bytes so far, for max_body
        self._error: ProtocolError | None = None
        self._eof = False
        lim = self._limits
        self._max_chunk_line = lim.max_chunk_size_digits + lim.max_chunk_ext
        # Below this many buffered bytes no head limit can be broken yet.
        self._feed_check = min(lim.max_request_line, lim.max_head)

    # -- input -----------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer ``data``. Raises ``ProtocolError`` (414/431/400) when a request head
        that is still incomplete already breaks a limit, so it is never buffered further.
        Data fed after an error or after ``feed_eof()`` is ignored.

        While a body is being read or the parser is ``PAUSED``, bytes are only buffered:
        the caller bounds them by not reading from the socket (flow control) until it
        has drained the events; the head limits apply again after
        ``start_next_cycle()``."""
        if self._state == _ERROR or self._eof or not data:
            return
        buf = self._buf
        pos = self._pos
        if pos == len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
            self._scan = 0
        else:
            self._buf = (buf[pos:] if pos else buf) + data
            self._scan = max(self._scan - pos, 0)
        self._pos = 0
        if self._state == _HEAD and len(self._buf) > self._feed_check:
            try:
                self._find_head_end()
            except ProtocolError as exc:
                self._fail(exc)
                raise

    def feed_eof(self) -> None:
        """The peer closed its side. ``next_event()`` then raises ``ProtocolError(400)`` if
        a request was cut off mid-way; between requests it keeps returning ``NEED_DATA``
        (nothing to answer: just close), and ``PAUSED`` while a response is due."""
        self._eof = True

    @property
    def trailing_data(self) -> bytes:
        """Bytes buffered but not consumed (after an upgrade: the new protocol's bytes)."""
        return self._buf[self._pos :]

    def start_next_cycle(self) -> None:
        """The response to the current request is complete: parse the next one.

        Only valid once ``EndOfMessage`` was returned (state ``PAUSED``). A server that
        answered before reading the whole body must keep calling ``next_event()`` to
        discard it, or close the connection.
        """
        if self._state != _DONE:
            raise RuntimeError("start_next_cycle() called before the request ended")
        self._state = _HEAD
        self._scan = self._pos

    # -- output ----------------------------------------------------------------------

    def next_event(self) -> Request | Data | EndOfMessage | Sentinel:
        """The next event, ``NEED_DATA`` or ``PAUSED``; raises ``ProtocolError``."""
        state = self._state
        try:
            if state == _BODY_LENGTH:
                return self._next_body_length()
            if state == _HEAD:
                return self._next_head()
            if state == _DONE:
                return PAUSED
            if state == _ERROR:
                assert self._error is not None
                raise self._error
            return self._next_chunked()
        except ProtocolError as exc:
            self._fail(exc)
            raise

    def _fail(self, exc: ProtocolError) -> None:
        # Terminal: drop the buffer so nothing after a broken message is ever parsed.
        self._state = _ERROR
        self._error = exc
        self._buf = b""
        self._pos = 0

    def _need_data(self) -> Sentinel:
        if self._eof and (self._state != _HEAD or self._pos < len(self._buf)):
            raise ProtocolError(400, "connection closed before the request was complete")
        return NEED_DATA

    # -- head ------------------------------------------------------------------------

    def _find_head_end(self) -> int:
        """Index of the CRLFCRLF ending the head at ``_pos``, or -1; enforces the limits."""
        buf = self._buf
        pos = self._pos
        # RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received
        # before the request-line (clients add one after a POST body).
        # (Tested byte by byte first: startswith with a start offset parses its
        # arguments with PyArg_ParseTuple, ~700 instructions, on every head.)
        while pos < len(buf) and buf[pos] == 0x0D and buf.startswith(_CRLF, pos):
            pos += 2
        self._pos = pos
        lim = self._limits
        end = buf.find(b"\r\n\r\n", self._scan if self._scan > pos else pos)
        if end == -1:
            size = len(buf) - pos
            self._scan = max(pos, len(buf) - 3)
            line_end = buf.find(_CRLF, pos, pos + lim.max_request_line + 2)
            max_line = lim.max_request_line
            # No CRLF yet: too long once past the limit (a lone CR right at the limit
            # may still be the start of the CRLF).
            if line_end == -1 and (
                size > max_line + 1 or (size == max_line + 1 and buf[pos + max_line] != 0x0D)
            ):
                raise ProtocolError(414, "request line too long")
            if size > lim.max_head:
                raise ProtocolError(431, "request head too large")
            # RFC 9112 §2.2: a bare LF is not a line terminator we accept; say so now
            # rather than wait for a CRLFCRLF that may never come.
            if buf.count(b"\n", pos) != buf.count(_CRLF, pos):
                raise ProtocolError(400, "bare LF in request head")
            return -1
        if end + 4 - pos > lim.max_head:
            if buf.find(_CRLF, pos, pos + lim.max_request_line + 2) == -1:
                raise ProtocolError(414, "request line too long")
            raise ProtocolError(431, "request head too large")
        return end

    def _next_head(self) -> Request | EndOfMessage | Sentinel:
        end = self._find_head_end()
        if end == -1:
            return self._need_data()
        head = self._buf[self._pos : end]
        self._pos = self._scan = end + 4
        request = self._parse_head(head)
        if request.chunked:
            self._state = _CHUNK_SIZE
            self._body_total = 0
        else:
            self._state = _BODY_LENGTH
            self._remaining = request.content_length or 0
        return request

    def _parse_head(self, head: bytes) -> Request:
        """Validate and interpret one head (request line and field lines, without the
        final CRLFCRLF)."""
        lim = self._limits
        lines = head.split(_CRLF)
        request_line = lines[0]
        if len(request_line) > lim.max_request_line:
            raise ProtocolError(414, "request line too long")
        if len(lines) - 1 > lim.max_fields:
            raise ProtocolError(431, "too many header fields")
        parts = request_line.split(b" ")
        # RFC 9112 §3: method SP request-target SP HTTP-version, exactly one SP apiece.
        if len(parts) != 3:
            raise _request_line_error(request_line)
        method, target, version = parts
        # RFC 9112 §2.3: HTTP-version is case-sensitive. Only 1.0 and 1.1 are accepted
        # (the project's rule; other versions get 505 from _request_line_error).
        if version == b"HTTP/1.1":
            http11 = True
        elif version == b"HTTP/1.0":
            http11 = False
        else:
            raise _request_line_error(request_line)
        # (GET compared first: the set lookup hashes the new method object, ~350
        # instructions, where comparing three bytes costs ~30.)
        if (
            method != b"GET"
            and method not in _KNOWN_METHODS
            and _TOKEN_RE.fullmatch(method) is None
        ):
            raise _request_line_error(request_line)
        # The target is VCHARs (RFC 3986 characters): one C pass. The method is a token
        # and the version exact, so this is the whole request line's byte check.
        fragment = -1  # where a "#" is, refused below in the order RFC 9112 §3.2 gives
        if not target or target.translate(TARGET_TABLE) != target:
            if not target or not target.isascii() or target.find(b"\t") != -1:
                raise ProtocolError(400, "invalid request target")
            fragment = target.find(b"#")
            rest = target.replace(b"#", b"") if fragment != -1 else target
            if rest.translate(TARGET_TABLE) != rest:
                raise ProtocolError(400, "invalid character in request line")

        # Field lines (RFC 9112 §5). Browsers repeat the same lines (User-Agent, Accept
        # …) on every request, so known lines are looked up whole in one C-level map;
        # only new lines are checked and parsed here. A line is cached only once its
        # bytes and grammar passed, and a hit is the same bytes, so a hit needs no check.
        # The lines of the fields that frame or route the request have their own cache
        # and are acted on below whether they were cached or not.
        host: bytes | None = None
        host_count = 0
        # Tuples, grown only when a field is present: most requests have none of these.
        content_lengths: tuple[bytes, ...] = ()
        transfer_encodings: tuple[bytes, ...] = ()
        connection: tuple[bytes, ...] = ()
        expect: tuple[bytes, ...] = ()
        upgrades: tuple[bytes, ...] = ()
        te: tuple[bytes, ...] = ()
        pairs: _Pairs = []
        for line in lines[1:]:
            pair = _LINE_CACHE.get(line)
            if pair is not None:
                pairs.append(pair)
                continue
            pair = _SPECIAL_LINES.get(line)
            if pair is None:
                # RFC 9110 §5.5: VCHAR / obs-text, SP and HTAB; no NUL, other controls,
                # DEL, and no CR or LF (a bare one: the head was split on CRLF), MUST 400.
                if line.translate(FIELD_LINE_TABLE) != line:
                    raise ProtocolError(400, diagnose_fields([line]))
                name, colon, value = line.partition(b":")
                lname = _NAME_CACHE.get(name)
                if lname is None or not colon:
                    if not colon:
                        raise ProtocolError(400, diagnose_fields([line]))
                    lname = new_field_name(name)
                # RFC 9112 §5: OWS around the value is not part of it.
                value = value.strip(b" \t")
                pair = (lname, value)
                if lname not in SPECIAL_FIELDS:
                    pairs.append(pair)
                    if len(line) <= _LINE_CACHE_MAX_LINE and lname not in _NEVER_CACHED:
                        if len(_LINE_CACHE) >= _LINE_CACHE_SIZE:
                            _LINE_CACHE.clear()  # bounded: start over rather than grow
                        _LINE_CACHE[line] = pair
                    continue
                if len(line) <= _LINE_CACHE_MAX_LINE:
                    if len(_SPECIAL_LINES) >= _SPECIAL_LINES_SIZE:
                        _SPECIAL_LINES.clear()
                    _SPECIAL_LINES[line] = pair
            else:
                lname = pair[0]
                value = pair[1]
            pairs.append(pair)
            if lname == b"host":
                host = value
                host_count += 1
            elif lname == b"connection":
                connection += (value,)
            elif lname == b"content-length":
                content_lengths += (value,)
            elif lname == b"transfer-encoding":
                transfer_encodings += (value,)
            elif lname == b"expect":
                expect += (value,)
            elif lname == b"upgrade":
                upgrades += (value,)
            else:
                te += (value,)
        # Every pair has two items (see _LINE_CACHE). Not cast(): in the pure build that
        # is a Python call per request.
        headers: Headers = pairs  # type: ignore[assignment]

        # RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host,
        # and to any request with more than one Host line or an invalid Host value.
        if host_count > 1:
            raise ProtocolError(400, "more than one Host header")
        if host is None:
            if http11:
                raise ProtocolError(400, "missing Host header")
        elif host not in _VALID_HOSTS:
            if HOST_RE.fullmatch(host) is None:
                raise ProtocolError(400, "invalid Host header")
            if len(_VALID_HOSTS) < _VALID_HOSTS_SIZE:
                _VALID_HOSTS.add(host)

        # Request target (RFC 9112 §3.2). No form admits a fragment ("#"): a "#" in the
        # query is refused at once, one in the path after the CONNECT check below.
        if target[0] == 0x2F:  # "/": origin-form = absolute-path [ "?" query ]
            path, _, query = target.partition(b"?")
            if fragment > len(path):
                raise ProtocolError(400, "fragment in request target")
        elif method == b"CONNECT":
            # RFC 9112 §3.2.3: authority-form is only for CONNECT, which asks a proxy for
            # a tunnel; an origin server does not implement it (RFC 9110 §9.3.6).
            raise ProtocolError(501, "CONNECT is not supported")
        elif target == b"*":
            # RFC 9112 §3.2.4: asterisk-form is only used for a server-wide OPTIONS.
            if method != b"OPTIONS":
                raise ProtocolError(400, "asterisk-form target is only valid for OPTIONS")
            path, query = target, b""
        else:
            path, query, host = _absolute_form(target)
        if method == b"CONNECT":
            raise ProtocolError(501, "CONNECT is not supported")
        if fragment != -1:  # the "#" is in the path (_absolute_form refused the query's)
            raise ProtocolError(400, "fragment in request target")

        # Framing: RFC 9112 §6.
        content_length: int | None = None
        chunked = False
        if transfer_encodings:
            if not http11:
                # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 MUST be treated as faulty
                # framing.
                raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
            if content_lengths:
                # RFC 9112 §6.1: a request with both may be an attempt at request
                # smuggling; the server MAY reject it — we do, and close.
                raise ProtocolError(400, "both Transfer-Encoding and Content-Length")
            check_transfer_encoding(transfer_encodings)
            chunked = True
        elif content_lengths:
            content_length = parse_content_length(content_lengths)
            if lim.max_body is not None and content_length > lim.max_body:
                raise ProtocolError(413, "request body too large")

        # Persistence: RFC 9112 §9.3.
        if not connection:
            tokens: Collection[bytes] = ()
        elif len(connection) == 1:
            tokens = connection_tokens(connection[0])
        else:
            tokens = comma_list(connection)
        if http11:
            keep_alive = b"close" not in tokens
        else:
            keep_alive = b"keep-alive" in tokens and b"close" not in tokens

        upgrade: bytes | None = None
        expect_continue = False
        te_trailers = False
        if http11:
            # RFC 9110 §7.8: Upgrade is only meaningful when Connection lists it; a
            # server MUST ignore Upgrade in an HTTP/1.0 request.
            if upgrades and b"upgrade" in tokens:
                upgrade = b", ".join(upgrades).lower()
            # RFC 9110 §10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request.
            if expect and b"100-continue" in comma_list(expect):
                expect_continue = True
            # RFC 9110 §10.1.4: TE = #t-codings; "trailers" says the client accepts
            # trailer fields in a chunked response. (An HTTP/1.0 response is never
            # chunked, RFC 9112 §7.1, so it can carry none.) The Connection: TE that a
            # sender MUST add (RFC 9110 §10.1.4) is not required of the client here.
            if te and b"trailers" in comma_list(te):
                te_trailers = True

        return Request(
            method,
            target,
            path,
            query,
            "1.1" if http11 else "1.0",
            headers,
            host,
            keep_alive,
            expect_continue,
            upgrade,
            content_length,
            chunked,
            te_trailers,
        )

    # -- body ------------------------------------------------------------------------

    def _next_body_length(self) -> Data | EndOfMessage | Sentinel:
        remaining = self._remaining
        if remaining == 0:
            self._state = _DONE
            return EndOfMessage()
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available == 0:
            return self._need_data()
        if available <= remaining:
            # The whole buffer is body: hand it over without copying.
            data = buf[pos:] if pos else buf
            self._buf = b""
            self._pos = 0
            self._remaining = remaining - available
        else:
            data = buf[pos : pos + remaining]
            self._pos = pos + remaining
            self._remaining = 0
        return Data(data)

    def _next_chunked(self) -> Data | EndOfMessage | Sentinel:
        while True:
            state = self._state
            buf = self._buf
            pos = self._pos
            if state == _CHUNK_DATA:
                available = len(buf) - pos
                if available == 0:
                    return self._need_data()
                remaining = self._remaining
                if available <= remaining:
                    data = buf[pos:] if pos else buf
                    self._buf = b""
                    self._pos = 0
                    remaining -= available
                else:
                    data = buf[pos : pos + remaining]
                    self._pos = pos + remaining
                    remaining = 0
                self._remaining = remaining
                if remaining == 0:
                    self._state = _CHUNK_CRLF
                return Data(data)
            if state == _CHUNK_SIZE:
                self._read_chunk_size(buf, pos)
                if self._state == _CHUNK_SIZE:
                    return self._need_data()
            elif state == _CHUNK_CRLF:
                # RFC 9112 §7.1: chunk-data is followed by CRLF; anything else means the
                # chunk size lied (a classic smuggling vector).
                if len(buf) - pos < 2:
                    if pos < len(buf) and buf[pos] != 0x0D:
                        raise ProtocolError(400, "missing CRLF after chunk data")
                    return self._need_data()
                if not buf.startswith(_CRLF, pos):
                    raise ProtocolError(400, "missing CRLF after chunk data")
                self._pos = pos + 2
                self._state = _CHUNK_SIZE
            else:  # _TRAILERS
                return self._read_trailers(buf, pos)

    def _read_chunk_size(self, buf: bytes, pos: int) -> None:
        lim = self._limits
        line_end = buf.find(_CRLF, pos, pos + self._max_chunk_line + 2)
        if line_end == -1:
            if len(buf) - pos >= self._max_chunk_line + 2:
                raise ProtocolError(400, "chunk size line too long")
            if buf.find(b"\n", pos) != -1:
                raise ProtocolError(400, "bare LF in chunk size line")
            return
        match = CHUNK_SIZE_RE.fullmatch(buf, pos, line_end)
        if match is None:
            raise ProtocolError(400, _chunk_line_error(buf[pos:line_end]))
        digits = match.group(1)
        if len(digits) > lim.max_chunk_size_digits:
            raise ProtocolError(400, "chunk size too large")
        if line_end - pos - len(digits) > lim.max_chunk_ext:
            raise ProtocolError(400, "chunk extension too long")
        self._pos = line_end + 2
        size = int(digits, 16)
        if size == 0:
            self._state = _TRAILERS
            return
        total = self._body_total + size
        if lim.max_body is not None and total > lim.max_body:
            raise ProtocolError(413, "request body too large")
        self._body_total = total
        self._remaining = size
        self._state = _CHUNK_DATA

    def _read_trailers(self, buf: bytes, pos: int) -> EndOfMessage | Sentinel:
        lim = self._limits
        if buf.startswith(_CRLF, pos):
            self._pos = pos + 2
            self._state = _DONE
            return EndOfMessage()
        end = buf.find(b"\r\n\r\n", pos, pos + lim.max_trailer_size + 4)
        if end == -1:
            if len(buf) - pos > lim.max_trailer_size:
                raise ProtocolError(431, "trailer section too large")
            if buf.count(b"\n", pos) != buf.count(_CRLF, pos):
                raise ProtocolError(400, "bare LF in trailer section")
            return self._need_data()
        block = buf[pos:end]
        lines = block.split(_CRLF)
        if len(lines) > lim.max_fields:
            raise ProtocolError(431, "too many trailer fields")
        # RFC 9112 §7.1.2: trailer fields follow the same field-line grammar. They are
        # reported separately and never merged into the head (RFC 9110 §6.5.1).
        check_field_bytes(block, len(lines) - 1)
        trailers = parse_fields(lines, 0, [])
        self._pos = end + 4
        self._state = _DONE
        return EndOfMessage(trailers)


def _absolute_form(target: bytes) -> tuple[bytes, bytes, bytes]:
    """``(path, query, host)`` of an absolute-form target (RFC 9112 §3.2.2)."""
    match = ABSOLUTE_FORM_RE.fullmatch(target)
    if match is None:
        raise ProtocolError(400, "invalid request target")
    scheme, authority, rest = match.groups()
    if scheme.lower() not in (b"http", b"https"):
        raise ProtocolError(400, "unsupported URI scheme in request target")
    if authority.find(b"@") != -1:
        # RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as an error.
        raise ProtocolError(400, "userinfo in request target")
    # RFC 9110 §4.2.1: an "http" URI with an empty host MUST be rejected as invalid.
    if not authority or authority[0] == 0x3A or HOST_RE.fullmatch(authority) is None:
        raise ProtocolError(400, "invalid authority in request target")
    path, _, query = rest.partition(b"?")
    if query.find(b"#") != -1:
        raise ProtocolError(400, "fragment in request target")
    # RFC 9112 §3.3: an empty path in the target is "/" for the effective URI.
    return path or b"/", query, authority


def _chunk_line_error(line: bytes) -> str:
    """Say what is wrong with a chunk line that failed ``CHUNK_SIZE_RE`` (slow path)."""
    digits = line.rstrip(b' \t;="').split(b";", 1)[0].rstrip(b" \t")
    if not digits or digits.strip(b"0123456789abcdefABCDEF"):
        return "invalid chunk size"
    # RFC 9112 §7.1.1: the size was fine, what follows it is not a chunk-ext.
    return "invalid chunk extension"


def _request_line_error(line: bytes) -> ProtocolError:
    """Say what is wrong with a request line that failed the regex (slow path)."""
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        return ProtocolError(400, "malformed request line")
    method, _target, version = parts
    if _TOKEN_RE.fullmatch(method) is None:
        return ProtocolError(400, "invalid method")
    if not version.startswith(b"HTTP/") or ANY_VERSION_RE.fullmatch(version) is None:
        return ProtocolError(400, "invalid HTTP version")
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        # RFC 9110 §15.6.6: 505 for a major version we do not support.
        return ProtocolError(505, "HTTP version not supported")
    return ProtocolError(400, "invalid request target")
