"""WSGI apps (PEP 3333) on the ASGI server: ``--interface wsgi`` or auto-detected.

``WSGIAdapter(app)`` is an ASGI 3 app that runs a WSGI app in a bounded thread pool:

* The request body streams: ``wsgi.input`` reads from the ASGI ``receive()`` across
  threads, one message at a time, only when the app asks; the server stops reading
  the socket while nobody asks (back-pressure toward the client).
* The response streams: every chunk the app yields (or passes to ``write()``) is handed
  to the event loop as soon as it exists; the app's thread waits once more than
  ``RESPONSE_HIGH_WATER`` bytes are queued behind a slow client (back-pressure toward
  the app). A response whose body reaches its declared Content-Length is completed
  at once, so a typical response costs one hand-over to the loop, not one per message.
* PEP 3333: headers leave with the first non-empty chunk; ``start_response`` may be
  called again with ``exc_info`` until then, and re-raises it after; ``close()`` is
  always called; an app that raises before anything was sent gets a 500 from the server.

Why our own adapter rather than a2wsgi (measured, see the commit that added this):
a2wsgi sends the headers from inside ``start_response`` (so ``exc_info`` can no longer
replace them, against PEP 3333), and a client that disconnects from a streamed
response leaves its worker thread blocked on a full queue for ever; it also costs four
thread hand-overs per response where this adapter needs two.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = [
    "DEFAULT_THREADS",
    "RESPONSE_HIGH_WATER",
    "WSGIAdapter",
    "WSGIInput",
    "build_environ",
    "is_async_callable",
    "is_wsgi_app",
]

logger = logging.getLogger("asgi_magic.error")

#: Threads in the pool; the same default as ``Config.wsgi_threads``.
DEFAULT_THREADS = 40
#: Response bytes one request may queue for the event loop before its thread waits.
RESPONSE_HIGH_WATER = 256 * 1024
#: The waiting thread resumes once the queue has drained below this.
RESPONSE_LOW_WATER = 64 * 1024

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ClientGone(OSError):
    """Raised inside the app's thread (reading ``wsgi.input``, yielding, ``write()``)
    once the client has disconnected or the server gave up on the request."""


def is_async_callable(app: Any) -> bool:
    """Whether calling ``app`` gives a coroutine: a coroutine function, or an object
    (or class) whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(
        getattr(app, "__call__", None)  # noqa: B004 - the method itself is inspected
    )


def is_wsgi_app(app: Any) -> bool:
    """Whether ``app`` looks like a WSGI callable: exactly two required positional
    parameters (``environ, start_response``), no ``*args``, and not a coroutine
    function nor an object or class whose ``__call__`` is one (that is ASGI)."""
    if not callable(app):
        return False
    if is_async_callable(app):
        return False  # an object (or a class) whose __call__ is async is ASGI
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):
        return False
    positional = []
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return False
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            positional.append(param)
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    return len(positional) == 2 and len(required) == 2


# --- the request side --------------------------------------------------------------------


def _latin1(data: bytes) -> str:
    # PEP 3333 "Unicode issues": native strings carry bytes as ISO-8859-1 code points.
    return data.decode("latin-1")


