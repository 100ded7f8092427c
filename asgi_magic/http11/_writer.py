"""The response serializer (RFC 9112 §4, §6; RFC 9110 §6.6 Date).

``ResponseWriter.start()`` validates what the application asked for and chooses the
framing in a single pass that builds one ``bytes`` object; ``body()`` frames each piece.
Everything the application gets wrong raises ``ProtocolError(500, …)`` and nothing of it
is written: the server answers 500 (before the head left) or closes the connection.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from http import HTTPStatus
from typing import Any

from ._abnf import FIELD_VALUE_BYTES, TCHAR
from ._errors import ProtocolError

__all__ = [
    "ResponseWriter",
    "WriterDefaults",
    "error_response",
    "http_date",
    "informational_response",
]

HeaderPairs = Iterable[tuple[bytes, bytes]]

# -- Date (RFC 9110 §5.6.7 IMF-fixdate), formatted at most once per second -------------

_DAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS = (
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


# -- Status lines, cached -------------------------------------------------------------

_STATUS_LINES: dict[int, bytes] = {}
# RFC 9110 §15 renamed a few reason phrases; older Pythons' HTTPStatus has the old ones.
_RFC9110_PHRASES = {
    413: b"Content Too Large",
    414: b"URI Too Long",
    416: b"Range Not Satisfiable",
    422: b"Unprocessable Content",
}


def _status_line(status: int) -> bytes:
    """``HTTP/1.1 <code> <reason>\\r\\n``; unknown codes get an empty reason (RFC 9112 §4:
    the SP before it stays). We always answer with our version, 1.1 (RFC 9110 §6.2)."""
    line = _STATUS_LINES.get(status)
    if line is None:
        phrase = _RFC9110_PHRASES.get(status)
        if phrase is None:
            try:
                phrase = HTTPStatus(status).phrase.encode("ascii")
            except ValueError:
                phrase = b""
        line = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
        _STATUS_LINES[status] = line
    return line


for _status in HTTPStatus:
    _status_line(_status.value)


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
_NAMES: dict[bytes, bytes] = {}
_NAMES_SIZE = 512


def _new_name(name: bytes) -> bytes:
    # RFC 9110 §5.1: field-name = token (a non-bytes name raises TypeError here).
    if not name or name.translate(None, TCHAR):
        raise ProtocolError(500, "invalid response header name")
    lname = name.lower()
    if len(_NAMES) < _NAMES_SIZE:
        _NAMES[name] = lname
    return lname


# b"\r\n" * n for the line ends a valid block of n field lines leaves after translate.
_CRLFS = [b"\r\n" * n for n in range(64)]


def _app_fields(
    # Any: the application's pairs, not yet checked (a bytearray value is accepted; a
    # non-bytes name is refused below). A typed tuple would make the compiled build
    # refuse what pure Python accepts.
    headers: tuple[Any, ...],
    drop_length: bool,
) -> tuple[bytes, tuple[bytes, ...], int | None, bool, bool]:
    """Check the application's header list and join it: ``(block, lower-cased names,
    Content-Length, Connection has close, Connection was sent)``. ``drop_length``: the
    status may carry no Content-Length (1xx, 204: RFC 9110 §8.6 MUST NOT), drop it."""
    parts: list[bytes] = []
    names: list[bytes] = []
    content_length: int | None = None
    transfer_encoding = False
    app_close = False
    app_connection = False
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
                    app_connection = True
                    tokens = [v.strip(b" \t").lower() for v in value.split(b",")]
                    if b"close" in tokens:
                        app_close = True
            parts += (name, b": ", value, b"\r\n")
            names.append(lname)
        app_block = b"".join(parts)
    except (TypeError, AttributeError):
        raise ProtocolError(500, "response header names and values must be bytes") from None
    if transfer_encoding and content_length is not None:
        raise ProtocolError(500, "both Content-Length and Transfer-Encoding from the application")
    count = len(names)
    if count:
        # RFC 9110 §5.5: field values are VCHAR / obs-text with SP and HTAB inside; the
        # names are tokens already. One C pass over the whole block: deleting every
        # allowed byte must leave exactly the line ends (a CR, LF, NUL or other control
        # in a value is left behind).
        rest = app_block.translate(None, FIELD_VALUE_BYTES)
        if rest != (_CRLFS[count] if count < 64 else b"\r\n" * count):
            raise ProtocolError(500, "invalid response header value (CR, LF, NUL or control)")
    return app_block, tuple(names), content_length, app_close, app_connection


# Header lists already checked, by value (with the drop_length flag) → _app_fields().
_APP_FIELDS: dict[
    tuple[tuple[tuple[bytes, bytes], ...], bool],
    tuple[bytes, tuple[bytes, ...], int | None, bool, bool],
] = {}
_APP_FIELDS_SIZE = 256
_APP_FIELDS_MAX_BLOCK = 1024

# -- The writer --------------------------------------------------------------------------

_NOT_STARTED = 0
_NO_BODY = 1  # HEAD, 1xx, 204, 304: RFC 9112 §6.3 (1)
_LENGTH = 2  # the application's Content-Length, enforced
_CHUNKED = 3  # HTTP/1.1 without a length: RFC 9112 §7.1
_CLOSE = 4  # HTTP/1.0 without a length: the end of the body is the connection close

_FRAMING_FIELDS = frozenset((b"content-length", b"transfer-encoding", b"connection"))


class WriterDefaults:
    """The headers a server adds to every response, validated and joined once.

    Build one per server (``WriterDefaults(pairs)``) and pass it to every
    ``ResponseWriter``: ``start()`` then appends one ready ``bytes`` block instead of
    re-checking the same names and values on every request. Invalid defaults are not
    raised here but by every ``start()`` (``ProtocolError(500)``), as before.
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

    @classmethod
    def of(cls, pairs: HeaderPairs) -> WriterDefaults:
        """A shared instance for ``pairs`` (callers that pass plain pairs each time)."""
        key = tuple(pairs)
        found = _DEFAULTS_CACHE.get(key)
        if found is None:
            found = cls(key)
            if len(_DEFAULTS_CACHE) >= 64:
                _DEFAULTS_CACHE.clear()  # bounded
            _DEFAULTS_CACHE[key] = found
        return found


