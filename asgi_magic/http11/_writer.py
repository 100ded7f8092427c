"""The response serializer (RFC 9112 §4, §6, §7.1; RFC 9110 §6.6 Date, §15 statuses).

``ResponseWriter.start()`` validates what the application asked for and chooses the
framing in a single pass that builds one ``bytes`` object; ``body()`` frames each piece
and ``trailers()`` ends a chunked message with trailer fields. Every other head the
server writes comes from here too: ``informational_response`` (100, 103 …),
``switching_protocols_response`` (101) and ``error_response`` (400, 408, 500 …).

All of them follow one set of rules (docs/server/response-rules.md): statuses come from
``asgi_magic.status``; field names are tokens and values have no CR, LF, NUL or other
controls; the server's defaults give way to a field of the same name and there is one
Date at most; the writer owns Content-Length/Transfer-Encoding framing and writes the
only Connection field; a 101's handshake fields are the handshake's. Everything the
application gets wrong raises ``ProtocolError(500, …)`` and nothing of it is written:
the server answers 500 (before the head left) or closes the connection.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from typing import Any, Final

from asgi_magic.status import allows_content, is_final, is_valid, reason_phrase

from ._abnf import FIELD_VALUE_BYTES, TCHAR
from ._errors import ProtocolError

__all__ = [
    "FORBIDDEN_TRAILERS",
    "ResponseWriter",
    "WriterDefaults",
    "error_response",
    "http_date",
    "informational_response",
    "switching_protocols_response",
]

HeaderPairs = Iterable[tuple[bytes, bytes]]

# -- Date (RFC 9110 §5.6.7 IMF-fixdate), formatted at most once per second -------------

_DAYS: Final = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS: Final = (
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun",
    b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
)  # fmt: skip
_clock = time.time  # patched by tests to prove the per-second cache
_date_second = -1
_date_value = b""
_date_line = b""


def _refresh_date(second: int) -> None:
    global _date_second, _date_value, _date_line
    t = time.gmtime(second)
    # Built by hand, not strftime: day and month names must not follow the C locale.
    _date_value = b"%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
        t.tm_hour, t.tm_min, t.tm_sec,
    )  # fmt: skip
    _date_line = b"date: " + _date_value + b"\r\n"
    _date_second = second


def http_date() -> bytes:
    """Now as an IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), cached per second."""
    second = int(_clock())
    if second != _date_second:
        _refresh_date(second)
    return _date_value


def _date_header_line() -> bytes:
    second = int(_clock())
    if second != _date_second:
        _refresh_date(second)
    return _date_line


# -- Status lines, from the one status table (asgi_magic.status) -----------------------

_STATUS_LINES: Final[dict[int, bytes]] = {}


def _status_line(status: int) -> bytes:
    """``HTTP/1.1 <code> <reason>\\r\\n``; unregistered codes get an empty reason (RFC
    9112 §4: the SP before it stays). We always answer with our version, 1.1 (RFC 9110
    §6.2). Only called with a valid status (100..599), so the cache is bounded."""
    line = _STATUS_LINES.get(status)
    if line is None:
        phrase = reason_phrase(status).encode("ascii")
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
    return line


# Every final status (200..599) → (status line, content allowed, Content-Length dropped),
# built once so ``start()`` decides all three with one dict lookup. RFC 9110 §6.4.1:
# 204 and 304 carry no content; §8.6: a server MUST NOT send Content-Length in a 204
# (a 304 may keep the length the 200 would have had).
_FINAL_STATUS: Final[dict[int, tuple[bytes, bool, bool]]] = {
    code: (_status_line(code), allows_content(code), code == 204) for code in range(200, 600)
}
for _code in range(100, 200):
    _status_line(_code)


def _check_fields(names: list[bytes], values: list[bytes]) -> None:
    """Refuse non-token names and values with CR, LF, NUL or other controls.

    RFC 9110 §5.1: field-name = token; §5.5: field-value = *field-vchar with SP/HTAB.
    One ``translate`` pass over all names and one over all values, in C.
    """
    try:
        if b"" in names or b"".join(names).translate(None, TCHAR):
            raise ProtocolError(500, "invalid response header name")
        if b"".join(values).translate(None, FIELD_VALUE_BYTES):
            raise ProtocolError(500, "invalid response header value (CR, LF, NUL or control)")
    except TypeError:
        raise ProtocolError(500, "response header names and values must be bytes") from None


# Response field names already checked as tokens, mapped to their lower-cased form: apps
# send the same few names on every response, so one dict lookup replaces the token check
# and ``lower()``. Bounded, so an app inventing names cannot grow it.
_NAMES: Final[dict[bytes, bytes]] = {}
_NAMES_SIZE: Final = 512


def _new_name(name: bytes) -> bytes:
    # RFC 9110 §5.1: field-name = token (a non-bytes name raises TypeError here).
    if not name or name.translate(None, TCHAR):
        raise ProtocolError(500, "invalid response header name")
    lname = name.lower()
    if len(_NAMES) < _NAMES_SIZE:
        _NAMES[name] = lname
    return lname


# b"\r\n" * n for the line ends a valid block of n field lines leaves after translate.
_CRLFS: Final = [b"\r\n" * n for n in range(64)]


def _check_values(block: bytes, count: int) -> None:
    # RFC 9110 §5.5: field values are VCHAR / obs-text with SP and HTAB inside; the names
    # are tokens already. One C pass over the whole block: deleting every allowed byte
    # must leave exactly the line ends (a CR, LF, NUL or other control in a value is left
    # behind).
    if block.translate(None, FIELD_VALUE_BYTES) != (
        _CRLFS[count] if count < 64 else b"\r\n" * count
    ):
        raise ProtocolError(500, "invalid response header value (CR, LF, NUL or control)")


# The fields the writer owns: it frames the message and decides persistence, so the
# application's values are checked, interpreted and replaced by the writer's own.
_FRAMING_FIELDS: Final = frozenset((b"content-length", b"transfer-encoding", b"connection"))

AppFields = tuple[bytes, tuple[bytes, ...], int | None, bool, bytes]


def _app_fields(
    # Any: the application's pairs, not yet checked (a bytearray value is accepted; a
    # non-bytes name is refused below). A typed tuple would make the compiled build
    # refuse what pure Python accepts.
    headers: tuple[Any, ...],
    drop_length: bool,
) -> AppFields:
    """Check the application's header list and join it.

    Returns ``(block, lower-cased names, Content-Length, Connection has close, other
    Connection options)``. The block never holds a Connection line (the writer writes
    the only one, see ``_connection_line``) nor a Transfer-Encoding (the writer applies
    the chunking). ``drop_length``: the status may carry no Content-Length (1xx, 204:
    RFC 9110 §8.6 MUST NOT), drop it. Raises ``ProtocolError(500)``.
    """
    parts: list[bytes] = []
    names: list[bytes] = []
    content_length: int | None = None
    transfer_encoding = False
    app_close = False
    options: list[bytes] = []
    try:
        for name, value in headers:
            lname = _NAMES.get(name)
            if lname is None:
                lname = _new_name(name)
            if lname in _FRAMING_FIELDS:
                if lname == b"content-length":
                    if drop_length:
                        continue
                    value = value.strip(b" \t")
                    # RFC 9110 §8.6: Content-Length = 1*DIGIT (bytes.isdigit is ASCII).
                    if not value.isdigit():
                        raise ProtocolError(500, "invalid Content-Length from the application")
                    if content_length is not None:
                        if int(value) != content_length:
                            raise ProtocolError(500, "conflicting Content-Length values")
                        continue
                    content_length = int(value)
                elif lname == b"transfer-encoding":
                    if [v.strip(b" \t").lower() for v in value.split(b",")] != [b"chunked"]:
                        raise ProtocolError(
                            500, "unsupported Transfer-Encoding from the application"
                        )
                    transfer_encoding = True
                    continue
                else:
                    # RFC 9110 §7.6.1: Connection = #connection-option (tokens).
                    for member in value.split(b","):
                        option = member.strip(b" \t").lower()
                        if not option or option == b"keep-alive":
                            # RFC 9110 §5.6.1: empty members are ignored. keep-alive is
                            # the writer's to send (RFC 9112 §9.3): an app cannot keep a
                            # connection open that the server is closing.
                            continue
                        if option == b"close":
                            app_close = True
                        elif option.translate(None, TCHAR):
                            raise ProtocolError(500, "invalid Connection option")
                        elif option not in options:
                            options.append(option)
                    continue
            parts += (name, b": ", value, b"\r\n")
            names.append(lname)
        app_block = b"".join(parts)
    except (TypeError, AttributeError, ValueError):
        raise ProtocolError(500, "response headers must be (bytes, bytes) pairs") from None
    if transfer_encoding and content_length is not None:
        raise ProtocolError(500, "both Content-Length and Transfer-Encoding from the application")
    if names:
        _check_values(app_block, len(names))
    return app_block, tuple(names), content_length, app_close, b", ".join(options)


# Header lists already checked, by value (with the drop_length flag) → _app_fields().
_APP_FIELDS: Final[dict[tuple[tuple[tuple[bytes, bytes], ...], bool], AppFields]] = {}
_APP_FIELDS_SIZE: Final = 256
_APP_FIELDS_MAX_BLOCK: Final = 1024


def _cached_app_fields(headers: HeaderPairs, drop_length: bool) -> AppFields:
    """``_app_fields`` through the bounded cache: apps answer with the same few header
    lists again and again, so only a list not seen recently is walked in Python."""
    try:
        items = tuple(headers)
    except TypeError:
        raise ProtocolError(500, "response headers must be an iterable of pairs") from None
    try:
        fields = _APP_FIELDS.get((items, drop_length))
    except TypeError:  # an unhashable member (a bytearray …): checked, never cached
        return _app_fields(items, drop_length)
    if fields is None:
        fields = _app_fields(items, drop_length)
        if len(fields[0]) <= _APP_FIELDS_MAX_BLOCK and b"set-cookie" not in fields[1]:
            # Never a Set-Cookie: credentials must not outlive their response.
            if len(_APP_FIELDS) >= _APP_FIELDS_SIZE:
                _APP_FIELDS.clear()  # bounded: start over rather than grow
            _APP_FIELDS[(items, drop_length)] = fields
    return fields


# (HTTP/1.1, keep-alive) → the writer's own Connection option.
_OWN_OPTION: Final = {
    (True, True): b"",
    (True, False): b"close",
    (False, True): b"keep-alive",
    (False, False): b"",
}


def _connection_line(http11: bool, keep_alive: bool, options: bytes) -> bytes:
    """The one Connection field of a response (``b""`` when none is needed).

    RFC 9112 §9.6: a server that is going to close MUST send the ``close`` option; for
    HTTP/1.0 (where closing is the default, RFC 9112 §9.3) persistence needs an explicit
    ``keep-alive`` (RFC 9112 Appendix C.2.2). The application's other options (say
    ``upgrade`` next to an ``Upgrade`` field, RFC 9110 §7.8) are kept, after ours.
    """
    own = _OWN_OPTION[http11, keep_alive]
    if options:
        own = own + b", " + options if own else options
    return b"connection: " + own + b"\r\n" if own else b""


# -- Trailer fields (RFC 9110 §6.5, RFC 9112 §7.1.2) -----------------------------------

# RFC 9110 §6.5.1: a sender MUST NOT generate a trailer field unless its definition
# permits it; fields needed before the content is processed never qualify: message
# framing (and the other connection-specific fields, §7.6.1), routing, request
# modifiers (controls §10.1, conditionals §13.1, Range §14.2), authentication (§11),
# response control data (§10.2, caching RFC 9111 §5), and the fields describing the
# content (Content-Encoding/-Type/-Range) or the trailers themselves (Trailer).
FORBIDDEN_TRAILERS: Final = frozenset(
    (
        # framing and connection management
        b"content-length", b"transfer-encoding", b"connection", b"keep-alive",
        b"proxy-connection", b"te", b"upgrade", b"trailer",
        # routing
        b"host",
        # request modifiers
        b"cache-control", b"expect", b"max-forwards", b"pragma", b"range",
        b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since",
        b"if-range",
        # authentication (and the cookies that carry it)
        b"authorization", b"proxy-authorization", b"www-authenticate",
        b"proxy-authenticate", b"cookie", b"set-cookie",
        # response control data
        b"age", b"date", b"expires", b"location", b"retry-after", b"vary", b"warning",
        # content description
        b"content-encoding", b"content-type", b"content-range",
    )
)  # fmt: skip
"""Lower-cased names refused in trailers (RFC 9110 §6.5.1)."""


def _trailer_block(fields: HeaderPairs) -> bytes:
    """Validate trailer fields like header fields and join them; raises
    ``ProtocolError(500)`` for a bad name or value or a forbidden field."""
    parts: list[bytes] = []
    count = 0
    try:
        for name, value in fields:
            lname = _NAMES.get(name)
            if lname is None:
                lname = _new_name(name)
            if lname in FORBIDDEN_TRAILERS:
                raise ProtocolError(
                    500, f"{lname.decode('ascii')} is not allowed in trailers (RFC 9110 §6.5.1)"
                )
            parts += (name, b": ", value, b"\r\n")
            count += 1
        block = b"".join(parts)
    except (TypeError, AttributeError, ValueError):
        raise ProtocolError(500, "trailers must be (bytes, bytes) pairs") from None
    if count:
        _check_values(block, count)
    return block


# -- The writer --------------------------------------------------------------------------

# Modes (plain ints: compared on every body() call). The ones below 2 take no body.
_NOT_STARTED: Final = 0
_AFTER_BODY: Final = 1  # the body ended, the trailers announced in start() are due
_NO_BODY: Final = 2  # HEAD, 204, 304: RFC 9112 §6.3 (1)
_LENGTH: Final = 3  # the application's Content-Length, enforced
_CHUNKED: Final = 4  # HTTP/1.1 without a length: RFC 9112 §7.1
_CLOSE: Final = 5  # HTTP/1.0 without a length: the end of the body is the connection close

# What start(trailers=True) leads to.
_NO_TRAILERS: Final = 0
_SEND_TRAILERS: Final = 1  # chunked, and the request's TE lists "trailers"
_DROP_TRAILERS: Final = 2  # anything else: validated, then dropped
_SENDING_TRAILERS: Final = 3  # _SEND_TRAILERS once the last-chunk was written


class WriterDefaults:
    """The headers a server adds to every response, validated and joined once.

    Build one per server (``WriterDefaults(pairs)``) and pass it to every
    ``ResponseWriter``, ``switching_protocols_response`` and ``error_response``: they
    then append one ready ``bytes`` block instead of re-checking the same names and
    values on every response. A name the application sends itself replaces the default
    of that name (so an app's ``Server`` or ``Date`` wins, and there is never a second
    line). Invalid defaults are not raised here but by every ``start()``
    (``ProtocolError(500)``); ``error_response`` then leaves them out. The fields the
    writer owns (Content-Length, Transfer-Encoding, Connection) are invalid defaults.
    """

    __slots__ = ("block", "error", "has_date", "lines", "names", "pairs")

    def __init__(self, pairs: HeaderPairs = ()) -> None:
        self.pairs: tuple[tuple[bytes, bytes], ...] = tuple(pairs)
        self.error: str | None = None
        self.names: tuple[bytes, ...] = ()
        self.lines: tuple[bytes, ...] = ()
        self.block = b""
        self.has_date = False
        try:
            names = [name.lower() for name, _ in self.pairs]
            _check_fields(names, [value for _, value in self.pairs])
            lines = [name + b": " + value + b"\r\n" for name, value in self.pairs]
        except (TypeError, AttributeError, ValueError):
            self.error = "response header names and values must be bytes"
            return
        except ProtocolError as exc:
            self.error = exc.reason
            return
        owned = _FRAMING_FIELDS.intersection(names)
        if owned:
            self.error = f"default headers may not set {b', '.join(sorted(owned)).decode()}"
            return
        self.names = tuple(names)
        self.lines = tuple(lines)
        self.block = b"".join(lines)
        self.has_date = b"date" in self.names

    @property
    def server(self) -> bytes | None:
        """The ``server`` value among the defaults, if any."""
        for name, value in self.pairs:
            if name.lower() == b"server":
                return value
        return None

    def without(self, names: Collection[bytes]) -> bytes:
        """The default lines whose (lower-cased) name is not in ``names``."""
        return b"".join(
            line for name, line in zip(self.names, self.lines, strict=True) if name not in names
        )

    def block_for(self, names: Collection[bytes]) -> bytes:
        """The default lines to write next to fields named ``names`` (lower-cased): all
        of them, less those the other fields replace (a no-copy fast path)."""
        if names:
            for lname in self.names:
                if lname in names:
                    return self.without(names)
        return self.block

    @classmethod
    def of(cls, pairs: HeaderPairs | WriterDefaults) -> WriterDefaults:
        """A shared instance for ``pairs`` (callers that pass plain pairs each time);
        a ``WriterDefaults`` is returned as it is."""
        if type(pairs) is WriterDefaults:
            return pairs
        key = tuple(pairs)  # type: ignore[arg-type]
        found = _DEFAULTS_CACHE.get(key)
        if found is None:
            found = cls(key)
            if len(_DEFAULTS_CACHE) >= 64:
                _DEFAULTS_CACHE.clear()  # bounded
            _DEFAULTS_CACHE[key] = found
        return found


_DEFAULTS_CACHE: Final[dict[tuple[tuple[bytes, bytes], ...], WriterDefaults]] = {}
_NO_DEFAULTS: Final = WriterDefaults()


class ResponseWriter:
    """Serialises one response to one request (a new writer per request).

    Call order: ``informational()`` any number of times (optional), ``start()`` once,
    ``body()`` until ``more_body=False``, then, only if ``start(…, trailers=True)``,
    ``trailers()`` until ``more_trailers=False``. ``finished`` turns True after the last
    call the application owes. Each method returns the bytes to write (maybe ``b""``)
    and raises ``ProtocolError(500)`` for anything the application got wrong, writing
    nothing of it.
    """

    __slots__ = (
        "_date_header",
        "_defaults",
        "_head_request",
        "_http11",
        "_mode",
        "_remaining",
        "_te_trailers",
        "_trailers",
        "finished",
        "keep_alive",
    )

    def __init__(
        self,
        request_method: bytes,
        http_version: str,
        keep_alive: bool,
        default_headers: HeaderPairs | WriterDefaults = (),
        date_header: bool = True,
        te_trailers: bool = False,
    ) -> None:
        """``request_method`` and ``http_version`` (``"1.1"``/``"1.0"``) of the request
        answered; ``keep_alive``: the request allows persistence (``Request.keep_alive``);
        ``default_headers``: the server's headers (a ``WriterDefaults``, or pairs);
        ``date_header``: add ``Date`` (RFC 9110 §6.6.1) unless a field already gives it;
        ``te_trailers``: the request's TE lists ``trailers`` (``Request.te_trailers``)."""
        self._head_request = request_method == b"HEAD"
        self._http11 = http_version == "1.1"
        if type(default_headers) is not WriterDefaults:
            default_headers = WriterDefaults.of(default_headers)
        self._defaults: WriterDefaults = default_headers
        self._date_header = date_header
        self._te_trailers = te_trailers
        self._mode = _NOT_STARTED
        self._remaining = 0
        self._trailers = _NO_TRAILERS
        self.keep_alive = keep_alive
        """After ``start()``: whether the connection may persist after this response."""
        self.finished = False
        """The response is complete: the last ``body()`` call (``more_body=False``) was
        made, and the last ``trailers()`` call if ``start()`` announced trailers."""

    def informational(self, status: int, headers: HeaderPairs = ()) -> bytes:
        """A 1xx interim response before ``start()`` (103 Early Hints, RFC 8297), or
        ``b""`` for an HTTP/1.0 request: RFC 9110 §15.2, a server MUST NOT send a 1xx
        response to an HTTP/1.0 client. See ``informational_response`` for the rules;
        ``ProtocolError(500)`` once the final response has started."""
        if self._mode != _NOT_STARTED:
            raise ProtocolError(500, "informational response after the final response started")
        message = informational_response(status, headers)  # validated for both versions
        return message if self._http11 else b""

    # The status, headers, body and more_body come from the application unchecked (the
    # ASGI message), so they are typed as what is accepted at run time and checked here:
    # the compiled build (mypyc) enforces annotations with TypeError, and must refuse bad
    # values with the same ProtocolError(500) as pure Python.
    def start(self, status: object, headers: HeaderPairs, trailers: bool = False) -> bytes:
        """The status line and header section, ending in the empty line.

        ``status`` is a final status, 200..599 (RFC 9110 §15; 1xx go through
        ``informational()`` / ``informational_response`` and 101 through
        ``switching_protocols_response``): anything else is ``ProtocolError(500)``.

        Framing: the application's Content-Length is kept and enforced; otherwise
        chunked for HTTP/1.1 and close-delimited for HTTP/1.0. HEAD, 204 and 304 have no
        body (HEAD and 304 keep the application's Content-Length; 204 drops it, RFC 9110
        §8.6 MUST NOT). An application ``Transfer-Encoding: chunked`` is dropped (we
        apply the chunking); any other coding is refused, and so is a Transfer-Encoding
        together with a Content-Length (RFC 9112 §6.2). The writer writes the one
        Connection field (see ``_connection_line``): an app's ``close`` ends
        persistence, its ``keep-alive`` is dropped, its other options are kept. Default
        headers are added only for names the application did not send.

        ``trailers=True`` announces trailer fields (the ASGI ``http.response.trailers``
        extension): the last ``body()`` then leaves the message open for ``trailers()``.
        They are written only on a chunked response to a request whose TE lists
        ``trailers``; otherwise they are validated and dropped (RFC 9110 §6.5.2 lets a
        sender discard them when the recipient did not ask).
        """
        if self._mode != _NOT_STARTED:
            raise ProtocolError(500, "response already started")
        # RFC 9110 §15: a final status is 200..599; bool is an int but never a status.
        if type(status) is not int:
            if not is_valid(status):
                raise ProtocolError(500, f"invalid status code {status!r}")
            status = int(status)  # type: ignore[call-overload]  # an IntEnum member
        code: int = status  # type: ignore[assignment]  # checked above
        info = _FINAL_STATUS.get(code)
        if info is None:
            if 100 <= code <= 199:
                raise ProtocolError(500, f"{status} is not a final status (1xx are interim)")
            raise ProtocolError(500, f"invalid status code {status!r}")
        status_line, has_content, drop_length = info
        # Apps answer with the same few header lists again and again: the checked and
        # joined block is looked up by value (a bounded map), so only a list not seen
        # recently is walked and validated in Python (_cached_app_fields, inlined).
        try:
            items = tuple(headers)
        except TypeError:
            raise ProtocolError(500, "response headers must be an iterable of pairs") from None
        try:
            fields = _APP_FIELDS.get((items, drop_length))
        except TypeError:  # an unhashable member (a bytearray …): checked, never cached
            fields = _app_fields(items, drop_length)
        else:
            if fields is None:
                fields = _cached_app_fields(items, drop_length)
        app_block, names, content_length, app_close, options = fields

        # The server's defaults were validated and joined once (WriterDefaults); only a
        # name the application sent itself makes us pick them apart.
        defaults = self._defaults
        if defaults.error is not None:
            raise ProtocolError(500, defaults.error)
        block = defaults.block
        if names:
            for lname in defaults.names:
                if lname in names:
                    block = defaults.without(names)
                    break
        # RFC 9110 §6.6.1: one Date, the application's or a default's before ours.
        date = self._date_header and not defaults.has_date and b"date" not in names

        keep_alive = self.keep_alive and not app_close
        tail = b"\r\n"
        if self._head_request or not has_content:
            self._mode = _NO_BODY
        elif content_length is not None:
            self._mode = _LENGTH
            self._remaining = content_length
        elif self._http11:
            self._mode = _CHUNKED
            tail = b"transfer-encoding: chunked\r\n\r\n"
        else:
            self._mode = _CLOSE
            keep_alive = False
        if trailers:
            self._trailers = (
                _SEND_TRAILERS if self._mode == _CHUNKED and self._te_trailers else _DROP_TRAILERS
            )
        if options:
            tail = _connection_line(self._http11, keep_alive, options) + tail
        elif self._http11:
            if not keep_alive:
                # RFC 9112 §9.6: a server that is going to close MUST send "close".
                tail = b"connection: close\r\n" + tail
        elif keep_alive:
            # RFC 9112 §9.3: HTTP/1.0 persistence needs an explicit keep-alive.
            tail = b"connection: keep-alive\r\n" + tail
        self.keep_alive = keep_alive
        if date:
            second = int(_clock())
            if second != _date_second:
                _refresh_date(second)
            return b"".join((status_line, block, _date_line, app_block, tail))
        return b"".join((status_line, block, app_block, tail))

    def body(self, data: object, more_body: object = False) -> bytes:
        """The wire bytes for one piece of body; ``more_body=False`` ends the body."""
        mode = self._mode
        if mode < _NO_BODY or self.finished:
            raise ProtocolError(
                500,
                "response already finished"
                if self.finished
                else "body before start"
                if mode == _NOT_STARTED
                else "response body already ended",
            )
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise ProtocolError(500, "response body must be bytes")
            data = bytes(data)
        if mode == _CHUNKED:
            if more_body:
                # An empty chunk would end the body (RFC 9112 §7.1): never write one.
                return b"%x\r\n%b\r\n" % (len(data), data) if data else b""
            if self._trailers == _SEND_TRAILERS:
                # RFC 9112 §7.1.2: the last-chunk and the trailer section come from
                # trailers(); leave the message open.
                self._mode = _AFTER_BODY
                return b"%x\r\n%b\r\n" % (len(data), data) if data else b""
            if self._trailers:
                self._mode = _AFTER_BODY  # dropped trailers: the app still owes them
            else:
                self.finished = True
            return b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data) if data else b"0\r\n\r\n"
        if mode == _LENGTH:
            remaining = self._remaining - len(data)
            if remaining < 0:
                self.keep_alive = False
                raise ProtocolError(500, "response body longer than its Content-Length")
            self._remaining = remaining
            if not more_body:
                if remaining:
                    self.keep_alive = False
                    raise ProtocolError(500, "response body shorter than its Content-Length")
                if self._trailers:
                    self._mode = _AFTER_BODY
                else:
                    self.finished = True
            return data
        if not more_body:
            self._end_body()
        if mode == _NO_BODY:
            # RFC 9110 §9.3.2 / §15.3.5 / §15.4.5: HEAD, 204 and 304 carry no content;
            # what the application sends is discarded.
            return b""
        return data  # _CLOSE

    def _end_body(self) -> None:
        if self._trailers:
            self._mode = _AFTER_BODY  # the application still owes its trailers
        else:
            self.finished = True

    def trailers(self, fields: HeaderPairs, more_trailers: object = False) -> bytes:
        """The wire bytes for trailer fields, after the last ``body()``.

        Only after ``start(…, trailers=True)``. On a chunked response to a request whose
        TE lists ``trailers``, the first call writes the last-chunk (``0\\r\\n``), each
        call its field lines, and the last (``more_trailers=False``) the empty line that
        ends the message (RFC 9112 §7.1.2). Otherwise the fields are checked and dropped
        (``b""``): the body already ended the message. Fields are validated like header
        fields, and those RFC 9110 §6.5.1 keeps out of trailers (``FORBIDDEN_TRAILERS``)
        are refused: ``ProtocolError(500)``, nothing written.
        """
        if self._mode != _AFTER_BODY or self.finished:
            if self.finished:
                reason = "response already finished"
            elif not self._trailers:
                reason = "trailers were not announced in start()"
            else:
                reason = "trailers before the end of the body"
            raise ProtocolError(500, reason)
        block = _trailer_block(fields)
        if not more_trailers:
            self.finished = True
        if self._trailers == _SEND_TRAILERS:
            # RFC 9112 §7.1.2: last-chunk = 1*("0") [ chunk-ext ] CRLF, then the fields.
            self._trailers = _SENDING_TRAILERS
            block = b"0\r\n" + block
        elif self._trailers != _SENDING_TRAILERS:
            return b""
        return block if more_trailers else block + b"\r\n"

    @property
    def trailers_sent(self) -> bool:
        """After ``start(…, trailers=True)``: whether trailers go on the wire (chunked
        framing and a request TE listing ``trailers``) rather than being dropped."""
        return self._trailers == _SEND_TRAILERS or self._trailers == _SENDING_TRAILERS

    @property
    def bodiless(self) -> bool:
        """After ``start()``: the response carries no content (HEAD, 204, 304), so
        whatever ``body()`` is given is discarded."""
        return self._mode == _NO_BODY

    @property
    def out_of_band_ok(self) -> bool:
        """Whether body bytes may go out unframed, past this writer (e.g. ``sendfile``):
        true once started with a Content-Length or close-delimited framing and not
        finished. Chunked and bodiless responses must go through ``body()``."""
        return (self._mode == _LENGTH or self._mode == _CLOSE) and not self.finished

    def out_of_band(self, count: int, more_body: bool = False) -> None:
        """Account for ``count`` body bytes the caller writes itself, unframed.

        Call it *before* writing them: it enforces the Content-Length exactly as
        ``body()`` does (``ProtocolError(500)``, nothing counted), so bytes beyond the
        declared length never reach the wire (RFC 9112 §6.3: they would be read as the
        start of the next response). Only valid while ``out_of_band_ok``.
        """
        if not self.out_of_band_ok:
            raise ProtocolError(500, "out-of-band body needs Content-Length or close framing")
        if type(count) is not int or count < 0:
            raise ValueError(f"invalid out-of-band byte count {count!r}")
        if self._mode == _LENGTH:
            remaining = self._remaining - count
            if remaining < 0:
                self.keep_alive = False
                raise ProtocolError(500, "response body longer than its Content-Length")
            if not more_body and remaining:
                self.keep_alive = False
                raise ProtocolError(500, "response body shorter than its Content-Length")
            self._remaining = remaining
        if not more_body:
            self._end_body()


