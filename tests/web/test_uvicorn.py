"""asgi_magic.web runs unchanged on uvicorn (it speaks only ASGI)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import uvicorn

from asgi_magic.web import App, Request, StreamingResponse


@contextmanager
def serve_on_uvicorn(app: Any) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if errors or not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start: {errors!r}")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()


def test_sample_app_on_uvicorn() -> None:
    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"greeting": "hello"}

    app = App(lifespan=lifespan)

    @app.get("/users/{user_id:int}")
    async def user(user_id: int, request: Request) -> dict[str, Any]:
        return {"id": user_id, "greeting": request.state.greeting}

    @app.post("/echo")
    async def echo(request: Request) -> Any:
        return await request.json()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> AsyncIterator[str]:
            for i in range(3):
                yield str(i)

        return StreamingResponse(gen())

    with serve_on_uvicorn(app) as base_url, httpx.Client(base_url=base_url, timeout=10) as client:
        assert client.get("/users/3").json() == {"id": 3, "greeting": "hello"}
        assert client.post("/echo", json=[1]).json() == [1]
        assert client.get("/stream").text == "012"
        r = client.put("/users/3")
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD, OPTIONS")
        assert client.get("/users/3/", follow_redirects=False).status_code == 308
        assert client.get("/missing").status_code == 404