def build_environ(
    scope: dict[str, Any], wsgi_input: Any, multiprocess: bool = False
) -> dict[str, Any]:
    """The PEP 3333 environ for an ASGI HTTP ``scope``.

    PATH_INFO is the percent-decoded path as latin-1 code points (the bytes the client
    sent), with the root path (SCRIPT_NAME) taken off its front. Request headers become
    ``HTTP_*`` keys; repeated headers are joined with ",". A header whose name contains
    "_" is dropped: it would land on the same key as its "-" twin and could spoof it
    (``X_Forwarded_For`` vs ``X-Forwarded-For``), as nginx and gunicorn also do.
    """
    root_path: str = scope.get("root_path", "")
    root = root_path.encode("utf-8")
    path: str = scope["path"]
    raw_path = scope.get("raw_path")
    if raw_path is not None:
        path_bytes = unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path
    else:
        path_bytes = path.encode("utf-8")
    if root and path.startswith(root_path) and path_bytes.startswith(root):
        path_bytes = path_bytes[len(root) :]
    scheme = scope.get("scheme", "http")
    server = scope.get("server")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": _latin1(root),
        "PATH_INFO": _latin1(path_bytes),
        "QUERY_STRING": _latin1(scope.get("query_string", b"")),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": wsgi_input,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        # The stream ends at the end of the body, chunked or not (a common extension
        # read by Werkzeug to accept chunked uploads).
        "wsgi.input_terminated": True,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            key = "CONTENT_TYPE"
        elif name == b"content-length":
            key = "CONTENT_LENGTH"
        elif b"_" in name:
            continue
        else:
            key = "HTTP_" + _latin1(name).upper().replace("-", "_")
        text = _latin1(value)
        if key in environ:
            # RFC 9110 §5.3: repeated fields combine into one comma-separated list.
            environ[key] = f"{environ[key]},{text}"
        else:
            environ[key] = text
    # PEP 3333 requires SERVER_NAME and SERVER_PORT; a UNIX socket has neither, so
    # they come from the Host header, as URL reconstruction would do.
    if server:
        environ["SERVER_NAME"] = str(server[0])
        environ["SERVER_PORT"] = str(server[1]) if server[1] is not None else ""
    else:
        host = environ.get("HTTP_HOST", "localhost")
        name, sep, port = host.rpartition(":")
        if not sep or "]" in port:
            name, port = host, ""
        environ["SERVER_NAME"] = name
        environ["SERVER_PORT"] = port or ("443" if scheme == "https" else "80")
    return environ


