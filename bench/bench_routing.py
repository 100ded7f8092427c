"""Routing micro-benchmark: dispatch time with 10 vs 200 routes must stay flat.

    .venv/bin/python bench/bench_routing.py

Builds apps with N dynamic routes (``/resource{i}/items/{item_id:int}``) plus N static
ones, and times ``Router.match`` for the first, middle and last registered route. A
linear scan would make the last route ~N times slower than the first; the combined
per-segment matcher keeps them equal. Compares Starlette's router on the same table.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asgi_magic.web import App


async def handler(item_id: int) -> dict[str, Any]:
    return {"id": item_id}


async def static_handler() -> str:
    return "static"


def build(n: int) -> App:
    app = App()
    for i in range(n):
        app.add_route(f"/resource{i}/items/{{item_id:int}}", handler, name=f"r{i}")
        app.add_route(f"/static{i}", static_handler, name=f"s{i}")
    return app


def time_match(app: App, path: str, loops: int = 100_000) -> float:
    match = app.router.match
    match("http", path, "GET")
    start = time.perf_counter()
    for _ in range(loops):
        match("http", path, "GET")
    return (time.perf_counter() - start) / loops * 1e9


def time_starlette(n: int, path: str, loops: int = 20_000) -> float:
    from starlette.routing import Match, Route

    async def endpoint(request: Any) -> None:
        return None

    routes = [Route(f"/resource{i}/items/{{item_id:int}}", endpoint) for i in range(n)]
    scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}

    def match() -> None:
        for route in routes:
            result, _ = route.matches(scope)
            if result is Match.FULL:
                return

    match()
    start = time.perf_counter()
    for _ in range(loops):
        match()
    return (time.perf_counter() - start) / loops * 1e9


def main() -> None:
    for n in (10, 200):
        app = build(n)
        first = time_match(app, "/resource0/items/7")
        last = time_match(app, f"/resource{n - 1}/items/7")
        static_last = time_match(app, f"/static{n - 1}")
        miss = time_match(app, "/nothing/here")
        star_last = time_starlette(n, f"/resource{n - 1}/items/7")
        print(
            f"{n:4d} routes: first {first:6.0f} ns  last {last:6.0f} ns  "
            f"static {static_last:5.0f} ns  miss {miss:5.0f} ns  | starlette last {star_last:8.0f} ns"
        )


if __name__ == "__main__":
    main()
