"""Class-based endpoints in Starlette's shape: ``HTTPEndpoint`` and ``WebSocketEndpoint``.

An endpoint class is an ASGI app (``await Endpoint(scope, receive, send)``), so it
works anywhere an app does: ``app.route``, ``Route``, ``Mount``, ``app.websocket_route``
and ``WebSocketRoute``::

    class User(HTTPEndpoint):
        async def get(self, request, user_id: int) -> dict: ...
        async def delete(self, request, user_id: int) -> None: ...

Each verb method takes the request first (as in Starlette), then path parameters by
name, then typed query/header/cookie/body parameters exactly as function handlers do
(:mod:`asgi_magic.web.params`); it may return anything a handler may return.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Collection, Generator
from typing import Any, ClassVar, Literal

from ._concurrency import run_in_threadpool
from ._types import Message, Receive, Scope, Send
from .exceptions import HTTPException, RequestValidationError
from .params import Binder, compile_binder
from .requests import HTTPConnection, Request
from .responses import JSONResponse, PlainTextResponse, Response
from .websockets import WebSocket

__all__ = ["HTTPEndpoint", "WebSocketEndpoint"]

logger = logging.getLogger("asgi_magic.web")

# RFC 9110 §9: the methods an endpoint class may define, in the order Allow lists them
_VERBS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class _MethodPlan:
    """How to call one verb method, decided once per (class, path parameter names)."""

    __slots__ = ("attr", "binder", "is_async", "path_names", "request_kw", "request_positional")

    def __init__(self, cls: type, attr: str, path_names: frozenset[str]) -> None:
        func = getattr(cls, attr)
        where = f"{cls.__name__}.{attr}"
        params = list(inspect.signature(func).parameters.values())[1:]  # skip self
        self.attr = attr
        self.is_async = inspect.iscoroutinefunction(func)
        self.request_positional = False
        self.request_kw: str | None = None
        if params and _takes_request_first(params[0], path_names):
            # Starlette passes the request positionally, whatever it is called
            self.request_positional = True
            params = params[1:]
        names: list[str] = []
        others: list[inspect.Parameter] = []
        for param in params:
            if param.kind in (param.VAR_KEYWORD,):
                raise TypeError(f"{where}: cannot bind **{param.name}; name each parameter")
            if param.name in path_names and param.kind != param.POSITIONAL_ONLY:
                names.append(param.name)
            elif param.name == "request" or _annotated_as_connection(param):
                self.request_kw = param.name
            else:
                others.append(param)
        self.path_names = tuple(names)
        self.binder: Binder | None = compile_binder(func, others, where) if others else None


def _annotated_as_connection(param: inspect.Parameter) -> bool:
    annotation = param.annotation
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] in ("Request", "HTTPConnection")
    return isinstance(annotation, type) and issubclass(annotation, HTTPConnection)


def _takes_request_first(param: inspect.Parameter, path_names: frozenset[str]) -> bool:
    if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
        return False
    if param.name in path_names:
        return False
    return param.annotation is param.empty or _annotated_as_connection(param)


class HTTPEndpoint:
    """One class per resource: a method per HTTP verb (``get``, ``post``, ...).

    HEAD is served by ``get`` when there is no ``head``. A method the class does not
    define is a 405 whose ``Allow`` lists those it does (RFC 9110 §15.5.6). Under a
    ``Route`` the router answers that 405 (and OPTIONS) itself; mounted or used as a
    bare ASGI app, the endpoint does.
    """

    # (path parameter names) → {method: plan}, per subclass (see _plans)
    _plan_cache: ClassVar[dict[frozenset[str], dict[str, _MethodPlan]]]

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.scope = scope
        self.receive = receive
        self.send = send

    def __await__(self) -> Generator[Any, None, None]:
        return self.dispatch().__await__()

    @classmethod
    def allowed_methods(cls) -> frozenset[str]:
        """The verbs this class answers: its methods, plus HEAD when it has ``get``."""
        methods = {verb for verb in _VERBS if callable(getattr(cls, verb.lower(), None))}
        if "GET" in methods:
            methods.add("HEAD")  # RFC 9110 §9.3.2: HEAD is GET without content
        return frozenset(methods)

    @classmethod
    def compile_handlers(cls, path_params: Collection[str]) -> dict[str, _MethodPlan]:
        """Compile every verb method for these path parameter names (a ``TypeError``
        names a parameter that cannot be bound); cached, so a route calls it once."""
        key = frozenset(path_params)
        cache = cls.__dict__.get("_plan_cache")
        if cache is None:
            cache = {}
            cls._plan_cache = cache  # on this subclass, not shared with its parents
        plans = cache.get(key)
        if plans is None:
            plans = {}
            for verb in _VERBS:
                attr = verb.lower()
                if callable(getattr(cls, attr, None)):
                    plans[verb] = _MethodPlan(cls, attr, key)
            if "GET" in plans and "HEAD" not in plans:
                plans["HEAD"] = plans["GET"]
            cache[key] = plans
        return plans

    async def dispatch(self) -> None:
        scope = self.scope
        request = Request(scope, self.receive, self.send)
        path_params: dict[str, Any] = scope.get("path_params", {})
        plan = type(self).compile_handlers(path_params).get(request.method)
        if plan is None:
            response = await self.method_not_allowed(request)
            await response(scope, self.receive, self.send)
            return
        kwargs = {name: path_params[name] for name in plan.path_names}
        if plan.request_kw is not None:
            kwargs[plan.request_kw] = request
        try:
            if plan.binder is not None:
                try:
                    kwargs.update(await plan.binder.resolve(request))
                except RequestValidationError as exc:
                    if "app" in scope:
                        raise
                    await JSONResponse({"detail": exc.errors}, 422)(scope, self.receive, self.send)
                    return
            handler: Callable[..., Any] = getattr(self, plan.attr)
            args = (request,) if plan.request_positional else ()
            if plan.is_async:
                result = await handler(*args, **kwargs)
            else:
                result = await run_in_threadpool(handler, *args, **kwargs)
            # imported here: routing imports this module's users, not the reverse
            from .routing import _to_response

            await _to_response(result, None)(scope, self.receive, self.send)
        finally:
            if request._form is not None:
                await request.close()

    async def method_not_allowed(self, request: Request) -> Response:
        """The 405 (RFC 9110 §15.5.6: it MUST carry ``Allow``)."""
        allowed = type(self).allowed_methods()
        headers = {"Allow": ", ".join(v for v in _VERBS if v in allowed)}
        if "app" in self.scope:
            # inside an App, the exception layer renders it (and custom handlers apply)
            raise HTTPException(405, headers=headers)
        return PlainTextResponse("Method Not Allowed", status_code=405, headers=headers)


class WebSocketEndpoint:
    """A websocket as three callbacks: ``on_connect`` (accepts by default),
    ``on_receive(websocket, data)`` per message, ``on_disconnect(websocket, code)``.

    ``encoding`` decodes each message before ``on_receive``: ``"text"`` (str),
    ``"bytes"`` (bytes), ``"json"`` (a parsed value, from a text or UTF-8 binary
    frame), or None (str or bytes as they came). A message of the wrong kind, or JSON
    that does not parse, closes the connection with 1003 (RFC 6455 §7.4.1: "a type of
    data it cannot accept"), and ``on_disconnect`` is called with 1003.
    """

    encoding: ClassVar[Literal["text", "bytes", "json"] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a typo in `encoding` is an error when the class is defined, not per message
        if cls.encoding not in (None, "text", "bytes", "json"):
            raise ValueError(
                f"{cls.__name__}.encoding must be 'text', 'bytes', 'json' or None, "
                f"not {cls.encoding!r}"
            )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        self.scope = scope
        self.receive = receive
        self.send = send

    def __await__(self) -> Generator[Any, None, None]:
        return self.dispatch().__await__()

    async def dispatch(self) -> None:
        websocket = WebSocket(self.scope, self.receive, self.send)
        await self.on_connect(websocket)
        close_code = 1000
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    close_code = int(message.get("code") or 1000)
                    break
                ok, data = self._decode(message)
                if not ok:
                    close_code = 1003
                    logger.info("websocket %s closed (1003): %s", self.scope.get("path", ""), data)
                    await websocket.close(1003, data)
                    break
                await self.on_receive(websocket, data)
        except Exception:
            close_code = 1011  # RFC 6455 §7.4.1: an unexpected condition
            raise
        finally:
            await self.on_disconnect(websocket, close_code)

    def _decode(self, message: Message) -> tuple[bool, Any]:
        """(True, data) or (False, the reason to close with)."""
        text = message.get("text")
        data = message.get("bytes")
        encoding = self.encoding
        if encoding == "text":
            if text is None:
                return False, "expected text messages"
            return True, text
        if encoding == "bytes":
            if data is None:
                return False, "expected binary messages"
            return True, data
        if encoding == "json":
            try:
                return True, json.loads(text if text is not None else (data or b"").decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return False, "malformed JSON"
        return True, text if text is not None else data

    async def on_connect(self, websocket: WebSocket) -> None:
        """Called first; accepts the connection. Override to check or refuse it."""
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        """Called with each decoded message."""

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        """Called once, with the close code, when the connection ends."""
