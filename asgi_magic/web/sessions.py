"""Signed-cookie sessions, with an optional server-side (Redis) backend.

``SessionMiddleware`` puts a :class:`Session` (a ``dict`` that remembers whether it was
changed) in ``scope["session"]``; ``request.session`` returns it.

Cookie format (every part base64url, cookie-safe per RFC 6265 §4.1.1)::

    <payload>.<issued-at, decimal unix seconds>.<HMAC-SHA256 over "payload.issued-at">

For cookie sessions the payload is the session as compact JSON; with a backend it is
only a random 256-bit session id, and the data lives on the server. Any cookie that is
malformed, tampered with, signed by an unknown key or older than ``max_age`` is treated
as "no session": the request gets an empty session, never an exception.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from email.utils import formatdate
from typing import Any, Literal, Protocol, TypeVar

from ..asgi_types import ASGI3Application, Message, Receive, Send

__all__ = [
    "CookieSigner",
    "MemorySessionBackend",
    "RedisSessionBackend",
    "Session",
    "SessionBackend",
    "SessionCookieTooLarge",
    "SessionMiddleware",
]

logger = logging.getLogger("asgi_magic.web.sessions")

# RFC 6265 §6.1: user agents SHOULD accept cookies of at least 4096 bytes (name, value
# and attributes together); larger ones are silently dropped by browsers, which would
# lose the session without a trace. We refuse to send them instead.
MAX_COOKIE_BYTES = 4096
# A cookie signed "in the future" is tolerated only within this clock skew (seconds),
# so several machines with slightly different clocks can share a secret key.
_CLOCK_SKEW = 60
_DEFAULT_BACKEND_TTL = 14 * 24 * 3600

_T = TypeVar("_T")
_MISSING: Any = object()


class SessionCookieTooLarge(ValueError):
    """The session does not fit in a cookie; store less or use a server-side backend."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # Padding was stripped on encode; re-add it. validate=True rejects foreign alphabets
    # instead of silently skipping characters (which would make forgeries "decode").
    raw = text.encode("ascii")
    raw = raw.replace(b"-", b"+").replace(b"_", b"/") + b"=" * (-len(raw) % 4)
    decoded = base64.b64decode(raw, validate=True)
    # Only the one canonical spelling is accepted (no padding, no stray low bits), so a
    # signed value cannot be varied into other strings that verify.
    if _b64encode(decoded) != text:
        raise ValueError("non-canonical base64")
    return decoded


class CookieSigner:
    """HMAC-SHA256 signing with a timestamp and key rotation.

    The first key signs; every key verifies, so a key can be retired by moving it to
    the end of the list and dropping it once ``max_age`` has passed.
    """

    def __init__(self, secret_keys: str | Sequence[str], salt: str = "asgi_magic.session") -> None:
        keys = [secret_keys] if isinstance(secret_keys, str) else list(secret_keys)
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise ValueError("secret_key must be a non-empty string or a list of them")
        # Derive one signing key per secret so the raw secret is never the HMAC key of
        # a value an attacker chooses, and a salt separates uses of the same secret.
        self._keys = [
            hmac.new(k.encode("utf-8"), salt.encode("utf-8"), hashlib.sha256).digest() for k in keys
        ]

    @staticmethod
    def _mac(key: bytes, message: bytes) -> bytes:
        # hmac.digest is the one-shot C path: several times faster than hmac.new().
        return hmac.digest(key, message, "sha256")

    def sign(self, payload: bytes, timestamp: int | None = None) -> str:
        issued = int(time.time()) if timestamp is None else timestamp
        message = f"{_b64encode(payload)}.{issued}"
        return f"{message}.{_b64encode(self._mac(self._keys[0], message.encode('ascii')))}"

    def unsign(self, token: str, max_age: int | None) -> tuple[bytes, int] | None:
        """Return ``(payload, issued_at)``, or None for anything not signed by us."""
        try:
            message, _, signature = token.rpartition(".")
            payload_b64, _, issued_text = message.partition(".")
            # isdigit() alone accepts non-ASCII digits; isascii() keeps it to 0-9.
            if not (issued_text.isascii() and issued_text.isdigit() and len(issued_text) < 16):
                return None
            given = _b64decode(signature)
            message_bytes = message.encode("ascii")
        except (ValueError, binascii.Error, UnicodeError):
            return None
        # Constant-time comparison against every key (no early exit on the first
        # mismatch, so timing does not reveal which key position matched).
        valid = False
        for key in self._keys:
            valid |= hmac.compare_digest(given, self._mac(key, message_bytes))
        if not valid:
            return None
        issued = int(issued_text)
        now = time.time()
        if issued > now + _CLOCK_SKEW:
            return None
        if max_age is not None and now - issued > max_age:
            return None
        try:
            return _b64decode(payload_b64), issued
        except (ValueError, binascii.Error):
            return None


