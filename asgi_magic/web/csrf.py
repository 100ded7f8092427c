"""Cross-site request forgery protection (OWASP CSRF cheat sheet: synchronizer token,
or signed double-submit cookie when there is no session).

``CSRFMiddleware`` checks every request whose method is not safe (RFC 9110 §9.2.1:
anything but GET, HEAD, OPTIONS and TRACE) for a token, taken from the ``X-CSRF-Token``
header or from the ``csrf_token`` field of an urlencoded or multipart form, never from
the query string. A missing or wrong token is a 403 with a short message and one log
line. Pages get the token from ``csrf_token(request)`` (and templates from
``csrf_token()`` / ``csrf_input()`` in their context).

Where the secret lives:

- **with a session** (``SessionMiddleware`` outside this one): a random 256-bit secret
  in the session, so a token is valid for that session only; clearing the session
  (logout) or ``session.regenerate()`` (login) replaces it, and old tokens die with it;
- **without a session**: the secret travels in a cookie signed with ``secret_key``
  (HMAC-SHA256, :class:`~asgi_magic.web.sessions.CookieSigner`), named
  ``__Host-csrftoken`` over https (a prefix that stops a sibling subdomain from
  planting one, RFC 6265bis §4.1.3.2) and ``csrftoken`` over plain http.

The token sent to the page is the secret XOR a fresh random mask, with the mask, so
it differs on every response (BREACH cannot recover it from compressed pages); any
such token of the right secret verifies, compared with ``hmac.compare_digest``.

Reading a form for the token does not take the body away from the handler: an
urlencoded body (at most ``max_form_size`` bytes) is kept on the request; a
multipart body is read only up to the token field (the first part in a browser form
that puts it first; at most ``max_scan_size`` bytes), and those bytes are handed to
the application again before the rest of the stream.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Collection, MutableMapping
from typing import Any, TypeVar

from ..asgi_types import ASGI3Application, Message, Receive, Send
from .requests import HTTPConnection
from .responses import PlainTextResponse
from .sessions import CookieSigner

__all__ = ["CSRFMiddleware", "csrf_exempt", "csrf_token"]

logger = logging.getLogger("asgi_magic.web.csrf")

# RFC 9110 §9.2.1: the safe methods; every other method may change state.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_SECRET_BYTES = 32
_SESSION_KEY = "_csrf"
_STATE_KEY = "asgi_magic.csrf"
_F = TypeVar("_F", bound=Callable[..., Any])


def csrf_exempt(endpoint: _F) -> _F:
    """Mark a handler (a webhook, say) as not checked by ``CSRFMiddleware``.

    Put it under the route decorator: ``@app.post("/hook")`` then ``@csrf_exempt``.
    An exempt endpoint must authenticate its callers some other way (a signature).
    """
    endpoint.__csrf_exempt__ = True  # type: ignore[attr-defined]
    return endpoint


def csrf_token(request: HTTPConnection) -> str:
    """The token to put in a form (``<input type="hidden" name="csrf_token">``) or a
    ``X-CSRF-Token`` header. A new string each call, all valid for this session (or
    this browser's CSRF cookie). Raises ``RuntimeError`` without ``CSRFMiddleware``."""
    state: _RequestState | None = request.scope.get(_STATE_KEY)
    if state is None:
        raise RuntimeError("csrf_token() needs CSRFMiddleware in the middleware stack")
    return state.masked_token()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        raw = text.encode("ascii")
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (UnicodeError, ValueError, binascii.Error):
        return None


def _mask(secret: bytes) -> str:
    mask = secrets.token_bytes(len(secret))
    return _b64(mask + bytes(a ^ b for a, b in zip(mask, secret, strict=True)))


def _unmask(token: str) -> bytes | None:
    raw = _unb64(token)
    if raw is None or len(raw) != 2 * _SECRET_BYTES:
        return None
    mask, masked = raw[:_SECRET_BYTES], raw[_SECRET_BYTES:]
    return bytes(a ^ b for a, b in zip(mask, masked, strict=True))


class _RequestState:
    """The secret for one request, created lazily and persisted on the way out."""

    __slots__ = ("_middleware", "_scope", "_session", "new_cookie", "rotated", "secret")

    def __init__(self, middleware: CSRFMiddleware, scope: MutableMapping[str, Any]) -> None:
        self._middleware = middleware
        self._scope = scope
        # Decided once, on the way in: a SessionMiddleware *inside* this one loads the
        # session too late for the check, so then the cookie mode is used throughout.
        self._session: Any = scope.get("session")
        self.secret: bytes | None = None
        self.new_cookie = False
        self.rotated = False

    @property
    def session_mode(self) -> bool:
        return self._session is not None

    @property
    def secure(self) -> bool:
        return self._scope.get("scheme") in ("https", "wss")

    @property
    def cookie_name(self) -> str:
        return self._middleware.cookie_name_for(self.secure)

    def current_secret(self) -> bytes | None:
        """The secret the client holds now (None if it has none), before any rotation."""
        session = self._session
        if session is not None:
            value = session.get(_SESSION_KEY)
            secret = _unb64(value) if isinstance(value, str) else None
            return secret if secret is not None and len(secret) == _SECRET_BYTES else None
        cookie = HTTPConnection(self._scope).cookies.get(self.cookie_name)
        if not cookie:
            return None
        unsigned = self._middleware.signer.unsign(cookie, None)
        if unsigned is None or len(unsigned[0]) != _SECRET_BYTES:
            return None
        return unsigned[0]

    def _new_secret(self) -> bytes:
        secret = secrets.token_bytes(_SECRET_BYTES)
        session = self._session
        if session is not None:
            session[_SESSION_KEY] = _b64(secret)
        else:
            self.new_cookie = True
        self.secret = secret
        return secret

    def rotate_if_regenerated(self) -> None:
        # A login calls session.regenerate(): tokens issued before it must stop working
        # (a token planted before login is as bad as a planted session id).
        session = self._session
        if session is not None and getattr(session, "regenerated", False) and not self.rotated:
            self.rotated = True
            self._new_secret()

    def masked_token(self) -> str:
        self.rotate_if_regenerated()
        secret = self.secret
        if secret is None:
            secret = self.current_secret() or self._new_secret()
            self.secret = secret
        return _mask(secret)

    def set_cookie_header(self) -> bytes | None:
        if not self.new_cookie or self.secret is None:
            return None
        value = self._middleware.signer.sign(self.secret)
        attributes = "; Path=/; HttpOnly; SameSite=" + self._middleware.same_site
        if self.secure:
            attributes += "; Secure"
        return f"{self.cookie_name}={value}{attributes}".encode("latin-1")


class _Rejected(Exception):
    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class CSRFMiddleware:
    """``app.add_middleware(CSRFMiddleware, secret_key=...)``, added *before*
    ``SessionMiddleware`` (so the session is outside it) when sessions are used.

    Options: ``exempt_paths`` (exact paths, or regular expressions given as compiled
    patterns, matched against the full request path) and the ``@csrf_exempt``
    decorator exempt routes; ``header_name`` (``X-CSRF-Token``), ``field_name``
    (``csrf_token``), ``cookie_name`` (``csrftoken``, ``__Host-`` prefixed over https),
    ``same_site`` (``Lax``) for the cookie; ``max_form_size`` (2 MiB) caps the
    urlencoded body read for the token (413 beyond) and ``max_scan_size`` (1 MiB) how
    far into a multipart body the token field is looked for (403 beyond: put the
    token field before the file inputs, or send the header).
    """

    def __init__(
        self,
        app: ASGI3Application,
        secret_key: str | Collection[str],
        *,
        exempt_paths: Collection[str | re.Pattern[str]] = (),
        header_name: str = "X-CSRF-Token",
        field_name: str = "csrf_token",
        cookie_name: str = "csrftoken",
        same_site: str = "lax",
        max_form_size: int = 2 * 1024 * 1024,
        max_scan_size: int = 1024 * 1024,
    ) -> None:
        if same_site.lower() not in ("lax", "strict"):
            # None would send the cookie on cross-site requests, the very thing to stop
            raise ValueError("same_site must be 'lax' or 'strict'")
        keys = [secret_key] if isinstance(secret_key, str) else list(secret_key)
        self.app = app
        self.signer = CookieSigner(keys, salt="asgi_magic.csrf")
        self.exempt_exact = frozenset(p for p in exempt_paths if isinstance(p, str))
        self.exempt_patterns = [p for p in exempt_paths if isinstance(p, re.Pattern)]
        self.header_name = header_name.lower().encode("latin-1")
        self.field_name = field_name
        self.cookie_name = cookie_name
        self.same_site = same_site.capitalize()
        self.max_form_size = max_form_size
        self.max_scan_size = max_scan_size

    def cookie_name_for(self, secure: bool) -> str:
        # RFC 6265bis §4.1.3.2: a __Host- cookie must be Secure, Path=/, no Domain,
        # so a sibling subdomain cannot set or overwrite it.
        return "__Host-" + self.cookie_name if secure else self.cookie_name

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _RequestState(self, scope)
        scope[_STATE_KEY] = state
        if scope["method"] not in SAFE_METHODS and not self._exempt(scope):
            try:
                receive = await self._check(scope, receive, state)
            except _Rejected as exc:
                logger.warning(
                    "CSRF check failed: %s %s: %s", scope["method"], scope["path"], exc.reason
                )
                response = PlainTextResponse(f"CSRF check failed: {exc.reason}", exc.status)
                await response(scope, receive, send)
                return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state.rotate_if_regenerated()
                cookie = state.set_cookie_header()
                if cookie is not None:
                    headers = list(message.get("headers", ()))
                    headers.append((b"set-cookie", cookie))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)

    # --- exemption ------------------------------------------------------------------

    def _exempt(self, scope: MutableMapping[str, Any]) -> bool:
        path: str = scope["path"]
        if path in self.exempt_exact or any(p.fullmatch(path) for p in self.exempt_patterns):
            return True
        endpoint = _find_endpoint(scope)
        return bool(getattr(endpoint, "__csrf_exempt__", False))

    # --- the check --------------------------------------------------------------------

    async def _check(
        self, scope: MutableMapping[str, Any], receive: Receive, state: _RequestState
    ) -> Receive:
        """Raise ``_Rejected`` unless the request carries a valid token; return the
        ``receive`` the application should use (it replays what was read here)."""
        expected = state.current_secret()
        submitted: str | None = None
        for key, value in scope["headers"]:
            if key == self.header_name:
                submitted = value.decode("latin-1")
                break
        if submitted is None:
            submitted, receive = await self._token_from_form(scope, receive)
        if expected is None:
            if state.session_mode:
                raise _Rejected("no CSRF token was issued to this session")
            raise _Rejected("CSRF cookie missing")
        if not submitted:
            raise _Rejected("CSRF token missing")
        given = _unmask(submitted)
        if given is None or not hmac.compare_digest(given, expected):
            raise _Rejected("CSRF token invalid")
        return receive

    async def _token_from_form(
        self, scope: MutableMapping[str, Any], receive: Receive
    ) -> tuple[str | None, Receive]:
        content_type = ""
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value.decode("latin-1")
                break
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type == "application/x-www-form-urlencoded":
            return await self._from_urlencoded(scope, receive)
        if media_type == "multipart/form-data":
            return await self._from_multipart(content_type, receive)
        return None, receive

    async def _from_urlencoded(
        self, scope: MutableMapping[str, Any], receive: Receive
    ) -> tuple[str | None, Receive]:
        from urllib.parse import parse_qsl

        body: bytes | None = scope.get("asgi_magic.body")
        if body is None:
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Rejected("client disconnected", 400)
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_form_size:
                    raise _Rejected(f"form body over {self.max_form_size} bytes", 413)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            # kept on the request: the handler's Request.body()/form() reuse it
            scope["asgi_magic.body"] = body
        token = None
        name = self.field_name
        for key, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if key == name:
                token = value
                break
        return token, _replay([body], False, receive)

    async def _from_multipart(
        self, content_type: str, receive: Receive
    ) -> tuple[str | None, Receive]:
        # imported here: most apps never see a multipart body
        from ._multipart_parser import (
            MultipartError,
            MultipartParser,
            PartData,
            PartEnd,
            PartStart,
            parse_boundary,
            parse_content_disposition,
        )

        try:
            parser = MultipartParser(parse_boundary(content_type))
        except MultipartError:
            return None, receive
        read: list[bytes] = []
        size = 0
        more = True
        in_field = False
        value = bytearray()
        try:
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Rejected("client disconnected", 400)
                chunk = message.get("body", b"")
                more = message.get("more_body", False)
                read.append(chunk)
                # Only the first max_scan_size bytes are ever parsed, so the verdict
                # does not depend on how the body was split into messages.
                budget = self.max_scan_size - size
                size += len(chunk)
                for event in parser.feed(chunk[:budget] if len(chunk) > budget else chunk):
                    if isinstance(event, PartStart):
                        dispositions = [v for k, v in event.headers if k == b"content-disposition"]
                        in_field = False
                        if len(dispositions) == 1:
                            name, filename = parse_content_disposition(dispositions[0])
                            # a file part named csrf_token is not a token (wrong place)
                            in_field = name == self.field_name and filename is None
                    elif isinstance(event, PartData) and in_field:
                        value += event.data
                        if len(value) > 1024:
                            return None, _replay(read, more, receive)
                    elif isinstance(event, PartEnd) and in_field:
                        token = value.decode("latin-1")
                        return token, _replay(read, more, receive)
                if (size >= self.max_scan_size and more) or size > self.max_scan_size:
                    raise _Rejected(
                        f"no CSRF token in the first {self.max_scan_size} bytes of the "
                        "form (put the csrf_token field before file inputs, or send "
                        "the X-CSRF-Token header)"
                    )
        except MultipartError:
            pass  # malformed: no token; the 403 says so (the handler never runs)
        return None, _replay(read, more, receive)


def _replay(chunks: list[bytes], more: bool, receive: Receive) -> Receive:
    """A ``receive`` that first gives back what was read, then the rest of the stream."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": more}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


def _find_endpoint(scope: MutableMapping[str, Any]) -> Any:
    """The handler the router would call for this request, through mounts (None if
    there is none); only looked up for unsafe methods."""
    from .routing import Mount, Route, Router

    path: str = scope["path"]
    # App puts the outermost router in the scope: it matches the full path
    router: Any = scope.get("router")
    route_path = path
    if router is None:
        router = getattr(scope.get("app"), "router", None)
        root = scope.get("root_path", "") or ""
        if root and path.startswith(root):
            route_path = path[len(root) :]
    method: str = scope["method"]
    for _ in range(16):  # mounts nest a few levels at most
        if not isinstance(router, Router):
            return None
        route, params, _allowed = router.match("http", route_path, method)
        if isinstance(route, Route):
            return route.endpoint
        if not isinstance(route, Mount):
            return None
        matched, _ = params["__mount__"]
        route_path = route_path[len(matched) :] or "/"
        child = route._base_app
        router = getattr(child, "router", child)
    return None
