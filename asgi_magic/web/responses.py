"""Response classes: each is an ASGI app that sends one response.

Hot path: ``Response.__call__`` sends exactly two messages, with the header list built
once in ``__init__`` (no per-send copies, no MutableHeaders unless the user asks).
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import functools
import http
import json
import re
import time
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal, Union
from urllib.parse import quote

from asgi_magic.status import is_final

from ._concurrency import iterate_in_threadpool
from ._types import Receive, Scope, Send
from .background import BackgroundTask
from .datastructures import URL, MutableHeaders, check_field

orjson: Any
try:
    import orjson
except ImportError:  # pragma: no cover - depends on the install
    orjson = None

__all__ = [
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
]

# RFC 9110 §6.4.1 / §8.6: 1xx, 204 and 304 responses never carry content, and a server
# MUST NOT send Content-Length in 1xx or 204.
_NO_BODY_STATUSES = frozenset({204, 304})

# RFC 6265 §4.1.1 cookie-name is an RFC 9110 §5.6.2 token.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 6265 §4.1.1: cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE );
# cookie-octet excludes CTLs, whitespace, DQUOTE, comma, semicolon and backslash.
_COOKIE_OCTETS = r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*"
_COOKIE_VALUE_RE = re.compile(rf'{_COOKIE_OCTETS}|"{_COOKIE_OCTETS}"')
# RFC 6265 §4.1.1: path-value / domain are av-octets: any CHAR except CTLs or ";".
_ATTR_VALUE_RE = re.compile(r"[\x20-\x3A\x3C-\x7E]*")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}

SameSite = Literal["lax", "strict", "none"]


def declared_charset(content_type: str) -> str | None:
    """The ``charset`` parameter of a Content-Type value (RFC 9110 §8.3.2), or None.

    Raises ``ValueError`` for a charset Python has no codec for: a label the body can
    not be encoded under is a programming error, found when the response is built.
    """
    if "charset" not in content_type.lower():
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip().strip('"')
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown charset {value!r} in {content_type!r}") from None
            return value
    return None


def encode_text(text: str, charset: str) -> bytes:
    """``text`` encoded under the charset the response declares; a character that
    charset cannot represent is a ``ValueError`` naming both (never mojibake)."""
    try:
        return text.encode(charset)
    except UnicodeEncodeError as exc:
        raise _unencodable(exc, charset) from None


def _unencodable(exc: UnicodeEncodeError, charset: str) -> ValueError:
    return ValueError(
        f"response text cannot be encoded as {charset}: {exc.object[exc.start : exc.end]!r} "
        f"at position {exc.start}; declare another charset (e.g. utf-8) or pass bytes"
    )


class Response:
    """One response: ``content`` (str, bytes or None), status, headers, media type.

    Text is encoded with ``charset`` (class attribute, default UTF-8), and the
    ``Content-Type`` label says the same charset: both come from one place. A charset
    given in ``media_type`` or in a ``Content-Type`` header (``text/plain;
    charset=iso-8859-1``) is the one used to encode; a character it cannot encode
    raises ``ValueError`` when the response is built.
    """

    media_type: str | None = None
    charset = "utf-8"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a subclass whose media_type names a charset encodes with it (once, here)
        media_type = cls.__dict__.get("media_type")
        if isinstance(media_type, str):
            charset = declared_charset(media_type)
            if charset is not None:
                cls.charset = charset

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None or headers is not None:
            self._declare(media_type, headers)
        self.background = background
        self.body = self.render(content)
        self.init_headers(headers)

    def _declare(self, media_type: str | None, headers: Mapping[str, str] | None) -> None:
        """Take the media type and the charset the response will be labelled with, so
        the encoder and the label agree (a Content-Type header wins, as it is sent)."""
        if media_type is not None:
            self.media_type = media_type
            charset = declared_charset(media_type)
            if charset is not None:
                self.charset = charset
        if headers is not None:
            for key, value in headers.items():
                if key.lower() == "content-type":
                    charset = declared_charset(value)
                    if charset is not None:
                        self.charset = charset

    def render(self, content: Any) -> bytes:
        if content.__class__ is str:
            try:
                return content.encode(self.charset)
            except UnicodeEncodeError as exc:
                raise _unencodable(exc, self.charset) from None
        if content is None:
            return b""
        if isinstance(content, (bytes, memoryview)):
            return bytes(content)
        return encode_text(content, self.charset)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        raw: list[tuple[bytes, bytes]]
        status = self.status_code
        # RFC 9110 §15: a response's status is a final one, 200..599 (every subclass
        # builds its headers here, so a bad status fails where the response is made).
        if (type(status) is not int or not 200 <= status <= 599) and not is_final(status):
            raise ValueError(f"invalid HTTP status code {status!r}: a final status is 200..599")
        if headers is None and status >= 200 and status not in _NO_BODY_STATUSES:
            # the hot path: two pairs, the content-type value cached per media type
            body = getattr(self, "body", None)
            media_type = self.media_type
            if body is not None and media_type is not None:
                self.raw_headers = [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", _content_type(media_type, self.charset)),
                ]
                return
            raw = []
            if body is not None:
                raw.append((b"content-length", str(len(body)).encode("latin-1")))
            if media_type is not None:
                raw.append((b"content-type", _content_type(media_type, self.charset)))
            self.raw_headers = raw
            return
        if headers is None:
            raw = []
            has_length = has_type = False
        else:
            raw = []
            for key, value in headers.items():
                name, data = key.lower().encode("latin-1"), value.encode("latin-1")
                check_field(name, data)  # RFC 9110 §5.5: no CR/LF/NUL (response splitting)
                raw.append((name, data))
            keys = {k for k, _ in raw}
            has_length = b"content-length" in keys
            has_type = b"content-type" in keys
        body = getattr(self, "body", None)
        status = self.status_code
        if (
            body is not None
            and not has_length
            and status >= 200
            and status not in _NO_BODY_STATUSES
        ):
            raw.append((b"content-length", str(len(body)).encode("latin-1")))
        media_type = self.media_type
        if media_type is not None and not has_type and status not in _NO_BODY_STATUSES:
            if media_type.startswith("text/") and "charset=" not in media_type.lower():
                media_type += "; charset=" + self.charset
            raw.append((b"content-type", media_type.encode("latin-1")))
        self.raw_headers = raw

    @property
    def headers(self) -> MutableHeaders:
        """A live, validating view over ``raw_headers``."""
        return MutableHeaders(raw=self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | str | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: SameSite | None = "lax",
    ) -> None:
        """Add a ``Set-Cookie`` header (RFC 6265 §4.1); bad names/values raise ValueError."""
        if not _TOKEN_RE.fullmatch(key):
            raise ValueError(f"invalid cookie name {key!r}: must be an RFC 9110 token")
        if not _COOKIE_VALUE_RE.fullmatch(value):
            raise ValueError(
                f"invalid cookie value for {key!r}: only RFC 6265 cookie-octets are allowed "
                "(no spaces, quotes, commas, semicolons, backslashes or non-ASCII); "
                "encode it first, e.g. with urllib.parse.quote"
            )
        parts = [f"{key}={value}"]
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        if expires is not None:
            parts.append(f"Expires={_format_expires(expires)}")
        if path is not None:
            _check_attr("Path", path)
            parts.append(f"Path={path}")
        if domain is not None:
            _check_attr("Domain", domain)
            parts.append(f"Domain={domain}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite is not None:
            canonical = _SAMESITE.get(str(samesite).lower())
            if canonical is None:
                raise ValueError("samesite must be 'strict', 'lax' or 'none'")
            # RFC 6265bis §5.6.7 / browsers: SameSite=None cookies without Secure are
            # rejected by the user agent, so refuse to build one.
            if canonical == "None" and not secure:
                raise ValueError("samesite='none' requires secure=True")
            parts.append(f"SameSite={canonical}")
        self.raw_headers.append((b"set-cookie", "; ".join(parts).encode("latin-1")))

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: SameSite | None = "lax",
    ) -> None:
        self.set_cookie(
            key,
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        # RFC 9110 §9.3.2: a response to HEAD carries the GET headers but no content.
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": self.body})
        if self.background is not None:
            await self.background()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} status_code={self.status_code}>"


@functools.lru_cache(maxsize=256)
def _content_type(media_type: str, charset: str) -> bytes:
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type += "; charset=" + charset
    return media_type.encode("latin-1")


def _check_attr(name: str, value: str) -> None:
    if not _ATTR_VALUE_RE.fullmatch(value):
        raise ValueError(f"invalid cookie {name} {value!r}: control characters or ';'")


def _format_expires(expires: datetime | str | int) -> str:
    if isinstance(expires, datetime):
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        return email.utils.format_datetime(expires.astimezone(timezone.utc), usegmt=True)
    if isinstance(expires, int):
        # seconds from now, as Starlette does; RFC 6265 §5.1.1 wants an HTTP-date
        return email.utils.formatdate(time.time() + expires, usegmt=True)
    _check_attr("Expires", expires)
    return expires


class HTMLResponse(Response):
    """A ``Response`` whose content (``str`` or ``bytes``) is sent as ``text/html;
    charset=utf-8``. The content is sent as given: escape untrusted text yourself."""

    media_type = "text/html"


class PlainTextResponse(Response):
    """A ``Response`` whose content (``str`` or ``bytes``) is sent as ``text/plain;
    charset=utf-8``; what a handler's returned ``str`` becomes."""

    media_type = "text/plain"


