"""An in-process test client built on httpx: works with any ASGI 3 app.

    with TestClient(app) as client:      # runs lifespan startup/shutdown
        assert client.get("/").status_code == 200
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hi")

The app runs on an asyncio loop in a helper thread (one per ``with`` block, or one per
request otherwise), so sync tests and tests that already run a loop both work.
Response bodies are streamed: ``client.stream("GET", "/events")`` reads chunks as the
app sends them, and closing the stream tells the app the client disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx

from ._types import Message, Scope
from .websockets import WebSocketDisconnect

__all__ = [
    "AsyncTestClient",
    "TestClient",
    "WebSocketDenialResponse",
    "WebSocketTestSession",
]

T = TypeVar("T")
ASGIAppLike = Callable[[Any, Any, Any], Awaitable[None]]

_TIMEOUT = 30.0  # a hung app fails the test instead of hanging the suite


class WebSocketDenialResponse(httpx.Response, Exception):  # type: ignore[misc]
    """The app refused the handshake with an HTTP response (websocket.http.response)."""


class _Portal:
    """An event loop running in its own thread; coroutines are submitted to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="testclient-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def call(self, coro: Awaitable[T]) -> T:
        return self.submit(coro).result(_TIMEOUT)

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(func, *args)

    def stop(self) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        with contextlib.suppress(Exception):
            self.call(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_TIMEOUT)
        self.loop.close()


def _build_scope(
    kind: str,
    request: httpx.Request,
    root_path: str,
    state: dict[str, Any],
    raise_server_exceptions: bool,
) -> dict[str, Any]:
    url = request.url
    scheme = url.scheme
    default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme, 80)
    port = url.port or default_port
    raw_path = url.raw_path.split(b"?", 1)[0]
    headers = [(k.lower(), v) for k, v in request.headers.raw]
    if not any(k == b"host" for k, _ in headers):
        host = url.host if url.port is None else f"{url.host}:{url.port}"
        headers.insert(0, (b"host", host.encode("ascii")))
    # like a real server behind a proxy prefix, `path` includes `root_path`
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "path": root_path + unquote(raw_path.decode("ascii")),
        "raw_path": root_path.encode("utf-8") + raw_path,
        "query_string": url.query,
        "root_path": root_path,
        "headers": headers,
        "client": ("testclient", 50000),
        "server": (url.host, port),
        "state": dict(state),
        "extensions": {
            "http.response.debug": {},
            "asgi_magic.testclient": {"raise_server_exceptions": raise_server_exceptions},
        },
    }
    if kind == "http":
        scope["method"] = request.method
    return scope


class _StreamEnd:
    pass


_END = _StreamEnd()


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, chunks: queue.Queue[Any], on_close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._chunks.get(timeout=_TIMEOUT)
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._on_close()


class _TestClientTransport(httpx.BaseTransport):
    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        client = self.client
        portal, own = client._get_portal()
        scope = _build_scope(
            "http",
            request,
            client.root_path,
            client._lifespan_state,
            client.raise_server_exceptions,
        )
        body = request.read()
        start: Future[Message] = Future()
        chunks: queue.Queue[Any] = queue.Queue()
        done = threading.Event()
        box: dict[str, Any] = {}

        async def run() -> None:
            disconnected = asyncio.Event()
            box["disconnect"] = disconnected
            sent_body = False
            complete = False

            async def receive() -> Message:
                nonlocal sent_body
                if not sent_body:
                    sent_body = True
                    return {"type": "http.request", "body": body, "more_body": False}
                # asgiref www.rst: after the body, receive blocks until the client is gone
                await disconnected.wait()
                return {"type": "http.disconnect"}

            async def send(message: Message) -> None:
                nonlocal complete
                kind = message["type"]
                if disconnected.is_set():
                    raise OSError("the client disconnected")  # ASGI spec 2.4
                if kind == "http.response.start":
                    if start.done():
                        raise RuntimeError("http.response.start sent twice")
                    start.set_result(message)
                elif kind == "http.response.body":
                    if not start.done() or complete:
                        raise RuntimeError(f"unexpected {kind!r}")
                    data = bytes(message.get("body", b""))
                    if data and request.method != "HEAD":
                        chunks.put(data)
                    if not message.get("more_body", False):
                        complete = True
                        chunks.put(_END)
                        disconnected.set()
                elif kind == "http.response.pathsend":
                    if not start.done() or complete:
                        raise RuntimeError(f"unexpected {kind!r}")
                    with open(message["path"], "rb") as f:
                        chunks.put(f.read())
                    complete = True
                    chunks.put(_END)
                    disconnected.set()
                else:
                    raise RuntimeError(f"unknown ASGI message {kind!r}")

            try:
                await client.app(scope, receive, send)
            except BaseException as exc:
                if not start.done():
                    start.set_exception(exc)
                elif not complete:
                    chunks.put(exc if client.raise_server_exceptions else _END)
                elif client.raise_server_exceptions and not isinstance(exc, asyncio.CancelledError):
                    box["late_error"] = exc
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
            else:
                if not start.done():
                    start.set_exception(RuntimeError("the app returned without a response"))
                elif not complete:
                    chunks.put(_END)
            finally:
                done.set()

        scope["extensions"]["http.response.pathsend"] = {}
        future = portal.submit(run())

        def on_close() -> None:
            disconnect = box.get("disconnect")
            if disconnect is not None:
                portal.call_soon(disconnect.set)
            done.wait(_TIMEOUT)
            with contextlib.suppress(Exception):
                future.result(_TIMEOUT)
            if own:
                portal.stop()
            late = box.pop("late_error", None)
            if late is not None:
                raise late

        try:
            message = start.result(_TIMEOUT)
        except BaseException as exc:
            _on_close_quiet(on_close)
            if client.raise_server_exceptions:
                raise exc from None
            return httpx.Response(500, request=request, content=b"Internal Server Error")
        headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        return httpx.Response(
            message["status"],
            headers=headers,
            stream=_ResponseStream(chunks, on_close),
            request=request,
        )