def informational_response(status: object = 100, headers: HeaderPairs = ()) -> bytes:
    """A complete 1xx interim response, e.g. ``b"HTTP/1.1 100 Continue\\r\\n\\r\\n"``.

    ``status``: 100..199 except 101 (that one ends HTTP/1.1 on the connection: use
    ``switching_protocols_response``). ``headers`` are validated as in
    ``ResponseWriter.start`` (``ProtocolError(500)``); Content-Length and Transfer-
    Encoding are dropped (RFC 9110 §8.6, RFC 9112 §6.1: MUST NOT in a 1xx), and so is
    Connection (a 1xx does not decide persistence). 103 Early Hints carries ``Link``
    fields (RFC 8297 §2). No Date or default headers: an interim response is not the
    answer. Whether one may be sent at all is the caller's call: never to an HTTP/1.0
    client (RFC 9110 §15.2; ``ResponseWriter.informational`` checks it).
    """
    # object: the status may come from an app unchecked (http.response.early_hint);
    # the compiled build must refuse a str here as pure Python does.
    if type(status) is not int or not 100 <= status <= 199 or status == 101:
        raise ProtocolError(500, f"not an informational status: {status!r}")
    block = _cached_app_fields(headers, True)[0]
    return b"".join((_status_line(status), block, b"\r\n"))


