"""``Request`` and its websocket-shared base ``HTTPConnection``.

Everything is computed lazily and cached: a handler that reads only ``path_params``
never pays for header, URL or cookie parsing.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from http.cookies import _unquote
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from ._types import Message, Receive, Scope, Send
from .datastructures import URL, FormData, Headers, QueryParams, State
from .exceptions import HTTPException

if TYPE_CHECKING:
    from .sessions import Session

try:
    import orjson

    _json_loads: Any = orjson.loads
except ImportError:  # pragma: no cover - depends on the install
    _json_loads = json.loads

__all__ = ["Address", "ClientDisconnect", "HTTPConnection", "Request", "cookie_parser"]

logger = logging.getLogger("asgi_magic.web")

#: The scope key holding the body limit in bytes (set by ``App(max_body_size=...)``
#: and by a route's ``max_body_size``); absent means no limit.
BODY_LIMIT_KEY = "asgi_magic.max_body_size"
#: An urlencoded form is held in memory: its default cap (bytes) when the caller gives
#: none. Browsers send files as multipart, so a real urlencoded form is small.
DEFAULT_FORM_MAX_BODY = 2 * 1024 * 1024


def _body_too_large(limit: int) -> HTTPException:
    if logger.isEnabledFor(logging.INFO):
        logger.info("request body refused: over the %d-byte limit", limit)
    return HTTPException(413, f"Request body too large (maximum {limit} bytes)")


class Address(NamedTuple):
    host: str
    port: int


class ClientDisconnect(Exception):
    """The client went away while the body was being read."""


def cookie_parser(cookie_string: str) -> dict[str, str]:
    """Parse a ``Cookie`` header leniently, the way browsers send it (RFC 6265 §5.4).

    Malformed pairs are skipped rather than failing the whole request; the last value
    of a repeated name wins.
    """
    cookies: dict[str, str] = {}
    for chunk in cookie_string.split(";"):
        if "=" in chunk:
            key, _, value = chunk.partition("=")
        else:
            key, value = "", chunk
        key, value = key.strip(), value.strip()
        if key or value:
            cookies[key] = _unquote(value)
    return cookies


async def _empty_receive() -> Message:
    raise RuntimeError("receive channel unavailable")


async def _empty_send(message: Message) -> None:
    raise RuntimeError("send channel unavailable")


class HTTPConnection(Mapping[str, Any]):
    """What HTTP requests and websocket connections have in common."""

    __slots__ = (
        "_base_url",
        "_cookies",
        "_headers",
        "_query_params",
        "_state",
        "_url",
        "scope",
    )

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        assert scope["type"] in ("http", "websocket")
        self.scope: Any = scope
        self._headers: Headers | None = None
        self._url: URL | None = None
        self._base_url: URL | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._state: State | None = None

    # Mapping interface over the scope, as Starlette offers
    def __getitem__(self, key: str) -> Any:
        return self.scope[key]

    def __iter__(self) -> Any:
        return iter(self.scope)

    def __len__(self) -> int:
        return len(self.scope)

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def app(self) -> Any:
        return self.scope.get("app")

    @property
    def url(self) -> URL:
        if self._url is None:
            self._url = URL(scope=self.scope)
        return self._url

    @property
    def base_url(self) -> URL:
        """The URL of the application root (``root_path`` included), ending in ``/``."""
        if self._base_url is None:
            root: str = self.scope.get("app_root_path", self.scope.get("root_path", "")) or ""
            self._base_url = self._url_at(root)
        return self._base_url

    def _url_at(self, root: str) -> URL:
        scope = dict(self.scope)
        scope["path"] = root if root.endswith("/") else root + "/"
        scope["root_path"] = ""
        scope["query_string"] = b""
        scope.pop("raw_path", None)  # the raw bytes are the request's path, not `root`
        return URL(scope=scope)

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(scope=self.scope)
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        if self._query_params is None:
            self._query_params = QueryParams(self.scope.get("query_string", b""))
        return self._query_params

    @property
    def path_params(self) -> dict[str, Any]:
        return cast("dict[str, Any]", self.scope.get("path_params", {}))

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for value in self.headers.getlist("cookie"):
                cookies.update(cookie_parser(value))
            self._cookies = cookies
        return self._cookies

    @property
    def client(self) -> Address | None:
        client = self.scope.get("client")
        if client is None:
            return None
        return Address(client[0], client[1])

    @property
    def session(self) -> Session:
        assert "session" in self.scope, (
            "SessionMiddleware must be installed to access request.session"
        )
        return cast("Session", self.scope["session"])

    @property
    def user(self) -> Any:
        """The ``BaseUser`` AuthenticationMiddleware set (``UnauthenticatedUser`` when
        the backend found no credentials)."""
        assert "user" in self.scope, (
            "AuthenticationMiddleware must be installed to access request.user"
        )
        return self.scope["user"]

    @property
    def auth(self) -> Any:
        """The ``AuthCredentials`` (granted scopes) AuthenticationMiddleware set."""
        assert "auth" in self.scope, (
            "AuthenticationMiddleware must be installed to access request.auth"
        )
        return self.scope["auth"]

    @property
    def state(self) -> State:
        """Per-request state; starts from the lifespan state the server copied in."""
        if self._state is None:
            self._state = State(self.scope.setdefault("state", {}))
        return self._state

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        """Absolute URL of a named route: searched from the outermost app, then (for a
        mounted sub-app) in the app that is handling this request."""
        from .routing import NoMatchFound  # routing imports this module

        router = self.scope.get("router")
        if router is not None:
            try:
                url_path = router.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
            else:
                return cast(URL, url_path.make_absolute_url(base_url=self.base_url))
        local = getattr(self.app, "router", None)
        if local is None or local is router:
            raise NoMatchFound(name, path_params)
        url_path = local.url_path_for(name, **path_params)
        return cast(
            URL, url_path.make_absolute_url(base_url=self._url_at(self.scope.get("root_path", "")))
        )


class Request(HTTPConnection):
    __slots__ = (
        "_body",
        "_form",
        "_is_disconnected",
        "_pending",
        "_receive",
        "_send",
        "_stream_consumed",
    )

    def __init__(
        self, scope: Scope, receive: Receive = _empty_receive, send: Send = _empty_send
    ) -> None:
        super().__init__(scope)
        assert scope["type"] == "http"
        self._receive = receive
        self._send = send
        self._stream_consumed = False
        self._is_disconnected = False
        self._form: FormData | None = None
        # body messages is_disconnected() received early, kept for the body reader
        self._pending: list[Message] = []
        # a body already read by an outer @app.middleware Request is shared, not re-read
        self._body: bytes | None = self.scope.get("asgi_magic.body")

    @property
    def method(self) -> str:
        return cast(str, self.scope["method"])

    @property
    def receive(self) -> Receive:
        return self._receive

    async def stream(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk, as it arrives, without buffering it.

        With a body limit (``App(max_body_size=...)`` or a route's ``max_body_size``)
        a body over it is refused with ``HTTPException(413)``: at once when
        Content-Length announces it, else as soon as the bytes received pass it.
        """
        limit: int | None = self.scope.get(BODY_LIMIT_KEY)
        if self._body is not None:
            if limit is not None and len(self._body) > limit:
                raise _body_too_large(limit)
            yield self._body
            yield b""
            return
        if self._stream_consumed:
            raise RuntimeError("the request body stream was already consumed")
        self._stream_consumed = True
        pending = self._pending
        received = 0
        if limit is not None:
            declared = self.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _body_too_large(limit)
        while True:
            message = pending.pop(0) if pending else await self._receive()
            kind = message["type"]
            if kind == "http.request":
                body = message.get("body", b"")
                if body:
                    if limit is not None:
                        received += len(body)
                        if received > limit:
                            raise _body_too_large(limit)
                    yield body
                if not message.get("more_body", False):
                    break
            elif kind == "http.disconnect":
                self._is_disconnected = True
                raise ClientDisconnect()
        yield b""

    async def body(self) -> bytes:
        """The whole body (413 over the app's or route's body limit, see ``stream``)."""
        if self._body is None:
            chunks = [chunk async for chunk in self.stream()]
            self._body = b"".join(chunks)
            self.scope["asgi_magic.body"] = self._body
        else:
            limit: int | None = self.scope.get(BODY_LIMIT_KEY)
            if limit is not None and len(self._body) > limit:
                raise _body_too_large(limit)
        return self._body

    async def json(self) -> Any:
        body = await self.body()
        try:
            return _json_loads(body)
        except ValueError:
            raise HTTPException(400, "Invalid JSON body") from None

    async def form(
        self,
        *,
        max_files: int = 1000,
        max_fields: int = 1000,
        max_part_size: int = 1024 * 1024,
        max_file_size: int | None = None,
        max_body_size: int | None = None,
    ) -> FormData:
        """Parse an urlencoded or multipart body (400 on a malformed form).

        Which parameter caps what:

        - ``max_fields``: text fields (both encodings), 400 beyond;
        - ``max_files``: file parts (multipart), 400 beyond;
        - ``max_part_size``: bytes of one *text* field (both encodings), 413 beyond;
          it does **not** cap files;
        - ``max_file_size``: bytes of one *file* part (multipart), 413 beyond; None
          (the default) leaves files unbounded but for ``max_body_size``;
        - ``max_body_size``: bytes of the whole body, 413 beyond. An urlencoded body
          is held in memory, so when None it is capped at ``DEFAULT_FORM_MAX_BODY``
          (2 MiB); a multipart body streams to disk and is then bounded only by the
          app's or route's body limit, if any.

        An urlencoded body is decoded as browsers encode it (WHATWG URL §5.1): the
        ``charset`` of the Content-Type (UTF-8 by default), invalid bytes becoming
        U+FFFD; an unknown charset is a 400. Every limit gives the same verdict
        however the body was split into network reads.
        """
        if self._form is not None:
            return self._form
        content_type = self.headers.get("content-type", "")
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type == "multipart/form-data":
            # imported lazily: uploads are a separate module and most apps never use them
            multipart = importlib.import_module("asgi_magic.web.multipart")
            form = await multipart.parse_multipart(
                self.stream(),
                content_type,
                max_files=max_files,
                max_fields=max_fields,
                max_part_size=max_part_size,
                max_file_size=max_file_size,
                max_body_size=max_body_size,
            )
            self._form = cast(FormData, form)
        elif media_type == "application/x-www-form-urlencoded":
            from ._urlencoded import FormError, form_charset, parse_urlencoded

            if max_body_size is None:
                max_body_size = DEFAULT_FORM_MAX_BODY
            try:
                charset = form_charset(content_type)
                body = await self._read_capped(max_body_size)
                pairs = parse_urlencoded(
                    body, charset=charset, max_fields=max_fields, max_part_size=max_part_size
                )
            except FormError as exc:
                raise HTTPException(exc.status, exc.detail) from None
            self._form = FormData(pairs)
        else:
            self._form = FormData()
        return self._form

    async def _read_capped(self, limit: int) -> bytes:
        """The whole body, refusing (413) to buffer more than ``limit`` bytes (nor more
        than the app's or route's body limit)."""
        outer: int | None = self.scope.get(BODY_LIMIT_KEY)
        if outer is not None and outer < limit:
            limit = outer
        if self._body is not None:
            body = self._body
        else:
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > limit:
                    raise _body_too_large(limit)
                chunks.append(chunk)
            body = self._body = b"".join(chunks)
            self.scope["asgi_magic.body"] = body
        if len(body) > limit:
            raise _body_too_large(limit)
        return body

    async def close(self) -> None:
        if self._form is not None:
            await self._form.close()

    async def is_disconnected(self) -> bool:
        """True once the client has gone; does not wait if it has not.

        A body message that arrives instead of the disconnect is kept and handed to
        ``stream()``/``body()`` later, so polling never loses part of the body.
        """
        if self._is_disconnected:
            return True
        try:
            message = await asyncio.wait_for(self._receive(), timeout=0.000001)
        except asyncio.TimeoutError:
            return False
        if message.get("type") == "http.disconnect":
            self._is_disconnected = True
        elif message.get("type") == "http.request":
            self._pending.append(message)
        return self._is_disconnected

    async def send_early_hints(self, links: Iterable[str | bytes]) -> bool:
        """Send ``103 Early Hints`` (RFC 8297) with one ``Link`` field per item, e.g.
        ``"</style.css>; rel=preload; as=style"``, before the response.

        Uses the ASGI ``http.response.early_hint`` extension (asgiref extensions.rst);
        returns False, sending nothing, when the server does not offer it. ``str`` items
        must be Latin-1; the server refuses a value with CR, LF or NUL (``RuntimeError``).
        """
        if "http.response.early_hint" not in (self.scope.get("extensions") or {}):
            return False
        encoded = [link.encode("latin-1") if isinstance(link, str) else link for link in links]
        await self._send({"type": "http.response.early_hint", "links": encoded})
        return True

    async def send_push_promise(self, path: str) -> None:  # pragma: no cover - HTTP/2 only
        raise NotImplementedError("server push is not available over HTTP/1.1")
