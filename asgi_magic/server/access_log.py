"""The access log: one line per HTTP exchange or WebSocket session, one formatter for both.

The default line is the one asgi_magic has always printed (times in milliseconds)::

    127.0.0.1:51234 - "GET /path?q=1 HTTP/1.1" 200 0.4ms
    127.0.0.1:51236 - "GET /chat HTTP/1.1" 101 5021.3ms ws

``--access-log-format`` takes gunicorn's atoms (``%(h)s %(l)s %(u)s %(t)s "%(r)s" …``,
see ``ATOMS``) or the word ``json`` for one JSON object per line.

Everything that comes from the request (the target, headers, the client address a
proxy header may have named) is escaped before it reaches the line: control
characters, ``"``, ``\\`` and bytes outside printable ASCII become ``\\xNN``, so a
request can neither start a new line nor close a quoted field. JSON lines are
escaped by the JSON encoder instead (``\\uNNNN``), so they always parse.

Cost: the format is parsed once into a list of getters; a disabled log does no work
(callers test ``enabled`` and skip even the clock read); the default format is a single
``logger.info`` call with lazily formatted arguments, as before.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asgi_magic.config import Config

__all__ = ["ACCESS_LOGGER", "ATOMS", "AccessLog", "escape_bytes", "escape_str"]

ACCESS_LOGGER = "asgi_magic.access"

#: Status logged for an exchange the client abandoned before any response started
#: (nginx's "client closed request" convention; never sent on the wire).
STATUS_CLIENT_CLOSED = 499

# Bytes that may appear in a log field as they are: printable ASCII except '"' and '\'.
_UNSAFE_BYTES = re.compile(rb"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_UNSAFE_STR = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _hex(match: re.Match[bytes]) -> bytes:
    return b"\\x%02x" % match[0][0]


def escape_bytes(data: bytes) -> str:
    """``data`` as printable ASCII: control bytes, ``"``, ``\\`` and bytes ≥ 0x7f as ``\\xNN``."""
    if _UNSAFE_BYTES.search(data) is None:
        return data.decode("ascii")
    return _UNSAFE_BYTES.sub(_hex, data).decode("ascii")


def escape_str(text: str) -> str:
    """``text`` escaped as ``escape_bytes`` does its UTF-8 encoding."""
    if _UNSAFE_STR.search(text) is None:
        return text
    return escape_bytes(text.encode("utf-8", "surrogateescape"))


# --- what every atom reads --------------------------------------------------------------


class _Entry:
    """The arguments of one ``AccessLog.log`` call, for the getters of a custom format."""

    __slots__ = ("body_bytes", "closed_early", "duration", "response_headers", "scope", "status")

    def __init__(
        self,
        scope: Mapping[str, Any],
        status: int,
        response_headers: Sequence[tuple[bytes, bytes]],
        body_bytes: int,
        duration: float,
        closed_early: bool,
    ) -> None:
        self.scope = scope
        self.status = status
        self.response_headers = response_headers
        self.body_bytes = body_bytes
        self.duration = duration
        self.closed_early = closed_early


Getter = Callable[[_Entry], str]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_clf_cache: list[Any] = [-1, ""]