# RFC 6455 §4.2.2 / RFC 9110 §7.8: the fields that carry the handshake itself; an app's
# copy would contradict (or forge) what the protocol negotiated, so it is dropped.
_HANDSHAKE_FIELDS: Final = frozenset(
    (
        b"connection",
        b"upgrade",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    )
)


def switching_protocols_response(
    headers: HeaderPairs,
    defaults: WriterDefaults | HeaderPairs,
    date_header: bool,
    *,
    handshake: HeaderPairs,
) -> bytes:
    """A complete ``HTTP/1.1 101 Switching Protocols`` head (RFC 9110 §15.2.2).

    ``handshake``: the protocol's own fields (for WebSocket, ``accept_headers()`` of
    ``asgi_magic.websocket``); they must include ``Upgrade`` and a ``Connection`` listing
    ``upgrade`` (RFC 9110 §7.8: the server MUST send Upgrade with the protocol switched
    to). ``headers``: the application's (``websocket.accept`` headers), validated as in
    ``ResponseWriter.start``; those naming a handshake field (Connection, Upgrade, the
    ``Sec-WebSocket-*`` response fields, or any name in ``handshake``) are dropped, and so
    are Content-Length and Transfer-Encoding (RFC 9110 §8.6, RFC 9112 §6.1: MUST NOT in
    a 1xx). ``defaults`` are the server's headers; an application field of the same
    name replaces one, and there is one Date at most (``date_header`` adds ours when no
    field gives one). Raises ``ProtocolError(500)`` for an invalid field.
    """
    try:
        shake = tuple(handshake)
        shake_names = [name.lower() for name, _ in shake]
        _check_fields(shake_names, [value for _, value in shake])
        shake_block = b"".join(name + b": " + value + b"\r\n" for name, value in shake)
        connection = b",".join(
            v for n, (_, v) in zip(shake_names, shake, strict=True) if n == b"connection"
        )
    except (TypeError, AttributeError, ValueError):
        raise ProtocolError(500, "handshake headers must be (bytes, bytes) pairs") from None
    if b"upgrade" not in shake_names or b"upgrade" not in [
        m.strip(b" \t").lower() for m in connection.split(b",")
    ]:
        raise ProtocolError(500, "a 101 response needs Upgrade and Connection: upgrade")
    owned = _HANDSHAKE_FIELDS.union(shake_names)
    try:
        kept = tuple(pair for pair in headers if pair[0].lower() not in owned)
    except (TypeError, AttributeError, IndexError):
        raise ProtocolError(500, "response headers must be (bytes, bytes) pairs") from None
    app_block, names = _app_fields(kept, True)[:2]
    defaults = WriterDefaults.of(defaults)
    if defaults.error is not None:
        raise ProtocolError(500, defaults.error)
    parts = [_status_line(101), defaults.block_for(owned.union(names))]
    # RFC 9110 §6.6.1: a Date is optional on a 1xx; never two of them.
    if date_header and not defaults.has_date and b"date" not in names and b"date" not in owned:
        parts.append(_date_header_line())
    parts += (shake_block, app_block, b"\r\n")
    return b"".join(parts)