class WSGIInput:
    """``wsgi.input``: a read-only binary stream over the request body (PEP 3333
    "Input and Error Streams": ``read``, ``readline``, ``readlines``, ``__iter__``).

    Each read that needs more bytes waits, in the app's thread, for one ASGI
    ``http.request`` message from the event loop: nothing is read ahead, so a 1 GB
    upload is held in memory one message (tens of KiB) at a time. A client that goes
    away mid-body raises ``ClientGone`` (an ``OSError``), never a silent short body.
    """

    def __init__(self, fetch: Callable[[], bytes | None]) -> None:
        self._fetch = fetch  # the next body piece; None at the end of the body
        self._buffer = b""
        self._done = False

    def _more(self) -> bool:
        if self._done:
            return False
        data = self._fetch()
        if data is None:
            self._done = True
            return False
        self._buffer = self._buffer + data if self._buffer else data
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all of the rest when negative or None); b"" at the end."""
        if size is None or size < 0:
            parts = [self._buffer]
            self._buffer = b""
            while not self._done:
                data = self._fetch()
                if data is None:
                    self._done = True
                else:
                    parts.append(data)
            return b"".join(parts)
        while len(self._buffer) < size and self._more():
            pass
        buffer = self._buffer
        if len(buffer) <= size:
            self._buffer = b""
            return buffer
        self._buffer = buffer[size:]
        return buffer[:size]

    def readline(self, size: int | None = -1) -> bytes:
        """One line including its b"\\n" (at most ``size`` bytes when given)."""
        limit = -1 if size is None else size
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                end += 1
                break
            if 0 <= limit <= len(self._buffer):
                end = limit
                break
            start = len(self._buffer)
            if not self._more():
                end = len(self._buffer)
                break
        if 0 <= limit < end:
            end = limit
        line, self._buffer = self._buffer[:end], self._buffer[end:]
        return line

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def close(self) -> None:
        pass


# --- one request ------------------------------------------------------------------------

_END = {"type": "http.response.body", "body": b"", "more_body": False}


class _Exchange:
    """One request: the app's thread on one side, the event loop's task on the other.

    Thread → loop: ``_post`` queues ASGI messages with ``call_soon_threadsafe``.
    Loop → thread: body pieces through ``run_coroutine_threadsafe(receive())``, and
    ``gone`` (set when the client left or the task was cancelled).
    """

    def __init__(
        self,
        app: WSGIApp,
        scope: dict[str, Any],
        receive: Callable[[], Any],
        send: Callable[[Any], Any],
        loop: asyncio.AbstractEventLoop,
        multiprocess: bool,
    ) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.loop = loop
        self.multiprocess = multiprocess
        # Loop side.
        self.queue: deque[list[dict[str, Any]]] = deque()
        self.wakeup: asyncio.Future[None] | None = None
        # Shared, guarded by ``cond``.
        self.cond = threading.Condition(threading.Lock())
        self.pending = 0  # response bytes posted but not yet sent
        self.thread_waiting = False
        self.gone: BaseException | None = None
        self.receiving: concurrent.futures.Future[Any] | None = None
        # Thread side.
        self.start: dict[str, Any] | None = None  # http.response.start not yet sent
        self.headers_sent = False
        self.content_length: int | None = None
        self.body_sent = 0
        self.finished = False
        self.body_done = False

    # --- in the app's thread -------------------------------------------------------------

    def run(self) -> None:
        environ = build_environ(self.scope, WSGIInput(self._fetch_body), self.multiprocess)
        iterable = self.app(environ, self.start_response)
        try:
            for chunk in iterable:
                if chunk:
                    self.write(chunk)
            if self.start is None and not self.headers_sent:
                raise RuntimeError("the WSGI app returned without calling start_response")
            self._finish()
        finally:
            # PEP 3333: close() is called however the iteration ended.
            close = getattr(iterable, "close", None)
            if close is not None:
                close()

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: Any = None,
    ) -> Callable[[bytes], None]:
        """PEP 3333 ``start_response``; returns the ``write()`` callable."""
        if exc_info is not None:
            try:
                if self.headers_sent:
                    # PEP 3333: too late to change the response; re-raise to the app.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # PEP 3333: avoid a traceback/frame reference cycle
        elif self.start is not None or self.headers_sent:
            raise RuntimeError("start_response called twice without exc_info (PEP 3333)")
        if type(status) is not str or len(status) < 4 or status[3] != " ":
            raise ValueError(f"WSGI status must be a string like '200 OK', not {status!r}")
        try:
            code = int(status[:3])
        except ValueError:
            raise ValueError(f"WSGI status must start with 3 digits: {status!r}") from None
        pairs: list[tuple[bytes, bytes]] = []
        length: int | None = None
        for header in headers:
            if type(header) is not tuple or len(header) != 2:
                raise TypeError(f"WSGI headers must be (name, value) tuples, not {header!r}")
            name, value = header
            if type(name) is not str or type(value) is not str:
                raise TypeError(f"WSGI header names and values must be str: {header!r}")
            lname = name.lower().encode("latin-1")
            bvalue = value.encode("latin-1")
            if lname == b"content-length" and bvalue.strip().isdigit():
                length = int(bvalue)
            pairs.append((lname, bvalue))
        self.start = {"type": "http.response.start", "status": code, "headers": pairs}
        self.content_length = length
        return self.write

    def write(self, data: bytes) -> None:
        """The PEP 3333 ``write()`` callable (and the path of every yielded chunk)."""
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise TypeError(f"WSGI body chunks must be bytes, not {type(data).__name__}")
            data = bytes(data)
        if not data:
            return
        if self.finished:
            raise RuntimeError("the WSGI app sent more than its Content-Length")
        messages = []
        if not self.headers_sent:
            start = self.start
            if start is None:
                raise RuntimeError("the WSGI app sent body before calling start_response")
            messages.append(start)
            self.start = None
            self.headers_sent = True
        self.body_sent += len(data)
        # The declared length is reached: the response ends here (the app's iterator
        # still runs to its end and close() is still called).
        last = self.content_length is not None and self.body_sent >= self.content_length
        messages.append({"type": "http.response.body", "body": data, "more_body": not last})
        if last:
            self.finished = True
        self._post(messages, len(data))

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        messages = []
        if not self.headers_sent:
            assert self.start is not None
            messages.append(self.start)
            self.start = None
            self.headers_sent = True
        messages.append(_END)
        self._post(messages, 0)

    def _post(self, messages: list[dict[str, Any]], size: int) -> None:
        cond = self.cond
        with cond:
            if self.gone is not None:
                raise ClientGone("the client has disconnected") from self.gone
            self.pending += size
            self.loop.call_soon_threadsafe(self._deliver, messages)
            # Back-pressure: a slow client makes the app wait rather than the queue grow.
            while self.pending > RESPONSE_HIGH_WATER and self.gone is None:
                self.thread_waiting = True
                cond.wait()
            self.thread_waiting = False

    def _fetch_body(self) -> bytes | None:
        if self.body_done:
            return None
        with self.cond:
            if self.gone is not None:
                raise ClientGone("the client has disconnected") from self.gone
            future = asyncio.run_coroutine_threadsafe(self.receive(), self.loop)
            self.receiving = future
        try:
            message = future.result()
        except concurrent.futures.CancelledError:
            raise ClientGone("the request was cancelled") from None
        finally:
            self.receiving = None
        if message["type"] != "http.request":
            raise ClientGone("the client disconnected before sending the whole body")
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            # The last piece: never receive() again, that would wait for the disconnect.
            self.body_done = True
            return body or None
        return body

    # --- in the event loop -------------------------------------------------------------

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        self.queue.append(messages)
        self._wake()

    def _wake(self, _: object = None) -> None:
        wakeup = self.wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _stop_thread(self, reason: BaseException) -> None:
        with self.cond:
            if self.gone is None:
                self.gone = reason
            self.cond.notify_all()
            receiving = self.receiving
        if receiving is not None:
            receiving.cancel()

    async def serve(self, executor: concurrent.futures.Executor) -> None:
        loop = self.loop
        done = loop.run_in_executor(executor, self.run)
        done.add_done_callback(self._wake)
        queue = self.queue
        send = self.send
        try:
            while True:
                while queue:
                    messages = queue.popleft()
                    size = 0
                    for message in messages:
                        await send(message)
                        if message["type"] == "http.response.body":
                            size += len(message["body"])
                    if size:
                        with self.cond:
                            self.pending -= size
                            if self.thread_waiting and self.pending <= RESPONSE_LOW_WATER:
                                self.cond.notify_all()
                if done.done() and not queue:
                    break
                self.wakeup = loop.create_future()
                await self.wakeup
                self.wakeup = None
        except BaseException as exc:
            # The client left (send raised) or the server cancelled us: stop the app's
            # thread at its next read or write, and let it call close() before we go.
            self._stop_thread(exc)
            if isinstance(exc, asyncio.CancelledError):
                done.cancel()  # a request still waiting for a thread never starts
            else:
                try:  # the thread stops at its next read or chunk, after close()
                    await done
                except Exception:
                    pass
            raise
        done.result()  # the app's own exception, if any: the server logs it and answers


# --- the ASGI app -------------------------------------------------------------------------


class WSGIAdapter:
    """An ASGI 3 application that serves the WSGI app ``app`` (PEP 3333).

    ``threads``: the size of the pool that runs the app (each request holds one thread
    until its response is sent; further requests wait for a free thread).
    ``multiprocess``: the value of ``wsgi.multiprocess`` (True with several workers).
    Lifespan events are answered (WSGI has none; shutdown stops the pool); a
    WebSocket handshake is refused with 403.
    """

    def __init__(self, app: WSGIApp, threads: int = DEFAULT_THREADS, multiprocess: bool = False):
        if threads < 1:
            raise ValueError("a WSGI thread pool needs at least one thread")
        self.app = app
        self.threads = threads
        self.multiprocess = multiprocess
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            executor = self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.threads, thread_name_prefix="asgi-magic-wsgi"
            )
        return executor

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            exchange = _Exchange(
                self.app, scope, receive, send, asyncio.get_running_loop(), self.multiprocess
            )
            await exchange.serve(self.executor)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._executor is not None:
                        self._executor.shutdown(wait=False)
                        self._executor = None
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close"})  # before accept: HTTP 403
        else:
            raise RuntimeError(f"unsupported scope type {kind!r} for a WSGI app")
