"""Authentication in Starlette's shape: a backend, ``request.user`` / ``request.auth``,
and ``@requires(scopes)`` for HTTP and WebSocket handlers.

::

    class TokenBackend(AuthenticationBackend):
        async def authenticate(self, conn):
            if conn.headers.get("authorization") != "Bearer s3cret":
                return None                                  # anonymous
            return AuthCredentials(["authenticated"]), SimpleUser("alice")

    app.add_middleware(AuthenticationMiddleware, backend=TokenBackend())

    @app.get("/me")
    @requires("authenticated")
    async def me(request: Request) -> dict:
        return {"user": request.user.display_name}
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from ..asgi_types import ASGI3Application, Receive, Send
from .exceptions import HTTPException
from .requests import HTTPConnection
from .responses import PlainTextResponse, RedirectResponse, Response
from .websockets import WebSocket

__all__ = [
    "AuthCredentials",
    "AuthenticationBackend",
    "AuthenticationError",
    "AuthenticationMiddleware",
    "BaseUser",
    "SimpleUser",
    "UnauthenticatedUser",
    "has_required_scope",
    "requires",
]

logger = logging.getLogger("asgi_magic.web.auth")

_F = TypeVar("_F", bound=Callable[..., Any])


class AuthenticationError(Exception):
    """Raised by a backend for credentials that are present but malformed or wrong
    (answered 400, or by ``on_error``); return None for "no credentials"."""


class AuthCredentials:
    """The scopes (permissions) the request was granted: ``AuthCredentials(["read"])``."""

    def __init__(self, scopes: Sequence[str] | None = None) -> None:
        self.scopes = list(scopes or [])


class BaseUser:
    """What ``request.user`` is; subclass it for your own user objects."""

    @property
    def is_authenticated(self) -> bool:
        raise NotImplementedError()  # pragma: no cover

    @property
    def display_name(self) -> str:
        raise NotImplementedError()  # pragma: no cover

    @property
    def identity(self) -> str:
        raise NotImplementedError()  # pragma: no cover


class SimpleUser(BaseUser):
    """An authenticated user known only by name."""

    def __init__(self, username: str) -> None:
        self.username = username

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.username

    @property
    def identity(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"SimpleUser({self.username!r})"


class UnauthenticatedUser(BaseUser):
    """The anonymous user: ``request.user.is_authenticated`` is False."""

    @property
    def is_authenticated(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        return ""

    @property
    def identity(self) -> str:
        return ""


class AuthenticationBackend(Protocol):
    """``async def authenticate(conn) -> (AuthCredentials, BaseUser) | None``.

    ``conn`` is an :class:`~asgi_magic.web.HTTPConnection` (headers, cookies, session
    when SessionMiddleware is outside). Do not read the request body here.
    """

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        """The request's credentials and user, or None for an anonymous request."""


ErrorHandler = Callable[[HTTPConnection, AuthenticationError], Response]


def _default_on_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    return PlainTextResponse(str(exc) or "Authentication failed", status_code=400)


class AuthenticationMiddleware:
    """Set ``scope["user"]`` and ``scope["auth"]`` from ``backend.authenticate(conn)``
    for HTTP and WebSocket connections (``request.user``, ``websocket.auth`` …).

    A backend raising ``AuthenticationError`` gets a 400 with the error's text (one
    log line), or whatever ``on_error(conn, exc)`` returns; a WebSocket is closed
    before the handshake completes (the server answers 403).
    """

    def __init__(
        self,
        app: ASGI3Application,
        backend: AuthenticationBackend,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self.app = app
        self.backend = backend
        self.on_error: ErrorHandler = on_error or _default_on_error

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        try:
            result = await self.backend.authenticate(conn)
        except AuthenticationError as exc:
            logger.info("authentication failed: %s %s: %s", scope["type"], scope["path"], exc)
            if scope["type"] == "websocket":
                # asgiref www.rst: a close before accept is answered 403 by the server
                await send({"type": "websocket.close", "code": 1008, "reason": ""})
                return
            await self.on_error(conn, exc)(scope, receive, send)
            return
        if result is None:
            scope["auth"], scope["user"] = AuthCredentials(), UnauthenticatedUser()
        else:
            scope["auth"], scope["user"] = result
        await self.app(scope, receive, send)


def has_required_scope(conn: HTTPConnection, scopes: Sequence[str]) -> bool:
    """Does ``conn.auth`` grant every one of ``scopes``?"""
    auth = conn.scope.get("auth")
    granted = getattr(auth, "scopes", ())
    return all(scope in granted for scope in scopes)


def _connection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("@requires needs the handler to take the request (or websocket) as a parameter")


def requires(
    scopes: str | Sequence[str],
    status_code: int = 403,
    redirect: str | None = None,
) -> Callable[[_F], _F]:
    """Let a handler run only if the request has every scope in ``scopes``.

    Otherwise: a WebSocket is closed (1008 policy violation; the handshake is refused
    with 403); an HTTP request gets ``HTTPException(status_code)``, or, with
    ``redirect`` (a route name), a 303 to that route with ``?next=<this URL>``.
    Put it under the route decorator; the handler must take the request or websocket
    (any parameter name; it is found by type). Works on sync and async handlers.
    """
    wanted = [scopes] if isinstance(scopes, str) else list(scopes)

    def refusal(conn: HTTPConnection) -> Response:
        if redirect is not None:
            target = str(conn.url_for(redirect))
            # RFC 9110 §15.4.4: 303 makes the browser GET the login page
            return RedirectResponse(
                target + "?" + urlencode({"next": str(conn.url)}), status_code=303
            )
        raise HTTPException(status_code)

    def decorator(func: _F) -> _F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                conn = _connection(args, kwargs)
                if not has_required_scope(conn, wanted):
                    if isinstance(conn, WebSocket):
                        await conn.close(code=1008)
                        return None
                    return refusal(conn)
                return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            conn = _connection(args, kwargs)
            if not has_required_scope(conn, wanted):
                return refusal(conn)
            return func(*args, **kwargs)

        return sync_wrapper  # type: ignore[return-value]

    return decorator