# The fields error_response writes itself; a default of the same name is left out.
_ERROR_FIELDS: Final = frozenset(
    (
        b"content-type",
        b"x-content-type-options",
        b"content-length",
        b"transfer-encoding",
        b"connection",
    )
)
_UNSET: Final[bytes] = b"\0unset"


def error_response(
    status: object,
    reason: str,
    *,
    defaults: WriterDefaults | HeaderPairs | None = None,
    date_header: bool = True,
    headers: HeaderPairs = (),
    server_header: bytes | None = _UNSET,
) -> bytes:
    """A whole plain-text response that closes the connection (for 400, 408, 500, 503 …).

    The body is ``reason`` and a newline; ``nosniff`` keeps browsers from guessing a
    type for it. ``status``: a final status that allows content (RFC 9110 §15), else
    ``ValueError``. ``defaults``: the server's headers (Server and ``--header``), as on
    every other response; invalid defaults are left out rather than failing the error
    path. ``headers``: extra fields for this answer (``Retry-After``, ``Allow`` …),
    validated (``ProtocolError(500)``); they replace defaults of the same name. The
    writer owns Content-Type, X-Content-Type-Options, Content-Length and Connection.

    ``server_header`` is the older interface, used only when ``defaults`` is None: the
    Server value, or None for none (the default is ``asgi-magic``).
    """
    if not isinstance(status, int) or not is_final(status) or not allows_content(status):
        raise ValueError(f"invalid error status {status!r}")
    if defaults is None:
        if server_header is _UNSET:
            server_header = b"asgi-magic"
        defaults = WriterDefaults.of(((b"server", server_header),) if server_header else ())
        if defaults.error is not None:
            raise ProtocolError(500, defaults.error)
    else:
        defaults = WriterDefaults.of(defaults)
        if defaults.error is not None:
            defaults = _NO_DEFAULTS
    body = reason.encode("utf-8", "replace") + b"\n"
    items = tuple(headers)
    extra, names = _app_fields(items, False)[:2]  # validated: the names are bytes now
    if _ERROR_FIELDS.intersection(name.lower() for name, _ in items):
        raise ProtocolError(500, "error_response owns its framing and content fields")
    parts = [_status_line(int(status)), defaults.block_for(_ERROR_FIELDS.union(names))]
    if date_header and not defaults.has_date and b"date" not in names:
        parts.append(_date_header_line())
    parts.append(extra)
    parts.append(
        b"content-type: text/plain; charset=utf-8\r\n"
        b"x-content-type-options: nosniff\r\n"
        b"content-length: %d\r\n"
        b"connection: close\r\n\r\n" % len(body)
    )
    parts.append(body)
    return b"".join(parts)
