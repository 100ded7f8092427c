"""Middleware: the ``Middleware`` spec, the error layers and ``@app.middleware("http")``.

Every middleware is a plain ASGI callable wrapping the next one; ``App`` builds the
stack once: ``ServerErrorMiddleware`` (outermost) → user middleware → ``ExceptionMiddleware``
→ router.
"""

from __future__ import annotations

import asyncio
import html
import http
import inspect
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from ._concurrency import run_in_threadpool
from ._types import ASGIApp, Message, Receive, Scope, Send
from .exceptions import HTTPException, RequestValidationError, WebSocketException
from .requests import ClientDisconnect, Request
from .responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from .websockets import WebSocket

__all__ = [
    "CallNext",
    "ExceptionMiddleware",
    "HTTPFunctionMiddleware",
    "Middleware",
    "ServerErrorMiddleware",
]

logger = logging.getLogger("asgi_magic.web")

ExceptionHandler = Callable[..., Any]
CallNext = Callable[[Request], Awaitable[Response]]


class Middleware:
    """``Middleware(Cls, **options)`` in ``App(middleware=[...])``: ``Cls(app, **options)``."""

    def __init__(self, cls: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.args, self.kwargs))

    def __repr__(self) -> str:
        options = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        name = getattr(self.cls, "__name__", repr(self.cls))
        return f"Middleware({', '.join([name, *options])})"