def _clf_now() -> str:
    """``[10/Oct/2000:13:55:36 +0000]``: Common Log Format, English months whatever the locale."""
    now = time.time()
    second = int(now)
    if second != _clf_cache[0]:
        tm = time.localtime(second)
        offset = tm.tm_gmtoff or 0
        sign = "+" if offset >= 0 else "-"
        offset = abs(offset) // 60
        _clf_cache[0] = second
        _clf_cache[1] = (
            f"[{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year:04d}:"
            f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {sign}{offset // 60:02d}{offset % 60:02d}]"
        )
    value: str = _clf_cache[1]
    return value


def _client_host(scope: Mapping[str, Any]) -> str:
    client = scope.get("client")
    return escape_str(str(client[0])) if client else "-"


def _method(scope: Mapping[str, Any]) -> str:
    # A WebSocket scope has no method: its handshake is always a GET (RFC 6455 §4.1).
    return escape_str(scope.get("method", "GET"))


def _target(scope: Mapping[str, Any]) -> str:
    target = escape_bytes(scope.get("raw_path") or scope.get("path", "").encode("utf-8"))
    query = scope.get("query_string")
    if query:
        target += "?" + escape_bytes(query)
    return target


def _request_header(scope: Mapping[str, Any], name: bytes) -> bytes | None:
    values = [value for key, value in scope.get("headers", ()) if key == name]
    if not values:
        return None
    return values[0] if len(values) == 1 else b",".join(values)


def _response_header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    values = [bytes(value) for key, value in headers if bytes(key).lower() == name]
    if not values:
        return None
    return values[0] if len(values) == 1 else b",".join(values)


def _basic_user(scope: Mapping[str, Any]) -> str:
    auth = _request_header(scope, b"authorization")
    if auth is None or auth[:6].lower() != b"basic ":
        return "-"
    try:
        user = base64.b64decode(auth[6:].strip(), validate=True).partition(b":")[0]
    except (binascii.Error, ValueError):
        return "-"
    return escape_bytes(user) if user else "-"


def _header_atom(name: str, out: bool) -> Getter:
    key = name.lower().encode("latin-1")
    if out:

        def response_header(e: _Entry) -> str:
            value = _response_header(e.response_headers, key)
            return "-" if value is None else escape_bytes(value)

        return response_header

    def request_header(e: _Entry) -> str:
        value = _request_header(e.scope, key)
        return "-" if value is None else escape_bytes(value)

    return request_header


def _env_atom(name: str) -> Getter:
    def environment(e: _Entry) -> str:
        value = os.environ.get(name)
        return "-" if value is None else escape_str(value)

    return environment


def _line(e: _Entry) -> str:
    return f"{_method(e.scope)} {_target(e.scope)} HTTP/{e.scope.get('http_version', '1.1')}"


#: gunicorn's atoms (https://docs.gunicorn.org/en/stable/settings.html#access-log-format),
#: each as ``%(X)s`` in a format; ``%({name}i)s``, ``%({name}o)s`` and ``%({NAME}e)s`` are
#: a request header, a response header and an environment variable ("-" when absent).
ATOMS: dict[str, tuple[str, Getter]] = {
    "h": ("remote address", lambda e: _client_host(e.scope)),
    "l": ("'-' (ident is never looked up)", lambda e: "-"),
    "u": ("user name from Basic authorization, or '-'", lambda e: _basic_user(e.scope)),
    "t": ("date and time, [10/Oct/2000:13:55:36 +0000]", lambda e: _clf_now()),
    "r": ("request line, GET /path?q HTTP/1.1", _line),
    "m": ("request method", lambda e: _method(e.scope)),
    "U": ("URL path without the query string (decoded)", lambda e: escape_str(e.scope["path"])),
    "q": ("query string", lambda e: escape_bytes(e.scope.get("query_string", b""))),
    "H": ("protocol, HTTP/1.1", lambda e: f"HTTP/{e.scope.get('http_version', '1.1')}"),
    "s": ("status", lambda e: str(e.status)),
    "B": ("response body length in bytes", lambda e: str(e.body_bytes)),
    "b": ("response body length, '-' for none (CLF)", lambda e: str(e.body_bytes or "-")),
    "f": ("Referer header", _header_atom("referer", False)),
    "a": ("User-Agent header", _header_atom("user-agent", False)),
    "T": ("request time in whole seconds", lambda e: str(int(e.duration))),
    "M": ("request time in whole milliseconds", lambda e: str(int(e.duration * 1e3))),
    "D": ("request time in whole microseconds", lambda e: str(int(e.duration * 1e6))),
    "L": ("request time in decimal seconds", lambda e: f"{e.duration:.6f}"),
    "p": ("process id, <1234>", lambda e: f"<{os.getpid()}>"),
}

_ATOM = re.compile(r"%\((\{[^}]*\}[ioe]|[^)]*)\)s|%%|%")


def parse_format(fmt: str) -> list[str | Getter]:
    """Parse a gunicorn-style format once into literal strings and getters.

    Raises ``ValueError`` naming an unknown atom or a stray ``%``.
    """
    parts: list[str | Getter] = []
    pos = 0
    for match in _ATOM.finditer(fmt):
        if match.start() > pos:
            parts.append(fmt[pos : match.start()])
        pos = match.end()
        token = match[0]
        if token == "%%":
            parts.append("%")
            continue
        atom = match[1]
        if atom is None:
            raise ValueError(f"access log format: a lone '%' at offset {match.start()}")
        if atom.startswith("{") and atom[-2:-1] == "}" and len(atom) > 3:
            name, kind = atom[1:-2], atom[-1]
            parts.append(_env_atom(name) if kind == "e" else _header_atom(name, kind == "o"))
        elif atom in ATOMS:
            parts.append(ATOMS[atom][1])
        else:
            raise ValueError(f"access log format: unknown atom %({atom})s")
    if pos < len(fmt):
        parts.append(fmt[pos:])
    # Adjacent literals (from '%%') are joined so each line joins fewer pieces.
    merged: list[str | Getter] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


_PARSED: dict[str, list[str | Getter]] = {}


class AccessLog:
    """Formats and writes access-log lines to the ``asgi_magic.access`` logger.

    ``enabled`` is False when ``config.access_log`` is off or the logger is not enabled
    for INFO: callers then skip all work (no clock reads, no ``log`` calls).
    """

    __slots__ = ("_client", "_host", "_logger", "_parts", "enabled", "format")

    def __init__(
        self, fmt: str | None = None, *, enabled: bool = True, logger: logging.Logger | None = None
    ) -> None:
        """``fmt``: None (the default line), ``"json"`` or a gunicorn-style format.

        Raises ``ValueError`` for an unknown atom.
        """
        self.format = fmt
        self.enabled = enabled
        self._logger = logger or logging.getLogger(ACCESS_LOGGER)
        self._parts: list[str | Getter] | None = None
        self._client: Any = None
        self._host = "-"
        if fmt is not None and fmt != "json":
            parts = _PARSED.get(fmt)
            if parts is None:
                parts = parse_format(fmt)
                if len(_PARSED) < 16:
                    _PARSED[fmt] = parts
            self._parts = parts

    @classmethod
    def from_config(cls, config: Config) -> AccessLog:
        """The access log ``config`` asks for; cheap enough to call per connection."""
        logger = logging.getLogger(ACCESS_LOGGER)
        enabled = config.access_log and logger.isEnabledFor(logging.INFO)
        return cls(getattr(config, "access_log_format", None), enabled=enabled, logger=logger)

    def log(
        self,
        scope: Mapping[str, Any],
        status: int,
        response_headers: Sequence[tuple[bytes, bytes]],
        body_bytes: int,
        duration: float,
        *,
        closed_early: bool = False,
    ) -> None:
        """Write one line for a finished exchange.

        ``scope``: the ASGI scope (``type`` "http" or "websocket"); ``status``: the
        status sent (101 for an accepted WebSocket session, logged when it ends; 499 for
        a request abandoned before any response); ``response_headers``: as sent by the
        app; ``body_bytes``: body bytes sent (0 for WebSocket); ``duration``: seconds
        from the request head to the end; ``closed_early``: the client went away before
        the response was complete.
        """
        if not self.enabled:
            return
        fmt = self.format
        if fmt is None:
            # One f-string and a preformatted message: cheaper than %-formatting eleven
            # arguments in the handler (logging applies ``%`` only when args are given).
            client = scope.get("client")
            if client is self._client:  # the same tuple for every request of a connection
                host = self._host
            else:
                host = f"{escape_str(str(client[0]))}:{client[1]}" if client else "-"
                self._client = client
                self._host = host
            target = escape_bytes(scope.get("raw_path") or b"")
            query = scope.get("query_string")
            if query:
                target = f"{target}?{escape_bytes(query)}"
            if scope["type"] == "http":
                line = (
                    f'{host} - "{scope["method"]} {target} HTTP/{scope["http_version"]}" '
                    f"{status} {duration * 1000.0:.1f}ms"
                )
            else:
                line = (
                    f'{host} - "GET {target} HTTP/{scope["http_version"]}" '
                    f"{status} {duration * 1000.0:.1f}ms ws"
                )
            if closed_early:
                line += " closed-early"
            self._logger.info(line)
        elif fmt == "json":
            self._logger.info(
                "%s",
                self._json(scope, status, response_headers, body_bytes, duration, closed_early),
            )
        else:
            entry = _Entry(scope, status, response_headers, body_bytes, duration, closed_early)
            parts = self._parts
            assert parts is not None
            self._logger.info(
                "%s",
                "".join([p if p.__class__ is str else p(entry) for p in parts]),  # type: ignore[operator]
            )

    @staticmethod
    def _json(
        scope: Mapping[str, Any],
        status: int,
        response_headers: Sequence[tuple[bytes, bytes]],
        body_bytes: int,
        duration: float,
        closed_early: bool,
    ) -> str:
        client = scope.get("client")
        query = scope.get("query_string") or b""
        referer = _request_header(scope, b"referer")
        agent = _request_header(scope, b"user-agent")
        record = {
            "time": round(time.time(), 3),
            "type": scope["type"],
            "client": f"{client[0]}:{client[1]}" if client else None,
            "method": scope.get("method", "GET"),
            # Bytes as text: UTF-8 where valid, \xNN for the rest; json.dumps then
            # escapes quotes and control characters, so the line always parses.
            "path": (scope.get("raw_path") or b"").decode("utf-8", "backslashreplace"),
            "query": query.decode("utf-8", "backslashreplace"),
            "http_version": scope.get("http_version", "1.1"),
            "status": status,
            "bytes": body_bytes,
            "duration_ms": round(duration * 1000.0, 3),
            "referer": None if referer is None else referer.decode("utf-8", "backslashreplace"),
            "user_agent": None if agent is None else agent.decode("utf-8", "backslashreplace"),
        }
        if closed_early:
            record["closed_early"] = True
        return json.dumps(record, ensure_ascii=True, separators=(",", ":"))
