"""The static scenario in Starlette: ``StaticFiles`` mounted at ``/static``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from bench.apps._data import static_dir

app = Starlette(routes=[Mount("/static", app=StaticFiles(directory=str(static_dir())))])
