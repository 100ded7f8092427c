"""``App``: routes, middleware, exception handlers and lifespan in one ASGI callable."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from ._concurrency import run_in_threadpool
from ._types import Receive, Scope, Send
from .datastructures import State
from .middleware import (
    ExceptionMiddleware,
    HTTPFunctionMiddleware,
    Middleware,
    ServerErrorMiddleware,
)
from .requests import BODY_LIMIT_KEY
from .responses import Response
from .routing import BaseRoute, Host, Mount, Router, URLPath, is_endpoint_class

__all__ = ["App"]

F = TypeVar("F", bound=Callable[..., Any])
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]

logger = logging.getLogger("asgi_magic.web")


class App:
    """The application: ``app = App()``, then decorate handlers, then serve ``app``."""

    def __init__(
        self,
        debug: bool = False,
        routes: Sequence[BaseRoute] | None = None,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: Mapping[Any, Callable[..., Any]] | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        lifespan: Lifespan | None = None,
        redirect_slashes: bool = True,
        max_body_size: int | None = None,
    ) -> None:
        """``max_body_size``: the most bytes any request body may have (413 beyond,
        from ``request.body()``, ``json()``, ``stream()`` and ``form()``); a route's
        own ``max_body_size`` replaces it. None (the default): no app-wide limit."""
        if lifespan is not None and (on_startup or on_shutdown):
            raise ValueError("use either lifespan= or on_startup/on_shutdown, not both")
        self.debug = debug
        self.state = State()
        self.router = Router(routes, redirect_slashes=redirect_slashes)
        self.user_middleware: list[Middleware] = list(middleware or [])
        self.exception_handlers: dict[Any, Callable[..., Any]] = dict(exception_handlers or {})
        self.on_startup_handlers: list[Callable[[], Any]] = list(on_startup or [])
        self.on_shutdown_handlers: list[Callable[[], Any]] = list(on_shutdown or [])
        self.lifespan_context = lifespan
        if max_body_size is not None and max_body_size < 0:
            raise ValueError("max_body_size must be >= 0 bytes")
        self.max_body_size = max_body_size
        self.middleware_stack: Any = None

    # --- the stack --------------------------------------------------------------------

    def build_middleware_stack(self) -> Any:
        """Built once, on the first call: errors outermost, then user middleware in the
        order given (the first one sees the request first), then HTTPException handling."""
        error_handler = None
        handlers = {}
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value
        exceptions = ExceptionMiddleware(self.router, handlers=handlers, debug=self.debug)
        if not self.user_middleware:
            stack: Any = ServerErrorMiddleware(
                self.router, handler=error_handler, debug=self.debug, exceptions=exceptions
            )
        else:
            app: Any = exceptions
            for cls, args, kwargs in reversed(self.user_middleware):
                app = cls(app, *args, **kwargs)
            stack = ServerErrorMiddleware(app, handler=error_handler, debug=self.debug)
        if self.max_body_size is not None:
            # only an app with a limit pays for it
            stack = _BodyLimit(stack, self.max_body_size)
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if "router" not in scope:
            # the outermost router, so url_for from a mounted app can reach every route
            scope["router"] = self.router
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        stack = self.middleware_stack
        if stack is None:
            stack = self.middleware_stack = self.build_middleware_stack()
        await stack(scope, receive, send)

    def _check_not_started(self) -> None:
        if self.middleware_stack is not None:
            raise RuntimeError(
                "cannot add middleware or exception handlers after the app has started"
            )

    # --- registration -------------------------------------------------------------------

    @property
    def routes(self) -> list[BaseRoute]:
        return self.router.routes

    def add_middleware(
        self, middleware_class: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Add a pure ASGI middleware; the last one added is the outermost (as Starlette)."""
        self._check_not_started()
        self.user_middleware.insert(0, Middleware(middleware_class, *args, **kwargs))

    def middleware(self, middleware_type: str) -> Callable[[F], F]:
        """``@app.middleware("http")`` for ``async def mw(request, call_next)``."""
        if middleware_type != "http":
            raise ValueError('only @app.middleware("http") is supported')

        def decorator(func: F) -> F:
            self.add_middleware(HTTPFunctionMiddleware, dispatch=func)
            return func

        return decorator

    def add_exception_handler(
        self, key: int | type[BaseException], handler: Callable[..., Any]
    ) -> None:
        self._check_not_started()
        self.exception_handlers[key] = handler

    def exception_handler(self, key: int | type[BaseException]) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            self.add_exception_handler(key, func)
            return func

        return decorator

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        response_class: type[Response] | None = None,
        max_body_size: int | None = None,
    ) -> None:
        self.router.add_route(
            path,
            endpoint,
            methods=methods,
            name=name,
            include_in_schema=include_in_schema,
            response_class=response_class,
            max_body_size=max_body_size,
        )

    def route(
        self,
        path: str,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        response_class: type[Response] | None = None,
        max_body_size: int | None = None,
    ) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            if methods is None and not is_endpoint_class(func):
                default: Collection[str] | None = ["GET"]
            else:
                default = methods  # an HTTPEndpoint answers the verbs it defines
            self.add_route(
                path,
                func,
                methods=default,
                name=name,
                include_in_schema=include_in_schema,
                response_class=response_class,
                max_body_size=max_body_size,
            )
            return func

        return decorator

    def get(
        self, path: str, name: str | None = None, response_class: type[Response] | None = None
    ) -> Callable[[F], F]:
        return self.route(path, ["GET"], name=name, response_class=response_class)

    def post(
        self,
        path: str,
        name: str | None = None,
        response_class: type[Response] | None = None,
        max_body_size: int | None = None,
    ) -> Callable[[F], F]:
        return self.route(
            path,
            ["POST"],
            name=name,
            response_class=response_class,
            max_body_size=max_body_size,
        )

    def put(
        self,
        path: str,
        name: str | None = None,
        response_class: type[Response] | None = None,
        max_body_size: int | None = None,
    ) -> Callable[[F], F]:
        return self.route(
            path,
            ["PUT"],
            name=name,
            response_class=response_class,
            max_body_size=max_body_size,
        )

    def patch(
        self,
        path: str,
        name: str | None = None,
        response_class: type[Response] | None = None,
        max_body_size: int | None = None,
    ) -> Callable[[F], F]:
        return self.route(
            path,
            ["PATCH"],
            name=name,
            response_class=response_class,
            max_body_size=max_body_size,
        )

    def delete(
        self,
        path: str,
        name: str | None = None,
        response_class: type[Response] | None = None,
        max_body_size: int | None = None,
    ) -> Callable[[F], F]:
        return self.route(
            path,
            ["DELETE"],
            name=name,
            response_class=response_class,
            max_body_size=max_body_size,
        )

    def add_websocket_route(
        self, path: str, endpoint: Callable[..., Any], name: str | None = None
    ) -> None:
        self.router.add_websocket_route(path, endpoint, name=name)

    def websocket(self, path: str, name: str | None = None) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            self.add_websocket_route(path, func, name=name)
            return func

        return decorator

    def websocket_route(self, path: str, name: str | None = None) -> Callable[[F], F]:
        """Starlette's name for :meth:`websocket`; takes a handler or a WebSocketEndpoint."""
        return self.websocket(path, name=name)

    def host(self, host: str, app: Any, name: str | None = None) -> Host:
        """Serve ``app`` for requests whose Host matches ``host`` (see ``routing.Host``)."""
        return self.router.host(host, app, name=name)

    def mount(self, path: str, app: Any, name: str | None = None) -> Mount:
        return self.router.mount(path, app, name=name)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.router.url_path_for(name, **path_params)

    def url_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path (relative to the app root) of the route called ``name``."""
        return self.router.url_path_for(name, **path_params)

    def on_startup(self, func: F) -> F:
        if self.lifespan_context is not None:
            raise ValueError("use either lifespan= or on_startup/on_shutdown, not both")
        self.on_startup_handlers.append(func)
        return func

    def on_shutdown(self, func: F) -> F:
        if self.lifespan_context is not None:
            raise ValueError("use either lifespan= or on_startup/on_shutdown, not both")
        self.on_shutdown_handlers.append(func)
        return func

    # --- lifespan (asgiref lifespan.rst) ------------------------------------------------

    @asynccontextmanager
    async def _default_lifespan(self, app: Any) -> AsyncIterator[None]:
        for handler in self.on_startup_handlers:
            await _maybe_await(handler)
        yield None
        for handler in self.on_shutdown_handlers:
            await _maybe_await(handler)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        context = (self.lifespan_context or self._default_lifespan)(self)
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            async with context as state:
                if state is not None:
                    if "state" not in scope:
                        raise RuntimeError(
                            'the server does not support "state" in the lifespan scope'
                        )
                    # lifespan.rst: the server copies scope["state"] into every request
                    scope["state"].update(state)
                await send({"type": "lifespan.startup.complete"})
                started = True
                message = await receive()
                assert message["type"] == "lifespan.shutdown"
        except asyncio.CancelledError:
            # The server stopped the lifespan (a forced exit, a second Ctrl-C): that is
            # not the app failing, so no error line, no traceback, no failure message.
            raise
        except BaseException as exc:
            text = f"{type(exc).__name__}: {exc}"
            logger.error(
                "Lifespan %s failed: %s", "shutdown" if started else "startup", text, exc_info=exc
            )
            if started:
                await send({"type": "lifespan.shutdown.failed", "message": text})
            else:
                await send({"type": "lifespan.startup.failed", "message": text})
            raise
        await send({"type": "lifespan.shutdown.complete"})


class _BodyLimit:
    """Put the app-wide body limit in the scope, where ``Request`` reads it."""

    __slots__ = ("app", "limit")

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[BODY_LIMIT_KEY] = self.limit
        await self.app(scope, receive, send)


async def _maybe_await(func: Callable[[], Any]) -> None:
    if inspect.iscoroutinefunction(func):
        await func()
    else:
        await run_in_threadpool(func)