class Session(dict[str, Any]):
    """The session: a ``dict`` that remembers whether it was modified.

    ``regenerate()`` gives the session a new identity with the same data: call it right
    after a login (or any privilege change) so an id planted before login by an attacker
    (session fixation) is worthless afterwards.
    """

    __slots__ = ("_id", "_issued", "modified", "regenerated")

    def __init__(
        self, data: Mapping[str, Any] | None = None, session_id: str | None = None
    ) -> None:
        super().__init__(data or {})
        self._id = session_id
        self._issued: int | None = None
        self.modified = False
        self.regenerated = False

    @property
    def id(self) -> str | None:
        """The server-side session id (None for cookie sessions and new sessions)."""
        return self._id

    def regenerate(self) -> None:
        """Give the session a new identity, keeping its data: call it on login and on
        every privilege change. With a server-side backend the old id is deleted at
        once, so an id planted before login (session fixation) is dead afterwards; a
        cookie session gets a freshly signed cookie."""
        self.regenerated = True
        self.modified = True

    # Every mutating dict method marks the session modified.
    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        """Empty the session; the response deletes the cookie (``Max-Age=0``) and a
        server-side backend deletes the stored data."""
        self.modified = True
        super().clear()

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        if key in self:
            self.modified = True
        if default is _MISSING:
            return super().pop(key)
        return super().pop(key, default)

    def popitem(self) -> tuple[str, Any]:
        self.modified = True
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override,misc]
        self.update(other)
        return self


class SessionBackend(Protocol):
    """Server-side storage: the cookie then carries only a signed random id."""

    async def load(self, session_id: str, ttl: int) -> dict[str, Any] | None:
        """Return the data (refreshing its TTL), or None if unknown/expired."""

    async def save(self, session_id: str, data: dict[str, Any], ttl: int) -> None: ...

    async def delete(self, session_id: str) -> None: ...


class MemorySessionBackend:
    """In-process backend for tests and single-process development (not shared)."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, str]] = {}

    async def load(self, session_id: str, ttl: int) -> dict[str, Any] | None:
        entry = self._data.get(session_id)
        if entry is None:
            return None
        expires, data = entry
        now = time.monotonic()
        if expires < now:
            del self._data[session_id]
            return None
        self._data[session_id] = (now + ttl, data)
        loaded: dict[str, Any] = json.loads(data)
        return loaded

    async def save(self, session_id: str, data: dict[str, Any], ttl: int) -> None:
        self._data[session_id] = (time.monotonic() + ttl, json.dumps(data))

    async def delete(self, session_id: str) -> None:
        self._data.pop(session_id, None)


class RedisSessionBackend:
    """Sessions in Redis (``pip install asgi-magic[redis]``), shared by every worker.

    Keys are ``prefix + session_id`` holding JSON, with an expiry of ``ttl`` seconds
    (default: the middleware's ``max_age``, or 14 days for browser sessions) that is
    refreshed on every request that loads the session (a sliding expiry).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "session:",
        ttl: int | None = None,
    ) -> None:
        import redis.asyncio  # optional dependency: import errors surface at construction

        self._redis_module = redis.asyncio
        self.url = url
        self.prefix = prefix
        self.ttl = ttl
        # redis.asyncio connections belong to the event loop that opened them; keep one
        # client per loop so the backend also works when tests start several loops.
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]
            client = self._redis_module.from_url(self.url, decode_responses=True)
            self._clients[loop] = client
        return client

    async def load(self, session_id: str, ttl: int) -> dict[str, Any] | None:
        # GETEX reads and refreshes the expiry in one round trip (Redis >= 6.2).
        raw = await self._client().getex(self.prefix + session_id, ex=ttl)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    async def save(self, session_id: str, data: dict[str, Any], ttl: int) -> None:
        await self._client().set(self.prefix + session_id, json.dumps(data), ex=ttl)

    async def delete(self, session_id: str) -> None:
        await self._client().delete(self.prefix + session_id)

    async def aclose(self) -> None:
        """Close the client of the running loop (call it on shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


def _cookie_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """All values of cookie ``name`` in the request's Cookie headers (RFC 6265 §5.4)."""
    found: list[str] = []
    prefix = name + b"="
    for key, value in headers:
        if key != b"cookie":
            continue
        for pair in value.split(b";"):
            pair = pair.strip()
            if pair.startswith(prefix):
                try:
                    found.append(pair[len(prefix) :].decode("ascii").strip('"'))
                except UnicodeDecodeError:
                    continue
    return found