def _wants_json(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"accept":
            return b"application/json" in value and b"text/html" not in value
    return False


def http_exception_response(scope: Scope, exc: HTTPException) -> Response:
    """The default response for an HTTPException: text, or JSON if the client asks."""
    status = exc.status_code
    if isinstance(exc, RequestValidationError):
        return JSONResponse({"detail": exc.errors}, status_code=422, headers=exc.headers)
    if status in (204, 304) or status < 200:
        return Response(status_code=status, headers=exc.headers)
    if _wants_json(scope):
        return JSONResponse({"detail": exc.detail}, status_code=status, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=status, headers=exc.headers)


async def _call_handler(handler: ExceptionHandler, conn: Any, exc: BaseException) -> Any:
    if inspect.iscoroutinefunction(handler):
        return await handler(conn, exc)
    return await run_in_threadpool(handler, conn, exc)


class ExceptionMiddleware:
    """Turns HTTPException, WebSocketException and registered exceptions into responses.

    Sits inside user middleware so they see (and can decorate) a 404 like any other
    response. Exceptions without a handler propagate to ``ServerErrorMiddleware``.
    """

    def __init__(
        self,
        app: ASGIApp,
        handlers: Mapping[Any, ExceptionHandler] | None = None,
        debug: bool = False,
    ) -> None:
        self.app = app
        self.debug = debug
        self.status_handlers: dict[int, ExceptionHandler] = {}
        self.exception_handlers: dict[type[BaseException], ExceptionHandler] = {}
        for key, handler in (handlers or {}).items():
            self.add_exception_handler(key, handler)

    def add_exception_handler(
        self, key: int | type[BaseException], handler: ExceptionHandler
    ) -> None:
        if isinstance(key, int):
            self.status_handlers[key] = handler
        else:
            assert issubclass(key, BaseException)
            self.exception_handlers[key] = handler

    def _lookup(self, exc: BaseException) -> ExceptionHandler | None:
        if isinstance(exc, HTTPException):
            handler = self.status_handlers.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            # a handler for Exception / 500 belongs to ServerErrorMiddleware
            if cls is Exception or cls is BaseException:
                break
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if not await self.handle(scope, receive, send, exc):
                raise

    async def handle(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> bool:
        """Answer ``exc`` if a handler (or the HTTPException default) applies."""
        kind = scope["type"]
        handler = self._lookup(exc)
        if kind == "http":
            if handler is None:
                if not isinstance(exc, HTTPException):
                    return False
                response: Any = http_exception_response(scope, exc)
            else:
                response = await _call_handler(handler, Request(scope, receive, send), exc)
            if response is not None:
                await response(scope, receive, send)
            return True
        if kind == "websocket":
            websocket = WebSocket(scope, receive, send)
            if handler is not None:
                await _call_handler(handler, websocket, exc)
            elif isinstance(exc, WebSocketException):
                await send({"type": "websocket.close", "code": exc.code, "reason": exc.reason})
            else:
                return False
            return True
        return False


_DEBUG_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>500 {title}</title>
<style>body{{font-family:sans-serif;margin:2em}}pre{{background:#f6f6f6;padding:1em;
overflow:auto}}</style></head>
<body><h1>500 Internal Server Error</h1><h2>{title}</h2><pre>{trace}</pre></body></html>
"""


class ServerErrorMiddleware:
    """Outermost layer: any unhandled exception becomes a 500, logged once.

    With ``debug=True`` the response is a traceback page (HTML-escaped, so exception
    text cannot inject markup); in production it is a plain "Internal Server Error".
    A handler registered for 500 or ``Exception`` replaces the default response.
    """

    def __init__(
        self,
        app: ASGIApp,
        handler: ExceptionHandler | None = None,
        debug: bool = False,
        exceptions: ExceptionMiddleware | None = None,
    ) -> None:
        self.app = app
        self.handler = handler
        self.debug = debug
        # With no user middleware in between, App folds the ExceptionMiddleware layer in
        # here: one coroutine frame less per request, same behaviour.
        self.exceptions = exceptions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind != "websocket":
                await self.app(scope, receive, send)
                return
            try:
                try:
                    await self.app(scope, receive, send)
                except Exception as exc:
                    if self.exceptions is None or not await self.exceptions.handle(
                        scope, receive, send, exc
                    ):
                        raise
            except WebSocketException as exc:
                await _safe_send(
                    send, {"type": "websocket.close", "code": exc.code, "reason": exc.reason}
                )
            except Exception:
                logger.exception("Exception in websocket handler %s", scope.get("path", ""))
                # RFC 6455 §7.4.1: 1011, the server hit an unexpected condition
                await _safe_send(send, {"type": "websocket.close", "code": 1011, "reason": ""})
                if _raise_for_tests(scope):
                    raise
            return

        started = False

        client_gone = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, client_gone
            if message["type"] == "http.response.start":
                started = True
            try:
                await send(message)
            except OSError:
                # asgiref spec 2.4: the server raises an OSError subclass when the
                # client has gone; nobody is there to answer, and it is not a bug.
                client_gone = True
                raise

        try:
            try:
                await self.app(scope, receive, tracking_send)
            except Exception as exc:
                if self.exceptions is None or started:
                    raise
                if not await self.exceptions.handle(scope, receive, tracking_send, exc):
                    raise
        except ClientDisconnect:
            # the client left while we read its body; nobody is there to answer
            return
        except Exception as exc:
            if client_gone and isinstance(exc, OSError):
                logger.debug("client disconnected while %s was answered", scope.get("path"))
                return
            method = scope.get("method", "")
            path = scope.get("path", "")
            logger.error("Exception in handler for %s %s", method, path, exc_info=exc)
            if not started:
                response: Any = None
                if self.handler is not None:
                    response = await _call_handler(self.handler, Request(scope, receive, send), exc)
                if response is None:
                    response = self._default_response(scope, exc)
                try:
                    await response(scope, receive, send)
                except Exception:  # pragma: no cover - the 500 itself failed to send
                    pass
            if started or _raise_for_tests(scope):
                # after the response started the only honest thing is to let the server
                # abort the connection; the test client re-raises to show the bug
                raise

    def _default_response(self, scope: Scope, exc: Exception) -> Response:
        if not self.debug:
            return PlainTextResponse("Internal Server Error", status_code=500)
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        accept = b""
        for key, value in scope.get("headers", ()):
            if key == b"accept":
                accept = value
        title = html.escape(f"{type(exc).__name__}: {exc}")
        if b"text/html" in accept:
            return HTMLResponse(
                _DEBUG_TEMPLATE.format(title=title, trace=html.escape(trace)), status_code=500
            )
        return PlainTextResponse(trace, status_code=500)


def _raise_for_tests(scope: Scope) -> bool:
    # The TestClient marks its scopes so bugs surface as exceptions in the test rather
    # than as a logged 500; real servers never set this, so production logs once.
    ext = scope.get("extensions") or {}
    return bool(ext.get("asgi_magic.testclient", {}).get("raise_server_exceptions"))


async def _safe_send(send: Send, message: Message) -> None:
    try:
        await send(message)
    except Exception:
        pass


# --- @app.middleware("http") ---------------------------------------------------------

_END = object()


class _StreamedResponse(Response):
    """The response ``call_next`` returns: headers now, body streamed from downstream."""

    def __init__(self, start: Message, queue: asyncio.Queue[Any], task: asyncio.Task[None]) -> None:
        self.status_code = start["status"]
        self.raw_headers = [(bytes(k).lower(), bytes(v)) for k, v in start.get("headers", ())]
        self.background = None
        self.body = b""
        self._start = start
        self._queue = queue
        self._task = task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = dict(self._start)
        start["status"] = self.status_code
        start["headers"] = self.raw_headers
        await send(start)
        queue = self._queue
        while True:
            message = await queue.get()
            if message is _END:
                break
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                break
            if message["type"] == "http.response.pathsend":
                break


class HTTPFunctionMiddleware:
    """Adapts ``async def mw(request, call_next) -> Response`` to a pure ASGI middleware.

    ``call_next`` runs the rest of the app in a task and returns as soon as the headers
    are known; body messages are handed over through a one-slot queue, so a streaming
    response is forwarded chunk by chunk (never buffered) and a slow client slows the
    producer. The original ``receive`` is passed down, so the downstream app sees the
    client's ``http.disconnect``.
    """

    def __init__(
        self, app: ASGIApp, dispatch: Callable[[Request, CallNext], Awaitable[Response]]
    ) -> None:
        self.app = app
        self.dispatch = dispatch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        tasks: list[asyncio.Task[None]] = []
        app = self.app

        async def downstream_receive() -> Message:
            # if the middleware already read the body, replay it once to the inner app
            body = scope.get("asgi_magic.body")
            if body is not None and not replayed:
                replayed.append(True)
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        replayed: list[bool] = []

        async def call_next(req: Request) -> Response:
            queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
            started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

            async def inner_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    if not started.done():
                        started.set_result(message)
                    return
                await queue.put(message)

            async def pending_receive() -> Message:
                # body messages req.is_disconnected() read early go downstream first
                if req._pending:
                    return req._pending.pop(0)
                return await receive()

            async def run() -> None:
                consumed = req._stream_consumed or req._body is not None
                inner_receive = pending_receive if req._pending else receive
                try:
                    await app(scope, downstream_receive if consumed else inner_receive, inner_send)
                except asyncio.CancelledError:
                    raise  # nobody reads the queue any more: do not wait on it
                except BaseException:
                    if started.done():
                        await queue.put(_END)
                    raise
                if started.done():
                    await queue.put(_END)

            task = asyncio.ensure_future(run())
            tasks.append(task)
            await asyncio.wait((task, started), return_when=asyncio.FIRST_COMPLETED)
            if not started.done():
                started.cancel()
                exc = task.exception()
                if exc is not None:
                    raise exc
                raise RuntimeError("No response returned.")
            return _StreamedResponse(started.result(), queue, task)

        try:
            response = await self.dispatch(request, call_next)
            await response(scope, receive, send)
            for task in tasks:
                if not task.done():
                    # the middleware replaced the response; the downstream one is unwanted
                    task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await request.close()


def status_text(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""
