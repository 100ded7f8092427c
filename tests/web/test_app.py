"""App: exception handlers, error pages, middleware, lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from asgi_magic.web import (
    App,
    HTTPException,
    JSONResponse,
    Middleware,
    PlainTextResponse,
    Request,
    Response,
    StreamingResponse,
)
from asgi_magic.web.testclient import TestClient

from .conftest import ClientFactory


class Boom(Exception):
    pass


class SubBoom(Boom):
    pass


def test_exception_handlers_by_status_and_class(client_factory: ClientFactory) -> None:
    app = App()

    @app.exception_handler(404)
    async def not_found(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"missing": request.url.path}, status_code=404)

    @app.exception_handler(Boom)
    def boom_handler(request: Request, exc: Boom) -> Response:  # sync handlers work too
        return PlainTextResponse(f"handled {type(exc).__name__}", status_code=409)

    @app.get("/boom")
    async def boom() -> None:
        raise SubBoom()

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout", headers={"x-tea": "earl grey"})

    with client_factory(app) as client:
        r = client.get("/nope")
        assert (r.status_code, r.json()) == (404, {"missing": "/nope"})
        r = client.get("/boom")
        assert (r.status_code, r.text) == (409, "handled SubBoom")
        r = client.get("/teapot")
        assert (r.status_code, r.text, r.headers["x-tea"]) == (418, "short and stout", "earl grey")


def _crashing_app(debug: bool) -> App:
    app = App(debug=debug)

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("<script>alert(1)</script>")

    return app


def test_production_500_is_plain_and_logged_once(
    client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = _crashing_app(debug=False)
    with caplog.at_level(logging.ERROR, logger="asgi_magic.web"):
        factory_kwargs: dict[str, Any] = {}
        if client_factory.__name__ == "_testclient":
            factory_kwargs["raise_server_exceptions"] = False
        with client_factory(app, **factory_kwargs) as client:
            r = client.get("/crash")
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    records = [rec for rec in caplog.records if rec.name == "asgi_magic.web"]
    assert len(records) == 1
    assert "GET /crash" in records[0].getMessage()


def test_debug_traceback_page_is_escaped() -> None:
    with TestClient(_crashing_app(debug=True), raise_server_exceptions=False) as client:
        r = client.get("/crash", headers={"accept": "text/html"})
        assert r.status_code == 500
        assert r.headers["content-type"].startswith("text/html")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        assert "<script>alert(1)" not in r.text
        assert "Traceback" in r.text
        plain = client.get("/crash")
        assert plain.headers["content-type"].startswith("text/plain")
        assert "RuntimeError" in plain.text


def test_testclient_raises_server_exceptions() -> None:
    with (
        TestClient(_crashing_app(debug=False)) as client,
        pytest.raises(RuntimeError, match="script"),
    ):
        client.get("/crash")


def test_custom_500_handler() -> None:
    app = _crashing_app(debug=False)

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("sorry", status_code=500)

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/crash").text == "sorry"


class HeaderMiddleware:
    """A pure ASGI middleware that appends its name to a response header."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("order", []).append(self.name)

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-mw", self.name.encode())]
            await send(message)

        await self.app(scope, receive, wrapped)


def test_middleware_order_and_404_passes_through(client_factory: ClientFactory) -> None:
    app = App(middleware=[Middleware(HeaderMiddleware, name="first")])
    app.add_middleware(HeaderMiddleware, name="outer")

    @app.get("/")
    async def home(request: Request) -> dict[str, Any]:
        return {"order": request.scope["order"]}

    with client_factory(app) as client:
        r = client.get("/")
        assert r.json() == {"order": ["outer", "first"]}
        assert r.headers.get_list("x-mw") == ["first", "outer"]
        # user middleware sees HTTPException responses (they are rendered inside it)
        assert client.get("/missing").headers.get_list("x-mw") == ["first", "outer"]


def test_middleware_cannot_be_added_after_start() -> None:
    app = App()
    with TestClient(app) as client:
        client.get("/")
    with pytest.raises(RuntimeError):
        app.add_middleware(HeaderMiddleware, name="late")


def test_function_middleware(client_factory: ClientFactory) -> None:
    app = App()

    @app.middleware("http")
    async def add_header(request: Request, call_next: Any) -> Response:
        if request.url.path == "/blocked":
            return PlainTextResponse("blocked by middleware", status_code=403)
        body = await request.body()  # reading the body must not starve the handler
        response: Response = await call_next(request)
        response.headers["x-body-len"] = str(len(body))
        return response

    @app.post("/echo")
    async def echo(request: Request) -> bytes:
        return await request.body()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            for i in range(3):
                yield str(i).encode()

        return StreamingResponse(gen())

    @app.get("/blocked")
    async def blocked() -> str:
        raise AssertionError("not reached")

    with client_factory(app) as client:
        r = client.post("/echo", content=b"hello")
        assert (r.content, r.headers["x-body-len"]) == (b"hello", "5")
        r = client.get("/stream")
        assert (r.content, r.headers["x-body-len"]) == (b"012", "0")
        r = client.get("/blocked")
        assert (r.status_code, r.text) == (403, "blocked by middleware")
        assert client.get("/nothing").status_code == 404


