"""Compare WSGI-to-ASGI adapters in-process: asgi_magic's ``WSGIAdapter`` vs a2wsgi.

    .venv/bin/pip install a2wsgi        # not a dependency: only this comparison needs it
    .venv/bin/python bench/wsgi_adapters.py

Two correctness probes (a client that disconnects from a streamed response; PEP 3333
``exc_info`` replacing the status before any body was sent) and the cost per request
of a hello-world app driven directly through each adapter (no sockets: 32 requests in
flight, 40 threads; best of 5 interleaved rounds, wall and process CPU time).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asgi_magic.server.wsgi import WSGIAdapter

SCOPE: dict[str, Any] = {
    "type": "http", "http_version": "1.1", "method": "GET", "path": "/", "raw_path": b"/",
    "query_string": b"", "root_path": "", "scheme": "http", "headers": [(b"host", b"x")],
    "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
}  # fmt: skip


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]


async def one(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(dict(SCOPE), receive, send)
    return sent


async def run_many(app: Any, n: int, concurrency: int) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def request() -> None:
        async with semaphore:
            await one(app)

    await asyncio.gather(*(request() for _ in range(n)))


async def probe_disconnect(make: Callable[[Any], Any]) -> str:
    closed: list[int] = []

    class Endless:
        def __iter__(self) -> Iterator[bytes]:
            while True:
                yield b"x" * 1024

        def close(self) -> None:
            closed.append(1)

    def streaming(environ: dict[str, Any], start_response: Callable[..., Any]) -> Endless:
        start_response("200 OK", [])
        return Endless()

    sends = 0

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {}

    async def send(message: dict[str, Any]) -> None:
        nonlocal sends
        sends += 1
        if sends > 3:
            raise OSError("client disconnected")

    try:
        await asyncio.wait_for(make(streaming)(dict(SCOPE), receive, send), 3)
    except asyncio.TimeoutError:
        return f"hung for 3 s, close() called: {bool(closed)}"
    except OSError:
        await asyncio.sleep(0.2)
        return f"raised the disconnect, close() called: {bool(closed)}"
    return "returned"


async def probe_exc_info(make: Callable[[Any], Any]) -> str:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"error page"]

    try:
        sent = await asyncio.wait_for(one(make(app)), 3)
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"
    return f"status sent: {sent[0]['status']}"


async def main() -> None:
    adapters: dict[str, Callable[[Any], Any]] = {"asgi_magic": lambda a: WSGIAdapter(a, 40)}
    try:
        from a2wsgi import WSGIMiddleware

        adapters["a2wsgi"] = lambda a: WSGIMiddleware(a, workers=40)
    except ImportError:
        print("a2wsgi is not installed: only asgi_magic is measured")
    for name, make in adapters.items():
        print(f"{name:11s} disconnect mid-stream: {await probe_disconnect(make)}")
        print(f"{name:11s} exc_info before body:  {await probe_exc_info(make)}")
    apps = {name: make(hello) for name, make in adapters.items()}
    for app in apps.values():
        await run_many(app, 500, 32)
    n = 4000
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
    for _ in range(5):
        for name, app in apps.items():
            wall, cpu = time.perf_counter(), time.process_time()
            await run_many(app, n, 32)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            results[name].append((wall / n * 1e6, cpu / n * 1e6))
    for name, runs in results.items():
        print(
            f"{name:11s} best wall {min(r[0] for r in runs):6.1f} us/request, "
            f"best CPU {min(r[1] for r in runs):6.1f} us/request"
        )


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