class SessionMiddleware:
    """Put a :class:`Session` in ``scope["session"]``; send it back as a signed cookie.

    The cookie is only re-sent when the session changed, was regenerated or cleared
    (then a deleting cookie is sent), or when more than half of ``max_age`` has passed
    since it was issued (so active users are not logged out: a sliding expiry without
    a ``Set-Cookie`` on every response).
    """

    def __init__(
        self,
        app: ASGI3Application,
        secret_key: str | Sequence[str],
        session_cookie: str | None = None,
        max_age: int | None = 14 * 24 * 3600,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
        cookie_name: str = "session",
        backend: SessionBackend | None = None,
    ) -> None:
        self.app = app
        self.signer = CookieSigner(secret_key)
        # `session_cookie` is Starlette's name for the same setting.
        self.cookie_name = session_cookie or cookie_name
        if not self.cookie_name or any(c in self.cookie_name for c in '()<>@,;:\\"/[]?={} \t'):
            raise ValueError(f"invalid cookie name {self.cookie_name!r} (RFC 6265 §4.1.1 token)")
        if max_age is not None and max_age <= 0:
            raise ValueError("max_age must be a positive number of seconds or None")
        same_site_lower = same_site.lower()
        if same_site_lower not in ("lax", "strict", "none"):
            raise ValueError("same_site must be 'lax', 'strict' or 'none'")
        if same_site_lower == "none" and not https_only:
            # Browsers reject SameSite=None cookies without Secure.
            raise ValueError("same_site='none' requires https_only=True")
        self.max_age = max_age
        self.backend = backend
        ttl = getattr(backend, "ttl", None)
        self.backend_ttl: int = ttl or max_age or _DEFAULT_BACKEND_TTL
        attributes = f"; Path={path}"
        if domain:
            attributes += f"; Domain={domain}"
        attributes += "; HttpOnly"
        attributes += f"; SameSite={same_site_lower.capitalize()}"
        if https_only:
            attributes += "; Secure"
        self._attributes = attributes
        self._name_bytes = self.cookie_name.encode("ascii")

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session = await self._load(scope["headers"])
        scope["session"] = session
        if scope["type"] == "websocket":
            # A WebSocket handshake response could carry Set-Cookie, but changes made
            # during a long-lived connection cannot; the session is read-only there.
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await self._commit(session)
                if cookie is not None:
                    headers = list(message.get("headers", ()))
                    headers.append((b"set-cookie", cookie))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _load(self, headers: Iterable[tuple[bytes, bytes]]) -> Session:
        for token in _cookie_values(headers, self._name_bytes):
            unsigned = self.signer.unsign(token, self.max_age)
            if unsigned is None:
                logger.debug("session cookie rejected: bad signature, format or age")
                continue
            payload, issued = unsigned
            if self.backend is None:
                try:
                    data = json.loads(payload)
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    logger.debug("session cookie rejected: payload is not a JSON object")
                    continue
                session = Session(data)
            else:
                try:
                    session_id = payload.decode("ascii")
                except UnicodeDecodeError:
                    continue
                stored = await self.backend.load(session_id, self.backend_ttl)
                if stored is None:
                    continue
                session = Session(stored, session_id)
            session._issued = issued
            return session
        return Session()

    def _cookie(self, value: str, max_age: int | None) -> bytes:
        cookie = f"{self.cookie_name}={value}{self._attributes}"
        if max_age is not None:
            # Expires too, for clients that predate Max-Age (RFC 6265 §5.2.2 prefers it).
            expires = formatdate(time.time() + max_age, usegmt=True)
            cookie += f"; Max-Age={max_age}; Expires={expires}"
        return cookie.encode("latin-1")

    def _deleting_cookie(self) -> bytes:
        return (
            f"{self.cookie_name}={self._attributes}; Max-Age=0; "
            "Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        ).encode("latin-1")

    async def _commit(self, session: Session) -> bytes | None:
        """Persist the session and return the Set-Cookie value to send, if any."""
        had_cookie = session._issued is not None
        if not session:
            if not (had_cookie and (session.modified or session.regenerated)):
                return None
            if self.backend is not None and session._id is not None:
                await self.backend.delete(session._id)
            return self._deleting_cookie()
        stale = (
            had_cookie
            and self.max_age is not None
            and session._issued is not None
            and time.time() - session._issued > self.max_age / 2
        )
        if not (session.modified or session.regenerated or stale or not had_cookie):
            return None
        if self.backend is None:
            payload = json.dumps(session, separators=(",", ":")).encode("utf-8")
        else:
            if session._id is None or session.regenerated:
                if session._id is not None:
                    # The old id must stop working at once (session fixation).
                    await self.backend.delete(session._id)
                session._id = secrets.token_urlsafe(32)  # 256 bits from the OS CSPRNG
            if session.modified or session.regenerated or not had_cookie:
                await self.backend.save(session._id, dict(session), self.backend_ttl)
            payload = session._id.encode("ascii")
        cookie = self._cookie(self.signer.sign(payload), self.max_age)
        if len(cookie) > MAX_COOKIE_BYTES:
            message = (
                f"session cookie is {len(cookie)} bytes, over the {MAX_COOKIE_BYTES}-byte "
                "limit browsers accept (RFC 6265 §6.1): store less in the session or use "
                "a server-side backend such as RedisSessionBackend"
            )
            logger.error(message)
            raise SessionCookieTooLarge(message)
        session.modified = False
        session.regenerated = False
        return cookie