def _stdlib_dumps(content: Any) -> bytes:
    # allow_nan=False: RFC 8259 §6 has no NaN/Infinity; emitting them breaks clients.
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


if orjson is not None:
    _ORJSON_OPTS = (
        orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    )
    _orjson_dumps = orjson.dumps

    def json_dumps(content: Any) -> bytes:
        """Compact JSON; orjson when installed, byte-identical to the stdlib path."""
        try:
            out: bytes = _orjson_dumps(content, option=_ORJSON_OPTS)
        except TypeError:
            # types orjson refuses (ints over 64 bits, objects it does not know):
            # let the stdlib decide, so both installs behave the same.
            return _stdlib_dumps(content)
        # orjson spells small negative exponents "1e-7" where Python writes "1e-07";
        # the cheap substring test sends those (rare) documents through the stdlib.
        if b"e-" in out:
            return _stdlib_dumps(content)
        return out

else:  # pragma: no cover - depends on the install
    json_dumps = _stdlib_dumps


class JSONResponse(Response):
    """``content`` (any JSON-serialisable value) as compact UTF-8 JSON.

    The bytes are exactly ``json.dumps(content, separators=(",", ":"),
    ensure_ascii=False)``, produced by orjson when it is importable. NaN and the
    infinities raise ``ValueError`` (they are not JSON, RFC 8259 §6); a value that is not
    serialisable raises ``TypeError`` when the response is built. Media type
    ``application/json`` (no charset parameter: JSON is UTF-8, RFC 8259 §8.1).
    """

    media_type = "application/json"

    def _declare(self, media_type: str | None, headers: Mapping[str, str] | None) -> None:
        super()._declare(media_type, headers)
        # RFC 8259 §8.1: JSON exchanged between systems MUST be UTF-8, and the body is
        # always encoded so; another label would misdescribe it.
        if codecs.lookup(self.charset).name != "utf-8":
            raise ValueError(f"JSON is always UTF-8 (RFC 8259 §8.1), not {self.charset}")

    def render(self, content: Any) -> bytes:
        return json_dumps(content)


