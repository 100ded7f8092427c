"""The response serializer (RFC 9112 §4, §6; RFC 9110 §6.6 Date).

``ResponseWriter.start()`` validates what the application asked for and chooses the
framing in a single pass that builds one ``bytes`` object; ``body()`` frames each piece.
Everything the application gets wrong raises ``ProtocolError(500, …)`` and nothing of it
is written: the server answers 500 (before the head left) or closes the connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from http import HTTPStatus

from ._abnf import DIGITS_RE, FIELD_VALUE_BYTES, TCHAR
from ._errors import ProtocolError

__all__ = ["ResponseWriter", "error_response", "http_date", "informational_response"]

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


def _status_line(status: int) -> bytes:
    """``HTTP/1.1 <code> <reason>\\r\\n``; unknown codes get an empty reason (RFC 9112 §4:
    the SP before it stays). We always answer with our version, 1.1 (RFC 9110 §6.2)."""
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase.encode("ascii")
        except ValueError:
            phrase = b""
        line = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
        _STATUS_LINES[status] = line
    return line


for _status in HTTPStatus:
    _status_line(_status.value)


def _check_status(status: int) -> None:
    # RFC 9110 §15: status-code is three digits; bool is an int but never a status.
    if type(status) is not int or not 100 <= status <= 999:
        raise ProtocolError(500, f"invalid status code {status!r}")


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


# -- The writer --------------------------------------------------------------------------

_NOT_STARTED = 0
_NO_BODY = 1  # HEAD, 1xx, 204, 304: RFC 9112 §6.3 (1)
_LENGTH = 2  # the application's Content-Length, enforced
_CHUNKED = 3  # HTTP/1.1 without a length: RFC 9112 §7.1
_CLOSE = 4  # HTTP/1.0 without a length: the end of the body is the connection close

_FRAMING_FIELDS = frozenset((b"content-length", b"transfer-encoding", b"connection"))


class ResponseWriter:
    """Serialises one response to one request (a new writer per request)."""

    __slots__ = (
        "_date_header",
        "_default_headers",
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
        default_headers: HeaderPairs = (),
        date_header: bool = True,
    ) -> None:
        self._head_request = request_method == b"HEAD"
        self._http11 = http_version == "1.1"
        self._default_headers = default_headers
        self._date_header = date_header
        self._mode = _NOT_STARTED
        self._remaining = 0
        self.keep_alive = keep_alive
        """After ``start()``: whether the connection may persist after this response."""
        self.finished = False
        """The last ``body()`` call (``more_body=False``) was made."""

    def start(self, status: int, headers: HeaderPairs) -> bytes:
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
        _check_status(status)
        parts = [_status_line(status), b""]  # [1]: default headers, filled in below
        names: list[bytes] = []
        values: list[bytes] = []
        content_length: bytes | None = None
        transfer_encoding = False
        app_close = False
        app_connection = False
        try:
            for name, value in headers:
                lname = name.lower()
                if lname in _FRAMING_FIELDS:
                    if lname == b"content-length":
                        if status < 200 or status == 204:
                            continue
                        value = value.strip(b" \t")
                        if DIGITS_RE.fullmatch(value) is None:
                            raise ProtocolError(500, "invalid Content-Length from the application")
                        if content_length is not None:
                            if int(value) != int(content_length):
                                raise ProtocolError(500, "conflicting Content-Length values")
                            continue
                        content_length = value
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
                values.append(value)
        except (TypeError, AttributeError):
            raise ProtocolError(500, "response header names and values must be bytes") from None
        if transfer_encoding and content_length is not None:
            raise ProtocolError(
                500, "both Content-Length and Transfer-Encoding from the application"
            )

        defaults: list[bytes] = []
        for name, value in self._default_headers:
            if name.lower() not in names:
                defaults += (name, b": ", value, b"\r\n")
                names.append(name)
                values.append(value)
        _check_fields(names, values)
        if self._date_header and b"date" not in names:
            defaults.append(_date_header_line())
        if defaults:
            parts[1] = b"".join(defaults)

        keep_alive = self.keep_alive and not app_close
        if self._head_request or status < 200 or status == 204 or status == 304:
            self._mode = _NO_BODY
        elif content_length is not None:
            self._mode = _LENGTH
            self._remaining = int(content_length)
        elif self._http11:
            self._mode = _CHUNKED
            parts.append(b"transfer-encoding: chunked\r\n")
        else:
            self._mode = _CLOSE
            keep_alive = False
        if self._http11:
            # RFC 9112 §9.6: a server that is going to close MUST send "close".
            if not keep_alive and not app_close:
                parts.append(b"connection: close\r\n")
        elif keep_alive and not app_connection:
            # RFC 9112 §9.3: HTTP/1.0 persistence needs an explicit keep-alive.
            parts.append(b"connection: keep-alive\r\n")
        self.keep_alive = keep_alive
        parts.append(b"\r\n")
        return b"".join(parts)

    def body(self, data: bytes, more_body: bool = False) -> bytes:
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