def test_function_middleware_streams_without_buffering() -> None:
    app = App()
    produced: list[int] = []
    gate = asyncio.Event()

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        return response

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            try:
                for i in range(1000):
                    produced.append(i)
                    yield b"x" * 10 + b"\n"
                    if i == 1:
                        await gate.wait()  # blocks until the client has read two lines
            finally:
                produced.append(-1)

        return StreamingResponse(gen())

    async def run() -> None:
        from asgi_magic.web.testclient import AsyncTestClient

        async with AsyncTestClient(app) as client, client.stream("GET", "/stream") as r:
            lines = r.aiter_lines()
            assert await lines.__anext__() == "x" * 10
            # the first chunk reached the client while the handler was still producing
            assert -1 not in produced
            assert len(produced) <= 3
            await lines.__anext__()
        # closing the stream early disconnects; the generator is closed
        await asyncio.sleep(0.05)
        assert produced[-1] == -1
        assert len(produced) < 1000

    asyncio.run(asyncio.wait_for(run(), 10))


def test_function_middleware_exception_reaches_error_handler() -> None:
    app = App()

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        return response

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418)

    @app.get("/crash")
    async def crash() -> None:
        raise ValueError("bad")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/teapot").status_code == 418
        assert client.get("/crash").status_code == 500


def test_lifespan_state_reaches_request_state(client_factory: ClientFactory) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"db": "connected", "counter": [0]}
        events.append("shutdown")

    app = App(lifespan=lifespan)

    @app.get("/")
    async def home(request: Request) -> dict[str, Any]:
        request.state.counter[0] += 1
        request.state.per_request = "not shared"
        return {"db": request.state.db, "count": request.state.counter[0]}

    @app.get("/check")
    async def check(request: Request) -> dict[str, Any]:
        return {"leaked": "per_request" in request.state}

    with client_factory(app) as client:
        assert events == ["startup"]
        assert client.get("/").json() == {"db": "connected", "count": 1}
        assert client.get("/").json() == {"db": "connected", "count": 2}
        assert client.get("/check").json() == {"leaked": False}
    assert events == ["startup", "shutdown"]


def test_on_startup_and_shutdown(client_factory: ClientFactory) -> None:
    events: list[str] = []
    app = App()

    @app.on_startup
    async def start() -> None:
        events.append("async start")

    @app.on_startup
    def start_sync() -> None:
        events.append("sync start")

    @app.on_shutdown
    async def stop() -> None:
        events.append("stop")

    with client_factory(app):
        assert events == ["async start", "sync start"]
    assert events == ["async start", "sync start", "stop"]


def test_lifespan_startup_failure_is_reported() -> None:
    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        raise ValueError("no database")
        yield

    with pytest.raises(RuntimeError, match="no database"), TestClient(App(lifespan=lifespan)):
        pass


def test_lifespan_and_on_startup_are_exclusive() -> None:
    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        yield

    with pytest.raises(ValueError):
        App(lifespan=lifespan, on_startup=[lambda: None])


def test_function_middleware_propagates_client_disconnect(client_factory: ClientFactory) -> None:
    import threading

    app = App()
    finished = threading.Event()

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        return response

    @app.get("/forever")
    async def forever() -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"tick\n"
                    await asyncio.sleep(0.005)
            finally:
                finished.set()

        return StreamingResponse(gen())

    with client_factory(app) as client:
        with client.stream("GET", "/forever") as r:
            assert next(r.iter_lines()) == "tick"
        # the generator behind the middleware learns that the client went away
        assert finished.wait(5)


def test_a_client_gone_while_answering_is_not_logged_as_a_handler_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # asgiref spec 2.4: send() raises an OSError subclass once the client has gone.
    # Nobody is there to answer: not "Exception in handler" at ERROR level.
    from asgi_magic.web import App, PlainTextResponse

    app = App()

    @app.get("/")
    async def home() -> PlainTextResponse:
        return PlainTextResponse("hi")

    async def gone_send(message: Any) -> None:
        raise ConnectionResetError("the client has disconnected")

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"",
        "root_path": "", "headers": [], "client": None, "server": None,
    }  # fmt: skip
    import asyncio

    with caplog.at_level("DEBUG"):
        asyncio.run(app(scope, receive, gone_send))
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