def _on_close_quiet(on_close: Callable[[], None]) -> None:
    with contextlib.suppress(BaseException):
        on_close()


class TestClient(httpx.Client):
    """``httpx.Client`` that calls the ASGI app in-process (any ASGI 3 app)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: ASGIAppLike,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        cookies: Any = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> None:
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self._portal: _Portal | None = None
        self._lifespan_state: dict[str, Any] = {}
        self._lifespan_task: Future[None] | None = None
        self._lifespan_send: asyncio.Queue[Message] | None = None
        self._lifespan_receive: asyncio.Queue[Message] | None = None
        super().__init__(
            base_url=base_url,
            headers={"user-agent": "testclient", **(headers or {})},
            transport=_TestClientTransport(self),
            follow_redirects=follow_redirects,
            cookies=cookies,
        )

    def _get_portal(self) -> tuple[_Portal, bool]:
        if self._portal is not None:
            return self._portal, False
        return _Portal(), True

    # --- lifespan ------------------------------------------------------------------

    def __enter__(self) -> TestClient:
        super().__enter__()
        self._portal = _Portal()
        portal = self._portal
        to_app: asyncio.Queue[Message] = portal.call(_make_queue())
        from_app: asyncio.Queue[Message] = portal.call(_make_queue())
        self._lifespan_send, self._lifespan_receive = to_app, from_app
        state = self._lifespan_state

        async def lifespan() -> None:
            scope = {
                "type": "lifespan",
                "asgi": {"version": "3.0", "spec_version": "2.0"},
                "state": state,
            }
            try:
                await self.app(scope, to_app.get, from_app.put)
            finally:
                await from_app.put({"type": "_lifespan.done"})

        self._lifespan_task = portal.submit(lifespan())
        portal.call(to_app.put({"type": "lifespan.startup"}))
        message = portal.call(from_app.get())
        if message["type"] == "lifespan.startup.failed":
            self._close_portal()
            raise RuntimeError(f"lifespan startup failed: {message.get('message', '')}")
        if message["type"] == "_lifespan.done":
            # the app does not speak lifespan (asgiref lifespan.rst: that is allowed);
            # surface an exception only if it was not the usual "unsupported scope" one
            self._lifespan_task = None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            if self._lifespan_task is not None and self._portal is not None:
                assert self._lifespan_send is not None and self._lifespan_receive is not None
                self._portal.call(self._lifespan_send.put({"type": "lifespan.shutdown"}))
                message = self._portal.call(self._lifespan_receive.get())
                with contextlib.suppress(BaseException):
                    self._lifespan_task.result(_TIMEOUT)
                if message["type"] == "lifespan.shutdown.failed" and exc_type is None:
                    raise RuntimeError(f"lifespan shutdown failed: {message.get('message', '')}")
        finally:
            self._close_portal()
            super().__exit__(exc_type, exc_value, traceback)

    def _close_portal(self) -> None:
        if self._portal is not None:
            self._portal.stop()
            self._portal = None
        self._lifespan_task = None

    # --- websockets -----------------------------------------------------------------

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WebSocketTestSession:
        full = self._merge_url(url)
        scheme = {"http": "ws", "https": "wss"}.get(full.scheme, full.scheme)
        full = full.copy_with(scheme=scheme)
        request = self.build_request("GET", full, headers=headers)
        request.headers["connection"] = "upgrade"
        request.headers["upgrade"] = "websocket"
        request.headers["sec-websocket-key"] = "dGhlIHNhbXBsZSBub25jZQ=="
        request.headers["sec-websocket-version"] = "13"
        if subprotocols:
            request.headers["sec-websocket-protocol"] = ", ".join(subprotocols)
        scope = _build_scope(
            "websocket", request, self.root_path, self._lifespan_state, self.raise_server_exceptions
        )
        scope["subprotocols"] = list(subprotocols or [])
        scope["extensions"]["websocket.http.response"] = {}
        portal, own = self._get_portal()
        return WebSocketTestSession(self, scope, portal, own, request)


async def _make_queue() -> asyncio.Queue[Message]:
    return asyncio.Queue()


class WebSocketTestSession:
    """One websocket connection to the app; use as a context manager."""

    def __init__(
        self,
        client: TestClient,
        scope: dict[str, Any],
        portal: _Portal,
        own_portal: bool,
        request: httpx.Request,
    ) -> None:
        self.client = client
        self.scope = scope
        self.portal = portal
        self.own_portal = own_portal
        self.request = request
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] = []
        self._from_app: queue.Queue[Any] = queue.Queue()
        self._to_app: asyncio.Queue[Message] | None = None
        self._task: Future[None] | None = None
        self._closed = False

    def __enter__(self) -> WebSocketTestSession:
        self._to_app = self.portal.call(_make_queue())
        to_app = self._to_app
        from_app = self._from_app

        async def run() -> None:
            async def send(message: Message) -> None:
                from_app.put(message)

            try:
                await self.client.app(self.scope, to_app.get, send)
            except BaseException as exc:
                from_app.put(exc)
                raise
            finally:
                from_app.put({"type": "_session.done"})

        self._task = self.portal.submit(run())
        self._put({"type": "websocket.connect"})
        try:
            message = self._get()
            kind = message["type"]
            if kind == "websocket.close":
                raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
            if kind == "websocket.http.response.start":
                body = b""
                while True:
                    part = self._get()
                    body += part.get("body", b"")
                    if not part.get("more_body", False):
                        break
                raise WebSocketDenialResponse(
                    message["status"],
                    headers=message.get("headers", []),
                    content=body,
                    request=self.request,
                )
            if kind != "websocket.accept":
                raise RuntimeError(f"expected websocket.accept, got {kind!r}")
        except BaseException:
            self._finish(raise_errors=False)
            raise
        self.accepted_subprotocol = message.get("subprotocol")
        self.extra_headers = list(message.get("headers") or [])
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if not self._closed:
            self.close(1000)
        self._finish(raise_errors=exc_info[0] is None)

    def _finish(self, raise_errors: bool) -> None:
        try:
            if self._task is not None:
                try:
                    self._task.result(_TIMEOUT)
                except BaseException:
                    if raise_errors and self.client.raise_server_exceptions:
                        raise
        finally:
            if self.own_portal:
                self.portal.stop()

    def _put(self, message: Message) -> None:
        assert self._to_app is not None
        self.portal.call_soon(self._to_app.put_nowait, message)

    def _get(self) -> Message:
        item = self._from_app.get(timeout=_TIMEOUT)
        if isinstance(item, BaseException):
            raise item
        if item["type"] == "_session.done":
            self._from_app.put(item)  # keep reporting "done" to later calls
            raise WebSocketDisconnect(1006, "the application ended the connection")
        return item  # type: ignore[no-any-return]

    def send(self, message: Message) -> None:
        self._put(message)

    def send_text(self, data: str) -> None:
        self._put({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        self._put({"type": "websocket.receive", "bytes": data})

    def send_json(self, data: Any, mode: str = "text") -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            self.send_text(text)
        else:
            self.send_bytes(text.encode("utf-8"))

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        self._closed = True
        self._put({"type": "websocket.disconnect", "code": code, "reason": reason or ""})

    def receive(self) -> Message:
        message = self._get()
        if message["type"] == "websocket.close":
            self._closed = True
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        return message

    def receive_text(self) -> str:
        message = self.receive()
        text = message.get("text")
        if text is None:
            raise AssertionError(f"expected a text message, got {message!r}")
        return str(text)

    def receive_bytes(self) -> bytes:
        message = self.receive()
        data = message.get("bytes")
        if data is None:
            raise AssertionError(f"expected a binary message, got {message!r}")
        return bytes(data)

    def receive_json(self, mode: str = "text") -> Any:
        message = self.receive()
        if mode == "text":
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8")
        else:
            text = (message.get("bytes") or b"").decode("utf-8")
        return json.loads(text)


# --- async ---------------------------------------------------------------------------


class _AsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, client: AsyncTestClient) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        client = self.client
        scope = _build_scope(
            "http",
            request,
            client.root_path,
            client._lifespan_state,
            client.raise_server_exceptions,
        )
        scope["extensions"]["http.response.pathsend"] = {}
        body = await request.aread()
        start: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        chunks: asyncio.Queue[Any] = asyncio.Queue()
        disconnected = asyncio.Event()
        state = {"sent_body": False, "complete": False}

        async def receive() -> Message:
            if not state["sent_body"]:
                state["sent_body"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            kind = message["type"]
            if disconnected.is_set():
                raise OSError("the client disconnected")
            if kind == "http.response.start":
                start.set_result(message)
            elif kind == "http.response.body":
                data = bytes(message.get("body", b""))
                if data and request.method != "HEAD":
                    await chunks.put(data)
                if not message.get("more_body", False):
                    state["complete"] = True
                    await chunks.put(_END)
                    disconnected.set()
            elif kind == "http.response.pathsend":
                with open(message["path"], "rb") as f:
                    await chunks.put(f.read())
                state["complete"] = True
                await chunks.put(_END)
                disconnected.set()

        async def run() -> None:
            try:
                await client.app(scope, receive, send)
            except BaseException as exc:
                if not start.done():
                    start.set_exception(exc)
                elif not state["complete"]:
                    await chunks.put(exc if client.raise_server_exceptions else _END)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
            else:
                if not start.done():
                    start.set_exception(RuntimeError("the app returned without a response"))
                elif not state["complete"]:
                    await chunks.put(_END)

        task = asyncio.ensure_future(run())
        try:
            message = await asyncio.wait_for(asyncio.shield(start), _TIMEOUT)
        except BaseException:
            await asyncio.gather(task, return_exceptions=True)
            if client.raise_server_exceptions:
                raise
            return httpx.Response(500, request=request, content=b"Internal Server Error")

        class Stream(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                while True:
                    item = await asyncio.wait_for(chunks.get(), _TIMEOUT)
                    if item is _END:
                        return
                    if isinstance(item, BaseException):
                        raise item
                    yield item

            async def aclose(self) -> None:
                disconnected.set()
                await asyncio.gather(task, return_exceptions=True)

        headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        return httpx.Response(message["status"], headers=headers, stream=Stream(), request=request)


class AsyncTestClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` calling the app on the test's own event loop."""

    __test__ = False

    def __init__(
        self,
        app: ASGIAppLike,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        cookies: Any = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> None:
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self._lifespan_state: dict[str, Any] = {}
        self._lifespan_task: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        super().__init__(
            base_url=base_url,
            headers={"user-agent": "testclient", **(headers or {})},
            transport=_AsyncTransport(self),
            follow_redirects=follow_redirects,
            cookies=cookies,
        )

    async def __aenter__(self) -> AsyncTestClient:
        await super().__aenter__()
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self._lifespan_state,
        }

        async def lifespan() -> None:
            try:
                await self.app(scope, self._to_app.get, self._from_app.put)
            finally:
                await self._from_app.put({"type": "_lifespan.done"})

        self._lifespan_task = asyncio.ensure_future(lifespan())
        await self._to_app.put({"type": "lifespan.startup"})
        message = await asyncio.wait_for(self._from_app.get(), _TIMEOUT)
        if message["type"] == "lifespan.startup.failed":
            await asyncio.gather(self._lifespan_task, return_exceptions=True)
            raise RuntimeError(f"lifespan startup failed: {message.get('message', '')}")
        if message["type"] == "_lifespan.done":
            await asyncio.gather(self._lifespan_task, return_exceptions=True)
            self._lifespan_task = None
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            if self._lifespan_task is not None:
                await self._to_app.put({"type": "lifespan.shutdown"})
                message = await asyncio.wait_for(self._from_app.get(), _TIMEOUT)
                await asyncio.gather(self._lifespan_task, return_exceptions=True)
                if message["type"] == "lifespan.shutdown.failed" and exc_info[0] is None:
                    raise RuntimeError(f"lifespan shutdown failed: {message.get('message', '')}")
        finally:
            await super().__aexit__(*exc_info)