_DEFAULTS_CACHE: dict[tuple[tuple[bytes, bytes], ...], WriterDefaults] = {}


class ResponseWriter:
    """Serialises one response to one request (a new writer per request)."""

    __slots__ = (
        "_date_header",
        "_defaults",
        "_head_request",
        "_http11",
        "_mode",
        "_remaining",
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
    ) -> None:
        self._head_request = request_method == b"HEAD"
        self._http11 = http_version == "1.1"
        if type(default_headers) is not WriterDefaults:
            default_headers = WriterDefaults.of(default_headers)  # type: ignore[arg-type]
        self._defaults: WriterDefaults = default_headers
        self._date_header = date_header
        self._mode = _NOT_STARTED
        self._remaining = 0
        self.keep_alive = keep_alive
        """After ``start()``: whether the connection may persist after this response."""
        self.finished = False
        """The last ``body()`` call (``more_body=False``) was made."""

    # The status, headers, body and more_body come from the application unchecked (the
    # ASGI message), so they are typed as what is accepted at run time and checked here:
    # the compiled build (mypyc) enforces annotations with TypeError, and must refuse bad
    # values with the same ProtocolError(500) as pure Python.
    def start(self, status: object, headers: HeaderPairs) -> bytes:
        """The status line and header section, ending in the empty line.

        Framing: the application's Content-Length is kept and enforced; otherwise
        chunked for HTTP/1.1 and close-delimited for HTTP/1.0. HEAD, 1xx, 204 and 304
        have no body (HEAD keeps the application's Content-Length; 1xx and 204 drop it,
        RFC 9110 §8.6 MUST NOT). An application ``Transfer-Encoding: chunked`` is
        dropped (we apply the chunking); any other coding is refused, and so is a
        Transfer-Encoding together with a Content-Length (RFC 9112 §6.2). Default
        headers are added only for names the application did not send.
        """
        if self._mode != _NOT_STARTED:
            raise ProtocolError(500, "response already started")
        # RFC 9110 §15: status-code is three digits; bool is an int but never a status.
        if type(status) is not int or not 100 <= status <= 999:
            raise ProtocolError(500, f"invalid status code {status!r}")
        status_line = _STATUS_LINES.get(status) or _status_line(status)
        # Apps answer with the same few header lists again and again: the checked and
        # joined block is looked up by value (a bounded map), so only a list not seen
        # recently is walked and validated in Python.
        drop_length = status < 200 or status == 204
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
                fields = _app_fields(items, drop_length)
                if len(fields[0]) <= _APP_FIELDS_MAX_BLOCK and b"set-cookie" not in fields[1]:
                    # Never a Set-Cookie: credentials must not outlive their response.
                    if len(_APP_FIELDS) >= _APP_FIELDS_SIZE:
                        _APP_FIELDS.clear()  # bounded: start over rather than grow
                    _APP_FIELDS[(items, drop_length)] = fields
        app_block, names, content_length, app_close, app_connection = fields
        count = len(names)

        # The server's defaults were validated and joined once (WriterDefaults); only a
        # name the application sent itself makes us pick them apart.
        defaults = self._defaults
        if defaults.error is not None:
            raise ProtocolError(500, defaults.error)
        block = defaults.block
        date = self._date_header and not defaults.has_date
        if count:
            for lname in defaults.names:
                if lname in names:
                    block = defaults.without(names)
                    break
            if date and b"date" in names:
                date = False

        keep_alive = self.keep_alive and not app_close
        tail = b"\r\n"
        if self._head_request or status < 200 or status == 204 or status == 304:
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
        if self._http11:
            # RFC 9112 §9.6: a server that is going to close MUST send "close".
            if not keep_alive and not app_close:
                tail = b"connection: close\r\n" + tail
        elif keep_alive and not app_connection:
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
        """The wire bytes for one piece of body; ``more_body=False`` ends the response."""
        mode = self._mode
        if self.finished or mode == _NOT_STARTED:
            raise ProtocolError(
                500, "response already finished" if self.finished else "body before start"
            )
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise ProtocolError(500, "response body must be bytes")
            data = bytes(data)
        if mode == _CHUNKED:
            if more_body:
                # An empty chunk would end the body (RFC 9112 §7.1): never write one.
                return b"%x\r\n%b\r\n" % (len(data), data) if data else b""
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
                self.finished = True
            return data
        if not more_body:
            self.finished = True
        if mode == _NO_BODY:
            # RFC 9110 §9.3.2 / §15.3.5 / §15.4.5: HEAD, 204 and 304 carry no content;
            # what the application sends is discarded.
            return b""
        return data  # _CLOSE

    @property
    def bodiless(self) -> bool:
        """After ``start()``: the response carries no content (HEAD, 1xx, 204, 304), so
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
            self.finished = True


def informational_response(status: int = 100, headers: HeaderPairs = ()) -> bytes:
    """A complete 1xx response, e.g. ``b"HTTP/1.1 100 Continue\\r\\n\\r\\n"``."""
    if type(status) is not int or not 100 <= status <= 199:
        raise ProtocolError(500, f"not an informational status: {status!r}")
    parts = [_status_line(status)]
    names: list[bytes] = []
    values: list[bytes] = []
    try:
        for name, value in headers:
            names.append(name.lower())
            values.append(value)
            parts += (name, b": ", value, b"\r\n")
    except (TypeError, AttributeError):
        raise ProtocolError(500, "response header names and values must be bytes") from None
    _check_fields(names, values)
    parts.append(b"\r\n")
    return b"".join(parts)


def error_response(
    status: int,
    reason: str,
    *,
    date_header: bool = True,
    server_header: bytes | None = b"asgi-magic",
) -> bytes:
    """A whole plain-text response that closes the connection (for 400, 500, 503 …).

    The body is ``reason`` and a newline; ``nosniff`` keeps browsers from guessing a
    type for it.
    """
    if type(status) is not int or not 200 <= status <= 999:
        raise ValueError(f"invalid error status {status!r}")
    body = reason.encode("utf-8", "replace") + b"\n"
    parts = [_status_line(status)]
    if server_header:
        _check_fields([b"server"], [server_header])
        parts.append(b"server: " + server_header + b"\r\n")
    if date_header:
        parts.append(_date_header_line())
    parts.append(
        b"content-type: text/plain; charset=utf-8\r\n"
        b"x-content-type-options: nosniff\r\n"
        b"content-length: %d\r\n"
        b"connection: close\r\n\r\n" % len(body)
    )
    parts.append(body)
    return b"".join(parts)
