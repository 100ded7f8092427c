"""Routes, mounts and the ``Router`` that dispatches between them.

Precedence (documented in the README):

1. static paths (no ``{param}``) by one dict lookup;
2. dynamic routes, in registration order, through one compiled regex per first path
   segment (routes whose first segment is itself a parameter are in every group);
3. mounts, in registration order, by path prefix.

A route whose path matches but whose methods do not is a *partial* match: routing goes
on looking for a full match and answers 405 with the union of the allowed methods
(RFC 9110 §15.5.6: a 405 response MUST carry ``Allow``) only if none is found.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Collection, Sequence
from typing import Any, cast
from urllib.parse import quote

from ._concurrency import run_in_threadpool
from ._convertors import CONVERTORS, Convertor, convert_function, register_converter
from ._types import ASGIApp, Receive, Scope, Send
from .datastructures import URL, _escape_unsafe, url_path_from_scope
from .exceptions import HTTPException, RequestValidationError
from .hosts import split_host
from .params import Binder, compile_binder
from .requests import BODY_LIMIT_KEY, HTTPConnection, Request
from .responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    _content_type,
    json_dumps,
)
from .websockets import WebSocket, WebSocketClose

__all__ = [
    "BaseRoute",
    "Host",
    "Mount",
    "NoMatchFound",
    "Route",
    "Router",
    "URLPath",
    "WebSocketRoute",
    "compile_host",
    "compile_path",
    "get_route_path",
    "is_endpoint_class",
    "register_converter",
]

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# `{name}` or `{name:convertor}`; names are Python identifiers so they can be kwargs
_PARAM_RE = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")

# The header JSONResponse would build, prebuilt for the dict/list fast path in
# Route._dispatch (the tests check both give identical messages).
_JSON_CONTENT_TYPE = (b"content-type", _content_type(JSONResponse.media_type, JSONResponse.charset))

# How Route._dispatch builds a handler's keyword arguments, decided at registration.
_KW_NONE = 0  # the handler takes no path parameters
_KW_OWN = 1  # it takes exactly the route's own parameters: pass the matched dict as is
_KW_SOME = 2  # it takes some of them
_KW_ALL = 3  # it takes **kwargs: every path parameter in the scope (mounts' too)

ParamsBuilder = Callable[["re.Match[str]"], dict[str, Any]]


def _params_builder(items: Sequence[tuple[str, str, Callable[[str], Any] | None]]) -> ParamsBuilder:
    """A function from a regex match to the converted path parameters, built once per
    route. ``items`` are (group name in the pattern, parameter name, convert or None).
    The one-parameter case, by far the most common, gets a closure without a loop."""
    if len(items) == 1:
        gname, name, convert = items[0]
        if convert is None:
            return lambda match: {name: match.group(gname)}
        return lambda match: {name: convert(match.group(gname))}

    def build(match: re.Match[str]) -> dict[str, Any]:
        group = match.group
        return {
            name: group(gname) if convert is None else convert(group(gname))
            for gname, name, convert in items
        }

    return build


class NoMatchFound(Exception):
    """``url_for`` found no route with that name and those parameters."""

    def __init__(self, name: str, path_params: dict[str, Any]) -> None:
        params = ", ".join(sorted(path_params))
        super().__init__(f'No route exists for name "{name}" and params "{params}".')


class URLPath(str):
    """A path produced by ``url_path_for``; ``make_absolute_url`` adds scheme and host."""

    protocol: str
    host: str

    def __new__(cls, path: str, protocol: str = "", host: str = "") -> URLPath:
        assert protocol in ("http", "websocket", "")
        obj = str.__new__(cls, path)
        obj.protocol = protocol
        obj.host = host
        return obj

    def make_absolute_url(self, base_url: str | URL) -> URL:
        if isinstance(base_url, str):
            base_url = URL(base_url)
        if self.protocol:
            scheme = {
                "http": {True: "https", False: "http"},
                "websocket": {True: "wss", False: "ws"},
            }[self.protocol][base_url.is_secure]
        else:
            scheme = base_url.scheme
        netloc = self.host or base_url.netloc
        path = base_url.path.rstrip("/") + str(self)
        return URL(f"{scheme}://{netloc}{path}")


def get_route_path(scope: Scope) -> str:
    """The part of ``path`` the current router matches: ``path`` minus ``root_path``.

    asgiref www.rst (and Starlette >= 0.35): ``path`` is the full request path and
    ``root_path`` the prefix the app is mounted at, so a mount extends ``root_path`` and
    leaves ``path`` alone.
    """
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if len(path) == len(root_path):
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


def compile_path(path: str) -> tuple[str, str, dict[str, Convertor[Any]]]:
    """``/users/{id:int}`` → (regex source without anchors, format string, convertors)."""
    if not path.startswith("/"):
        raise ValueError(f"route paths must start with '/': {path!r}")
    regex = ""
    fmt = ""
    convertors: dict[str, Convertor[Any]] = {}
    idx = 0
    for match in _PARAM_RE.finditer(path):
        name, conv_name = match.group(1), match.group(2) or "str"
        if conv_name not in CONVERTORS:
            raise ValueError(f"unknown path convertor {conv_name!r} in {path!r}")
        if name in convertors:
            raise ValueError(f"duplicate path parameter {name!r} in {path!r}")
        convertor = CONVERTORS[conv_name]
        literal = path[idx : match.start()]
        regex += re.escape(literal) + f"(?P<{name}>{convertor.regex})"
        fmt += _quote_literal(literal) + "{" + name + "}"
        convertors[name] = convertor
        idx = match.end()
    tail = path[idx:]
    if "{" in tail or "}" in tail:
        raise ValueError(f"malformed path parameter in {path!r}")
    regex += re.escape(tail)
    fmt += _quote_literal(tail)
    return regex, fmt, convertors


def _quote_literal(text: str) -> str:
    # the reverse (url_for) format is a URL path: a literal "/café" or "/a b" is
    # percent-encoded (RFC 3986 §2.1); braces are doubled for str.format
    return quote(text, safe="/:@!$&'()*+,;=~").replace("%7B", "{{").replace("%7D", "}}")


def _format_path(fmt: str, convertors: dict[str, Convertor[Any]], params: dict[str, Any]) -> str:
    values = {}
    for name, convertor in convertors.items():
        text = convertor.to_string(params[name])
        # percent-encode so a value cannot smuggle '?', '#' or (for non-path) '/'
        values[name] = quote(
            text, safe="/" if isinstance(convertor, type(CONVERTORS["path"])) else ""
        )
    return fmt.format(**values)


def _is_request_param(param: inspect.Parameter) -> bool:
    if param.name == "request":
        return True
    annotation = param.annotation
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] in ("Request", "HTTPConnection")
    return isinstance(annotation, type) and issubclass(annotation, HTTPConnection)


def _unwrap(endpoint: Any) -> Any:
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func
    return endpoint


def _is_handler(endpoint: Any) -> bool:
    """Plain functions/methods are handlers; anything else is treated as an ASGI app."""
    inner = _unwrap(endpoint)
    return inspect.isfunction(inner) or inspect.ismethod(inner)


def is_endpoint_class(endpoint: Any) -> bool:
    """An ``HTTPEndpoint`` subclass (or one shaped like it): a class whose instances
    are awaitable ASGI apps and whose verb methods the route compiles up front."""
    return isinstance(endpoint, type) and hasattr(endpoint, "compile_handlers")


def _is_async(endpoint: Any) -> bool:
    inner = _unwrap(endpoint)
    return inspect.iscoroutinefunction(inner) or inspect.iscoroutinefunction(
        getattr(inner, "__call__", None)  # noqa: B004
    )


def _to_response(result: Any, response_class: type[Response] | None) -> Response:
    """What a handler returned → a Response (dict/list JSON, str text, bytes, None 204)."""
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204)
    if response_class is not None:
        return response_class(result)
    if isinstance(result, (dict, list)):
        return JSONResponse(result)
    if isinstance(result, str):
        return PlainTextResponse(result)
    if isinstance(result, (bytes, bytearray, memoryview)):
        return Response(bytes(result), media_type="application/octet-stream")
    raise TypeError(
        f"handler returned {type(result).__name__}; return a Response, dict, list, str, "
        "bytes or None"
    )


class BaseRoute:
    name: str | None
    path: str

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NotImplementedError()  # pragma: no cover

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError()  # pragma: no cover


class _PathRoute(BaseRoute):
    """Shared by Route and WebSocketRoute: the compiled path and reverse formatting."""

    def allows(self, method: str) -> bool:
        raise NotImplementedError()  # pragma: no cover

    def _compile(self, path: str) -> None:
        self.path = path
        self.regex_source, self.path_format, self.param_convertors = compile_path(path)
        self.path_regex = re.compile("^" + self.regex_source + "$")
        self.is_static = not self.param_convertors
        # the (name, convert) pairs the router uses to build path_params; convert is
        # None for text parameters and a builtin such as int for the standard ones
        self.param_items = [
            (name, convert_function(conv)) for name, conv in self.param_convertors.items()
        ]
        self.build_params = _params_builder([(n, n, c) for n, c in self.param_items])

    def matches_path(self, route_path: str) -> dict[str, Any] | None:
        match = self.path_regex.match(route_path)
        if match is None:
            return None
        try:
            return self.build_params(match)
        except ValueError:
            # a convertor refused the text (e.g. int() over the digit limit): not this
            # route, so the client gets 404 rather than a 500
            return None

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if name != self.name or set(path_params) != set(self.param_convertors):
            raise NoMatchFound(name, path_params)
        return URLPath(
            _format_path(self.path_format, self.param_convertors, path_params),
            protocol="http" if isinstance(self, Route) else "websocket",
        )


class Route(_PathRoute):
    """An HTTP route: a handler function (or any ASGI app) for some methods on a path."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        response_class: type[Response] | None = None,
        max_body_size: int | None = None,
    ) -> None:
        self._compile(path)
        self.endpoint = endpoint
        self.max_body_size = max_body_size
        if max_body_size is not None:
            if max_body_size < 0:
                raise ValueError("max_body_size must be >= 0 bytes")
            # only limited routes pay for the limit: the router calls this instead
            self._dispatch = self._dispatch_limited  # type: ignore[method-assign]
        self.name = getattr(_unwrap(endpoint), "__name__", None) if name is None else name
        self.include_in_schema = include_in_schema
        self.response_class = response_class
        self.is_handler = _is_handler(endpoint)
        endpoint_class: Any = endpoint if is_endpoint_class(endpoint) else None
        if endpoint_class is not None:
            # an HTTPEndpoint: its verb methods are compiled (and checked) now
            endpoint_class.compile_handlers(self.param_convertors)
        if methods is None:
            # a handler defaults to GET (like Starlette); an HTTPEndpoint to the verbs
            # it defines; a raw ASGI app gets everything
            if endpoint_class is not None:
                self.methods: frozenset[str] | None = endpoint_class.allowed_methods()
            else:
                self.methods = frozenset({"GET", "HEAD"}) if self.is_handler else None
        else:
            upper = {m.upper() for m in methods}
            if "GET" in upper:
                upper.add("HEAD")  # RFC 9110 §9.3.2: HEAD is GET without content
            self.methods = frozenset(upper)
        self.is_async = _is_async(endpoint)
        self.request_param: str | None = None
        self.pass_params: tuple[str, ...] | None = ()
        self._kw_mode = _KW_NONE
        # the compiled plan for query/header/cookie/body parameters (None: there are none)
        self.binder: Binder | None = None
        if self.is_handler:
            self._inspect_signature()
        # one flag for the dispatch fast path: a Request object is needed
        self._needs_request = self.request_param is not None or self.binder is not None

    def _inspect_signature(self) -> None:
        # Done once here so a request only does `endpoint(**kwargs)` with the right keys.
        signature = inspect.signature(self.endpoint)
        wanted: list[str] = []
        takes_var_kw = False
        others: list[inspect.Parameter] = []
        for param in signature.parameters.values():
            if param.kind == param.VAR_KEYWORD:
                # documented: **kwargs receives every path parameter (mounts' too)
                takes_var_kw = True
                continue
            if param.kind in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL):
                others.append(param)  # compile_binder names the problem
            elif param.name in self.param_convertors:
                wanted.append(param.name)
            elif _is_request_param(param):
                self.request_param = param.name
            else:
                others.append(param)
        if others:
            self.binder = compile_binder(
                self.endpoint, others, f"handler {self.name!r} for {self.path!r}"
            )
        if takes_var_kw:
            self.pass_params = None  # every path parameter
            self._kw_mode = _KW_ALL
        else:
            self.pass_params = tuple(wanted)
            if not wanted:
                self._kw_mode = _KW_NONE
            elif set(wanted) == set(self.param_convertors):
                self._kw_mode = _KW_OWN
            else:
                self._kw_mode = _KW_SOME

    def allows(self, method: str) -> bool:
        return self.methods is None or method in self.methods

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The public entry point: path parameters come from ``scope["path_params"]``."""
        params: dict[str, Any] = scope.get("path_params", {})
        pass_params = self.pass_params
        if pass_params:
            params = {name: params[name] for name in pass_params}
        await self._dispatch(scope, receive, send, params)

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, own: dict[str, Any]
    ) -> None:
        """The router's entry point: ``own`` holds (at least) this route's parameters as
        matched, already in ``scope["path_params"]``; the router never copies them."""
        if not self.is_handler:
            await self.endpoint(scope, receive, send)
            return
        mode = self._kw_mode
        kwargs: dict[str, Any]
        if mode == _KW_OWN:
            kwargs = own  # `endpoint(**own)` copies, so the scope's dict is never shared
        elif mode == _KW_NONE:
            kwargs = _NO_KWARGS
        elif mode == _KW_ALL:
            kwargs = scope.get("path_params", own)
        else:
            kwargs = {name: own[name] for name in self.pass_params or ()}
        if self._needs_request:
            await self._dispatch_with_request(scope, receive, send, kwargs)
            return
        if self.is_async:
            result = await self.endpoint(**kwargs)
        else:
            result = await run_in_threadpool(self.endpoint, **kwargs)
        cls = result.__class__
        if (cls is dict or cls is list) and self.response_class is None:
            # The JSON idiom without building a JSONResponse: the same two messages,
            # byte for byte (tests compare them), with the header pairs built here.
            body = json_dumps(result)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), _JSON_CONTENT_TYPE],
                }
            )
            # RFC 9110 §9.3.2: a response to HEAD carries the GET headers but no content.
            if scope.get("method") == "HEAD":
                body = b""
            await send({"type": "http.response.body", "body": body})
        elif cls is PlainTextResponse or isinstance(result, Response):
            await result(scope, receive, send)
        else:
            await _to_response(result, self.response_class)(scope, receive, send)

    async def _dispatch_limited(
        self, scope: Scope, receive: Receive, send: Send, own: dict[str, Any]
    ) -> None:
        # Request.stream()/body()/json()/form() read the limit from the scope
        scope[BODY_LIMIT_KEY] = self.max_body_size
        await Route._dispatch(self, scope, receive, send, own)

    async def _dispatch_with_request(
        self, scope: Scope, receive: Receive, send: Send, kwargs: dict[str, Any]
    ) -> None:
        request = Request(scope, receive, send)
        kwargs = dict(kwargs)
        if self.request_param is not None:
            kwargs[self.request_param] = request
        try:
            if self.binder is not None:
                try:
                    kwargs.update(await self.binder.resolve(request))
                except RequestValidationError as exc:
                    if "app" in scope:
                        raise  # the App's exception layer renders it (custom handlers too)
                    await JSONResponse({"detail": exc.errors}, 422)(scope, receive, send)
                    return
            if self.is_async:
                result = await self.endpoint(**kwargs)
            else:
                result = await run_in_threadpool(self.endpoint, **kwargs)
            cls = result.__class__
            if (cls is dict or cls is list) and self.response_class is None:
                await _send_json(result, scope, send)
            elif isinstance(result, Response):
                await result(scope, receive, send)
            else:
                await _to_response(result, self.response_class)(scope, receive, send)
        finally:
            # uploaded files are spooled to disk: close them once the response is out,
            # or when the handler raised
            if request._form is not None:
                await request.close()

    def __repr__(self) -> str:
        methods = sorted(self.methods or ())
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r}, methods={methods!r})"


_NO_KWARGS: dict[str, Any] = {}  # never mutated: `endpoint(**d)` copies


async def _send_json(result: Any, scope: Scope, send: Send) -> None:
    """What ``JSONResponse(result)`` sends, without building it (the same two messages
    as the inline fast path in ``Route._dispatch``, which is kept inline for speed)."""
    body = json_dumps(result)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode()), _JSON_CONTENT_TYPE],
        }
    )
    # RFC 9110 §9.3.2: a response to HEAD carries the GET headers but no content.
    await send(
        {"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body}
    )


class WebSocketRoute(_PathRoute):
    """A websocket route: ``async def handler(websocket)`` or any ASGI app."""

    methods = None

    def __init__(self, path: str, endpoint: Callable[..., Any], *, name: str | None = None) -> None:
        self._compile(path)
        self.endpoint = endpoint
        self.name = getattr(_unwrap(endpoint), "__name__", None) if name is None else name
        self.is_handler = _is_handler(endpoint)
        self.pass_params: tuple[str, ...] | None = ()
        self.binder: Binder | None = None
        if self.is_handler:
            # the first parameter is the WebSocket; path parameters by name; anything
            # else is bound from the query string, headers or cookies (no body)
            params = list(inspect.signature(endpoint).parameters.values())
            if any(p.kind == p.VAR_KEYWORD for p in params):
                self.pass_params = None
            else:
                self.pass_params = tuple(
                    p.name for p in params[1:] if p.name in self.param_convertors
                )
            others = [
                p
                for p in params[1:]
                if p.kind != p.VAR_KEYWORD and p.name not in self.param_convertors
            ]
            if others:
                self.binder = compile_binder(
                    endpoint,
                    others,
                    f"websocket handler {self.name!r} for {self.path!r}",
                    allow_body=False,
                )

    def allows(self, method: str) -> bool:
        return True

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.is_handler:
            await self.endpoint(scope, receive, send)
            return
        params: dict[str, Any] = scope.get("path_params", {})
        if self.pass_params is None:
            kwargs = dict(params)
        else:
            kwargs = {name: params[name] for name in self.pass_params}
        websocket = WebSocket(scope, receive, send)
        if self.binder is not None:
            try:
                kwargs.update(await self.binder.resolve(websocket))
            except RequestValidationError as exc:
                # RFC 6455 §7.4.1: 1008, the message (here the handshake) violates policy;
                # closing before accept makes the server refuse the handshake (403)
                first = exc.errors[0]
                reason = f"{'.'.join(map(str, first['loc']))}: {first['msg']}"[:120]
                await websocket.close(1008, reason)
                return
        await self.endpoint(websocket, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r})"


class Mount(BaseRoute):
    """Serve a sub-application (or a list of routes) under a path prefix.

    The child sees ``path`` unchanged and ``root_path`` extended by the prefix
    (asgiref www.rst; what Starlette >= 0.35 does), so any ASGI app can be mounted.
    """

    def __init__(
        self,
        path: str,
        app: ASGIApp | Any = None,
        routes: Sequence[BaseRoute] | None = None,
        name: str | None = None,
        *,
        middleware: Sequence[Any] | None = None,
    ) -> None:
        if path != "" and not path.startswith("/"):
            raise ValueError("mount paths must start with '/'")
        assert app is not None or routes is not None, "Mount needs an app or routes"
        self.path = path.rstrip("/")
        self.name = name
        self._base_app: Any = app if app is not None else Router(routes=routes)
        self.app: Any = self._base_app
        for entry in reversed(list(middleware or ())):
            cls, args, kwargs = entry
            self.app = cls(self.app, *args, **kwargs)
        regex, self.path_format, self.param_convertors = compile_path(self.path or "/")
        if not self.path:
            regex = ""
        self.path_regex = re.compile("^" + regex + "(?P<__rest>/.*)?$")
        if is_endpoint_class(app):
            # a mounted HTTPEndpoint is checked now too, with the mount's parameters
            cast(Any, app).compile_handlers(self.param_convertors)
        self.param_items = [(n, convert_function(c)) for n, c in self.param_convertors.items()]
        self._build_params = _params_builder([(n, n, c) for n, c in self.param_items])

    @property
    def routes(self) -> list[BaseRoute]:
        return list(getattr(self._base_app, "routes", []))

    def matches_path(self, route_path: str) -> tuple[str, dict[str, Any]] | None:
        match = self.path_regex.match(route_path)
        if match is None:
            return None
        rest = match.group("__rest") or ""
        matched = route_path[: len(route_path) - len(rest)]
        if not self.param_items:
            return matched, {}
        try:
            params = self._build_params(match)
        except ValueError:
            return None  # a convertor refused the text: not this mount (404)
        return matched, params

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if self.name is not None and name == self.name and "path" in path_params:
            # url_for("static", path="/css/a.css") → "/static/css/a.css"
            rest = str(path_params.pop("path")).lstrip("/")
            if set(path_params) != set(self.param_convertors):
                raise NoMatchFound(name, path_params)
            prefix = _format_path(self.path_format, self.param_convertors, path_params)
            return URLPath(prefix.rstrip("/") + "/" + quote(rest, safe="/"), protocol="http")
        if self.name is None or name.startswith(self.name + ":"):
            remaining = name if self.name is None else name[len(self.name) + 1 :]
            own = {k: v for k, v in path_params.items() if k in self.param_convertors}
            rest_params = {k: v for k, v in path_params.items() if k not in self.param_convertors}
            if set(own) != set(self.param_convertors):
                raise NoMatchFound(name, path_params)
            target = self._base_app
            router = getattr(target, "router", target)
            if hasattr(router, "url_path_for"):
                try:
                    child = router.url_path_for(remaining, **rest_params)
                except NoMatchFound:
                    pass
                else:
                    prefix = _format_path(self.path_format, self.param_convertors, own)
                    return URLPath(
                        prefix.rstrip("/") + str(child), protocol=child.protocol, host=child.host
                    )
        raise NoMatchFound(name, path_params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r}, app={self.app!r})"


# In a host pattern a {str} parameter is one DNS label (RFC 1034 §3.1): "{sub}.example.com"
# matches "api.example.com" but not "a.b.example.com".
_HOST_LABEL = "[^.]+"


def compile_host(host: str) -> tuple[re.Pattern[str], str, dict[str, Convertor[Any]]]:
    """``{sub}.example.com`` → (anchored regex, format string, convertors).

    Literal parts are matched case-insensitively (RFC 9110 §4.2.3: the host is
    case-insensitive) against the Host header without its port; a pattern that names a
    port (``example.com:8443``) is matched against the host and port.
    """
    if not host or host.startswith("/"):
        raise ValueError(f"a host pattern is a host name such as '{{sub}}.example.com': {host!r}")
    regex = ""
    fmt = ""
    convertors: dict[str, Convertor[Any]] = {}
    idx = 0
    for match in _PARAM_RE.finditer(host):
        name, conv_name = match.group(1), match.group(2) or "str"
        if conv_name not in CONVERTORS:
            raise ValueError(f"unknown convertor {conv_name!r} in host {host!r}")
        if name in convertors:
            raise ValueError(f"duplicate parameter {name!r} in host {host!r}")
        convertor = CONVERTORS[conv_name]
        literal = host[idx : match.start()].lower()
        pattern = _HOST_LABEL if conv_name == "str" else convertor.regex
        regex += re.escape(literal) + f"(?P<{name}>{pattern})"
        fmt += literal + "{" + name + "}"
        convertors[name] = convertor
        idx = match.end()
    tail = host[idx:].lower()
    if "{" in tail or "}" in tail:
        raise ValueError(f"malformed parameter in host {host!r}")
    regex += re.escape(tail)
    fmt += tail
    return re.compile("^" + regex + "$"), fmt, convertors


class Host(BaseRoute):
    """Route by the ``Host`` header: ``Host("{sub}.example.com", app=...)``.

    Hosts are checked before the paths of the router they are in, in registration
    order: a request whose host matches goes to that app, with the host's parameters
    added to ``path_params``; a request matching no Host is routed by path as usual.
    ``url_for("name:route")`` (or just ``"route"`` for an unnamed Host) gives an
    absolute URL on that host. Put ``TrustedHostMiddleware`` in front: the Host header
    is chosen by the client.
    """

    def __init__(self, host: str, app: ASGIApp | Any, name: str | None = None) -> None:
        self.host = host
        self.app = app
        self.name = name
        self.path = ""
        self.host_regex, self.host_format, self.param_convertors = compile_host(host)
        self.with_port = ":" in host
        items = [(n, convert_function(c)) for n, c in self.param_convertors.items()]
        self._build_params = _params_builder([(n, n, c) for n, c in items]) if items else None

    @property
    def routes(self) -> list[BaseRoute]:
        return list(getattr(self.app, "routes", []))

    def matches_host(self, scope: Scope) -> dict[str, Any] | None:
        """The host's parameters if this request's Host matches, else None."""
        raw = None
        for key, value in scope.get("headers", ()):
            if key == b"host":
                raw = value
                break
        if raw is None:
            return None
        parsed = split_host(raw)
        if parsed is None:
            return None
        host, port = parsed[0].rstrip("."), parsed[1]
        text = f"{host}:{port}" if self.with_port and port else host
        match = self.host_regex.match(text)
        if match is None:
            return None
        if self._build_params is None:
            return {}
        try:
            return self._build_params(match)
        except ValueError:
            return None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if self.name is not None and name != self.name and not name.startswith(self.name + ":"):
            raise NoMatchFound(name, path_params)
        own = {k: v for k, v in path_params.items() if k in self.param_convertors}
        if set(own) != set(self.param_convertors):
            raise NoMatchFound(name, path_params)
        rest = {k: v for k, v in path_params.items() if k not in self.param_convertors}
        host = self._format_host(own)
        if self.name is not None and name == self.name:
            if "path" not in rest:
                raise NoMatchFound(name, path_params)
            path = "/" + quote(str(rest.pop("path")).lstrip("/"), safe="/")
            if rest:
                raise NoMatchFound(name, path_params)
            return URLPath(path, protocol="http", host=host)
        remaining = name if self.name is None else name[len(self.name) + 1 :]
        router = getattr(self.app, "router", self.app)
        if not hasattr(router, "url_path_for"):
            raise NoMatchFound(name, path_params)
        child = router.url_path_for(remaining, **rest)
        return URLPath(str(child), protocol=child.protocol or "http", host=host)

    def _format_host(self, params: dict[str, Any]) -> str:
        values = {}
        for pname, convertor in self.param_convertors.items():
            text = convertor.to_string(params[pname])
            regex = (
                _HOST_LABEL if isinstance(convertor, type(CONVERTORS["str"])) else convertor.regex
            )
            # the value becomes part of an authority: it must be what the pattern matches
            if re.fullmatch(regex, text) is None or split_host(text) is None:
                raise ValueError(f"{text!r} is not a valid value for {{{pname}}} in {self.host!r}")
            values[pname] = text
        return self.host_format.format(**values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r}, name={self.name!r}, app={self.app!r})"


class _DynamicGroup:
    """Routes that may match paths starting with one first segment, as one regex."""

    __slots__ = ("entries", "index", "regex")

    def __init__(self, routes: list[_PathRoute]) -> None:
        self.entries: list[tuple[str, _PathRoute, ParamsBuilder]] = []
        self.index: dict[str | None, int] = {}
        parts = []
        for idx, route in enumerate(routes):
            tag = f"r{idx}"
            # rename each parameter group so names are unique in the combined pattern
            params = [(f"{tag}_{name}", name, conv) for name, conv in route.param_items]
            source = route.regex_source
            for name, _ in route.param_items:
                source = source.replace(f"(?P<{name}>", f"(?P<{tag}_{name}>", 1)
            parts.append(f"(?P<{tag}>{source})")
            self.entries.append((tag, route, _params_builder(params)))
            self.index[tag] = idx
        self.regex = re.compile("^(?:" + "|".join(parts) + ")$") if parts else None

    def first(self, path: str) -> tuple[int, dict[str, Any]] | None:
        """The first route (in order) whose path matches, and its converted params."""
        if self.regex is None:
            return None
        match = self.regex.match(path)
        if match is None:
            return None
        # the route's own group closes last, so it is `lastgroup` (not a parameter's)
        idx = self.index[match.lastgroup]
        try:
            return idx, self.entries[idx][2](match)
        except ValueError:
            # a convertor refused the text (e.g. int() over the digit limit): that route
            # does not match after all; a later one still may
            later = self.rest(path, idx + 1)
            if not later:
                return None
            route = later[0][0]
            return next(i for i, e in enumerate(self.entries) if e[1] is route), later[0][1]

    def rest(self, path: str, start: int) -> list[tuple[_PathRoute, dict[str, Any]]]:
        """Every later route matching ``path`` (only for the rare 405/method-split case)."""
        found = []
        for _, route, _ in self.entries[start:]:
            params = route.matches_path(path)
            if params is not None:
                found.append((route, params))
        return found


def _first_segment(path: str) -> str:
    end = path.find("/", 1)
    return path[1:] if end == -1 else path[1:end]


class Router:
    """Dispatch HTTP and websocket scopes to routes (see the module docstring)."""

    def __init__(
        self,
        routes: Sequence[BaseRoute] | None = None,
        redirect_slashes: bool = True,
        default: ASGIApp | None = None,
    ) -> None:
        self.routes: list[BaseRoute] = list(routes or [])
        self.redirect_slashes = redirect_slashes
        self.default = default
        self._compiled_for = -1

    # --- registration -----------------------------------------------------------

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        response_class: type[Response] | None = None,
        max_body_size: int | None = None,
    ) -> Route:
        route = Route(
            path,
            endpoint,
            methods=methods,
            name=name,
            include_in_schema=include_in_schema,
            response_class=response_class,
            max_body_size=max_body_size,
        )
        self.routes.append(route)
        self._compiled_for = -1
        return route

    def add_websocket_route(
        self, path: str, endpoint: Callable[..., Any], name: str | None = None
    ) -> WebSocketRoute:
        route = WebSocketRoute(path, endpoint, name=name)
        self.routes.append(route)
        self._compiled_for = -1
        return route

    def mount(self, path: str, app: Any, name: str | None = None) -> Mount:
        mount = Mount(path, app=app, name=name)
        self.routes.append(mount)
        self._compiled_for = -1
        return mount

    def host(self, host: str, app: Any, name: str | None = None) -> Host:
        route = Host(host, app=app, name=name)
        self.routes.append(route)
        self._compiled_for = -1
        return route

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)

    # --- the matcher --------------------------------------------------------------

    def _compile(self) -> None:
        """Build the lookup tables; rebuilt lazily whenever routes change."""
        tables: dict[
            str,
            tuple[
                dict[str, list[_PathRoute]], dict[str, _DynamicGroup], _DynamicGroup, list[Mount]
            ],
        ] = {}
        for kind, cls in (("http", Route), ("websocket", WebSocketRoute)):
            static: dict[str, list[_PathRoute]] = {}
            dynamic: list[_PathRoute] = []
            for route in self.routes:
                if isinstance(route, cls):
                    if route.is_static:
                        static.setdefault(route.path, []).append(route)
                    else:
                        dynamic.append(route)
            keyed: dict[str, list[_PathRoute]] = {}
            wildcard_positions = []
            for route in dynamic:
                seg = _first_segment(route.path)
                if "{" in seg:
                    wildcard_positions.append(route)
                else:
                    keyed.setdefault(seg, [])
            groups = {}
            for seg in keyed:
                members = [
                    r
                    for r in dynamic
                    if ("{" in _first_segment(r.path)) or _first_segment(r.path) == seg
                ]
                groups[seg] = _DynamicGroup(members)
            fallback = _DynamicGroup(wildcard_positions)
            mounts = [r for r in self.routes if isinstance(r, Mount)]
            tables[kind] = (static, groups, fallback, mounts)
        self._tables = tables
        self._hosts = [r for r in self.routes if isinstance(r, Host)]
        self._compiled_for = len(self.routes)

    def match(
        self, kind: str, route_path: str, method: str
    ) -> tuple[BaseRoute | None, dict[str, Any], set[str]]:
        """(route, path params, allowed methods); route None with a non-empty set → 405."""
        if self._compiled_for != len(self.routes):
            # routes appended directly to `router.routes` are picked up too
            self._compile()
        static, groups, fallback, mounts = self._tables[kind]
        allowed: set[str] = set()
        partial = False
        candidates = static.get(route_path)
        if candidates is not None:
            for route in candidates:
                if route.allows(method):
                    return route, {}, allowed
                partial = True
                allowed.update(cast(Route, route).methods or ())
        group = groups.get(_first_segment(route_path), fallback)
        found = group.first(route_path)
        if found is not None:
            idx, params = found
            route = group.entries[idx][1]
            if route.allows(method):
                return route, params, allowed
            partial = True
            allowed.update(cast(Route, route).methods or ())
            for other, other_params in group.rest(route_path, idx + 1):
                if other.allows(method):
                    return other, other_params, allowed
                allowed.update(cast(Route, other).methods or ())
        for mount in mounts:
            mounted = mount.matches_path(route_path)
            if mounted is not None:
                return mount, {"__mount__": mounted}, allowed
        if partial:
            return None, {}, allowed
        return None, {}, allowed

    # --- dispatch -----------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            method = scope.get("method", "GET")
        elif kind == "lifespan":
            # a bare Router (e.g. under Mount) has nothing to start
            await answer_lifespan(receive, send)
            return
        else:
            method = "GET"
        route_path = get_route_path(scope) if scope.get("root_path") else scope["path"]
        if self._compiled_for != len(self.routes):
            # routes appended directly to `router.routes` are picked up too
            self._compile()
        if self._hosts:
            for host in self._hosts:
                host_params = host.matches_host(scope)
                if host_params is not None:
                    if host_params:
                        scope["path_params"] = {**scope.get("path_params", {}), **host_params}
                    await host.handle(scope, receive, send)
                    return
        # The fast path: the first candidate route accepts the method. Everything else
        # (405, OPTIONS, mounts, slash redirects, 404) goes through `match` below.
        static, groups, fallback, _ = self._tables[kind]
        candidates = static.get(route_path)
        if candidates is not None:
            hit = candidates[0]
            methods = hit.methods  # type: ignore[attr-defined]
            if methods is None or method in methods:
                if hit.__class__ is Route:
                    await hit._dispatch(scope, receive, send, _NO_KWARGS)
                else:
                    await hit.handle(scope, receive, send)
                return
        else:
            group = groups.get(_first_segment(route_path), fallback)
            first = group.first(route_path)
            if first is not None:
                hit = group.entries[first[0]][1]
                methods = hit.methods  # type: ignore[attr-defined]
                if methods is None or method in methods:
                    params = first[1]
                    existing = scope.get("path_params")
                    scope["path_params"] = {**existing, **params} if existing else params
                    if hit.__class__ is Route:
                        await hit._dispatch(scope, receive, send, params)
                    else:
                        await hit.handle(scope, receive, send)
                    return
        route, params, allowed = self.match(kind, route_path, method)
        if route is not None:
            if isinstance(route, Mount):
                matched, mount_params = params["__mount__"]
                root_path = scope.get("root_path", "")
                child: dict[str, Any] = dict(scope)
                child["root_path"] = root_path + matched
                child["app_root_path"] = scope.get("app_root_path", root_path)
                if mount_params:
                    child["path_params"] = {**scope.get("path_params", {}), **mount_params}
                await route.handle(cast(Scope, child), receive, send)
                return
            if params:
                existing = scope.get("path_params")
                scope["path_params"] = {**existing, **params} if existing else params
            await route.handle(scope, receive, send)
            return
        if kind == "http" and allowed:
            full = set(allowed)
            full.add("OPTIONS")
            allow = ", ".join(m for m in HTTP_METHODS if m in full)
            if method == "OPTIONS":
                # RFC 9110 §9.3.7: describe the communication options of the resource
                await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)
                return
            await self._error(scope, receive, send, HTTPException(405, headers={"Allow": allow}))
            return
        if kind == "http" and self.redirect_slashes and route_path not in ("", "/"):
            other = route_path[:-1] if route_path.endswith("/") else route_path + "/"
            found, _, found_allowed = self.match(kind, other, method)
            if found is not None or found_allowed:
                await self._redirect_slash(scope, receive, send)
                return
        if self.default is not None:
            await self.default(scope, receive, send)
            return
        if kind == "websocket":
            # asgiref www.rst: closing before accept makes the server answer 403
            await WebSocketClose()(scope, receive, send)
            return
        await self._error(scope, receive, send, HTTPException(404))

    async def _error(self, scope: Scope, receive: Receive, send: Send, exc: HTTPException) -> None:
        if "app" in scope:
            raise exc  # the App's exception layer renders it (and custom handlers apply)
        # a Router used on its own as an ASGI app answers directly
        await PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)(
            scope, receive, send
        )

    async def _redirect_slash(self, scope: Scope, receive: Receive, send: Send) -> None:
        # the encoded path: a decoded "%3F" joined into Location would become a query
        path = url_path_from_scope(scope)
        path = path[:-1] if path.endswith("/") else path + "/"
        # "//evil.example" would be a protocol-relative (open) redirect: refuse it
        if path.startswith("//") or path.startswith("/\\"):
            await self._error(scope, receive, send, HTTPException(404))
            return
        query = scope.get("query_string", b"")
        location = path + ("?" + _escape_unsafe(bytes(query)) if query else "")
        # RFC 9110 §15.4.9: 308 keeps the method and body, unlike 301
        await RedirectResponse(location, status_code=308)(scope, receive, send)


async def answer_lifespan(receive: Receive, send: Send) -> None:
    """Complete startup and shutdown with nothing to do (asgiref lifespan.rst), so an
    app served on its own still lets a server or test client start and stop it."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
