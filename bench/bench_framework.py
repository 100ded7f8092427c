"""In-process framework overhead: call each ASGI app directly, no server, no sockets.

    .venv/bin/python bench/bench_framework.py [--requests 20000]

Measures only what the framework adds (routing, request/response objects, middleware
stack); the wrk-based ``make bench`` measures the same apps through real servers.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.apps import fw_fastapi, fw_magic, fw_starlette

# the same apps `make bench --scenario framework` serves through real servers
APPS = {"asgi_magic.web": fw_magic.app, "starlette": fw_starlette.app, "fastapi": fw_fastapi.app}
PATHS = {"hello": "/", "json": "/users/42"}


def make_scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def run_one(app: Any, path: str, n: int) -> float:
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    # warm up (builds middleware stacks, compiles routes)
    for _ in range(200):
        await app(make_scope(path), receive, send)
    assert set(status) == {200}, status
    start = time.perf_counter()
    for _ in range(n):
        await app(make_scope(path), receive, send)
    return n / (time.perf_counter() - start)


async def main(n: int, rounds: int) -> None:
    # rounds are interleaved (A, B, C, A, B, C, ...) and the best of each kept, so a
    # burst of load from another process does not favour one framework
    results: dict[tuple[str, str], float] = {}
    for _ in range(rounds):
        for scenario, path in PATHS.items():
            for name, app in APPS.items():
                rate = await run_one(app, path, n)
                key = (scenario, name)
                results[key] = max(results.get(key, 0.0), rate)
    for (scenario, name), rate in results.items():
        print(f"{scenario:6} {name:15} {rate:10.0f} req/s {1e6 / rate:7.2f} us/request")
    for scenario in PATHS:
        ratio = results[(scenario, "asgi_magic.web")] / results[(scenario, "starlette")]
        print(f"{scenario:6} asgi_magic.web / starlette = {ratio:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5, help="best of N (the machine is shared)")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
