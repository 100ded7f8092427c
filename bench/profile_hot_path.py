"""CPU cost of the server's hot path, without sockets (a plain script, not a test).

    .venv/bin/python bench/profile_hot_path.py [-n 50000] [--loop uvloop|asyncio]
                                               [--no-uvicorn] [--no-profile]

Drives ``HTTPProtocol`` through a fake transport: for each request, ``data_received``
with a small keep-alive GET, then one turn of the event loop, in which the app task
(``bench.apps.raw:app``, hello world with a Content-Length) runs to completion. Prints
µs per request for asgi_magic and for uvicorn's ``HttpToolsProtocol`` driven the same
way, then a cProfile top-20 of asgi_magic's run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.apps.raw import app

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8101\r\nUser-Agent: wrk\r\n\r\n"
EXPECT = b"HTTP/1.1 200 OK\r\n"


class FakeTransport(asyncio.Transport):
    """Records nothing but the number of writes: the cheapest honest transport."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.last = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 8101)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data[:17] == EXPECT:
            self.writes += 1  # one response head (uvicorn writes the body separately)
        self.last = bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def make_magic() -> tuple[Any, FakeTransport]:
    from asgi_magic.config import Config
    from asgi_magic.server.http_protocol import HTTPProtocol
    from asgi_magic.server.server import default_headers
    from asgi_magic.server.state import ServerState

    config = Config(app=app, access_log=False)
    state = ServerState(default_headers=default_headers(config))
    protocol = HTTPProtocol(config, state, app, {}, loop=asyncio.get_running_loop())
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


def make_uvicorn() -> tuple[Any, FakeTransport]:
    from uvicorn.config import Config as UConfig
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState as UState

    config = UConfig(app=app, http="httptools", access_log=False, lifespan="off")
    config.load()
    state = UState()
    # What uvicorn's Server puts there (and refreshes once a second): same work as ours.
    state.default_headers = [
        (b"date", formatdate(usegmt=True).encode("latin-1")),
        *config.encoded_headers,
    ]
    protocol = HttpToolsProtocol(config, state, {}, asyncio.get_running_loop())
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def drive(protocol: Any, transport: FakeTransport, n: int) -> float:
    data_received = protocol.data_received
    sleep = asyncio.sleep
    start = time.perf_counter()
    for _ in range(n):
        data_received(REQUEST)
        await sleep(0)  # the app task runs to completion in this one loop turn
    elapsed = time.perf_counter() - start
    if transport.writes != n or not transport.last.endswith(b"Hello, world!") or transport.closed:
        raise SystemExit(f"unexpected result: {transport.writes} responses for {n} requests")
    return elapsed / n * 1e6


async def bench(kind: str, n: int, profile: bool) -> tuple[float, str]:
    protocol, transport = make_magic() if kind == "magic" else make_uvicorn()
    await drive(protocol, transport, min(n, 2000))  # warm caches
    transport.writes = 0
    if not profile:
        return await drive(protocol, transport, n), ""
    profiler = cProfile.Profile()
    profiler.enable()
    us = await drive(protocol, transport, n)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    return us, out.getvalue()


def run(kind: str, args: argparse.Namespace, profile: bool = False) -> tuple[float, str]:
    if args.loop == "uvloop":
        import uvloop

        return uvloop.run(bench(kind, args.n, profile))
    return asyncio.run(bench(kind, args.n, profile))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000, help="requests per run")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is shown")
    parser.add_argument("--no-uvicorn", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    kinds = ["magic"] if args.no_uvicorn else ["magic", "uvicorn"]
    best = {kind: min(run(kind, args)[0] for _ in range(args.repeat)) for kind in kinds}
    for kind in kinds:
        label = "asgi_magic HTTPProtocol" if kind == "magic" else "uvicorn HttpToolsProtocol"
        print(f"{label:28s} {best[kind]:6.2f} µs/request  ({1e6 / best[kind]:8.0f} req/s CPU)")
    if "uvicorn" in best:
        print(f"ratio (uvicorn / asgi_magic time): {best['uvicorn'] / best['magic']:.2f}x")
    if not args.no_profile:
        _, stats = run("magic", args, profile=True)
        print(stats)


if __name__ == "__main__":
    main()
