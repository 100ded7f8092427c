"""Apps with a lifespan, for the forced-exit tests (run in a subprocess server).

Each app touches a file in the directory ``$LIFESPAN_TEST_MARKS`` when a step has
begun (``slow`` when ``/slow`` runs, ``shutdown`` when its shutdown handler runs), so
a test waits for that condition instead of guessing with a sleep.

``web_app``: asgi_magic.web with an ``on_shutdown`` handler; ``/slow`` answers after 30 s.
``slow_shutdown_app``: the same, but its shutdown handler takes 30 s.
``slow_startup_app``: its startup handler takes 30 s.
``starlette_app``: Starlette with a lifespan context and the same ``/slow`` route.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from asgi_magic.web import App, PlainTextResponse, Request


def _mark(name: str) -> None:
    (Path(os.environ["LIFESPAN_TEST_MARKS"]) / name).touch()


async def _slow() -> None:
    _mark("slow")
    await asyncio.sleep(30)


def _build(shutdown_seconds: float) -> App:
    app = App()

    @app.on_shutdown
    async def shutdown() -> None:
        _mark("shutdown")
        await asyncio.sleep(shutdown_seconds)
        _mark("shutdown-done")

    @app.route("/slow")
    async def slow(request: Request) -> PlainTextResponse:
        await _slow()
        return PlainTextResponse("done")

    return app


web_app = _build(0)
slow_shutdown_app = _build(30)
slow_startup_app = App()


@slow_startup_app.on_startup
async def _hang() -> None:
    _mark("startup")
    await asyncio.sleep(30)
    _mark("startup-done")


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse as StarletteText
    from starlette.routing import Route

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        _mark("shutdown")

    async def slow(request: Any) -> Any:
        await _slow()
        return StarletteText("done")

    return Starlette(routes=[Route("/slow", slow)], lifespan=lifespan)


starlette_app = _starlette()