class RedirectResponse(Response):
    """A redirect (default 307, which keeps the method; 303 after a POST; 308 permanent)."""

    def __init__(
        self,
        url: str | URL,
        status_code: int = 307,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if not 300 <= status_code < 400:
            raise ValueError(f"a redirect needs a 3xx status, not {status_code}")
        location = str(url)
        # CR/LF would split the response (header injection) and NUL is never valid in a
        # field value (RFC 9110 §5.5); refuse instead of trying to escape them.
        if "\r" in location or "\n" in location or "\x00" in location:
            raise ValueError("redirect location must not contain CR, LF or NUL")
        # RFC 9110 §10.2.2: Location is a URI-reference; non-ASCII must be percent-encoded.
        # Existing escapes and reserved characters are kept as they are.
        location = quote(location, safe=":/%#?=@[]!$&'()*+,;~")
        super().__init__(
            content=b"", status_code=status_code, headers=headers, background=background
        )
        self.raw_headers.append((b"location", location.encode("latin-1")))


ContentStream = Union[AsyncIterable[Union[str, bytes]], Iterable[Union[str, bytes]]]  # noqa: UP007 - runtime alias on 3.10


class StreamingResponse(Response):
    """Send chunks from a (sync or async) iterator; stops if the client disconnects."""

    body_iterator: AsyncIterable[str | bytes]

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if isinstance(content, AsyncIterable):
            self.body_iterator = content
        else:
            self.body_iterator = iterate_in_threadpool(content)
        self.status_code = status_code
        if media_type is not None or headers is not None:
            self._declare(media_type, headers)
        self.background = background
        self.init_headers(headers)

    async def _listen_for_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def _stream(self, scope: Scope, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") != "HEAD":
            charset = self.charset
            async for chunk in self.body_iterator:
                if not isinstance(chunk, (bytes, memoryview)):
                    chunk = encode_text(chunk, charset)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = asyncio.ensure_future(self._stream(scope, send))
        listener = asyncio.ensure_future(self._listen_for_disconnect(receive))
        try:
            await asyncio.wait((stream, listener), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stream, listener):
                if not task.done():
                    task.cancel()
            await asyncio.gather(stream, listener, return_exceptions=True)
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:  # the generator's own cleanup failing is not ours
                    pass
        if stream.done() and not stream.cancelled():
            exc = stream.exception()
            # ASGI 2.4: send() raises OSError once the client is gone; that is an
            # ordinary disconnect, not an application error.
            if exc is not None and not isinstance(exc, OSError):
                raise exc
        # Background work (e.g. "send the e-mail") runs even when the client left early.
        if self.background is not None:
            await self.background()


def status_phrase(status_code: int) -> str:
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return ""
