"""The static scenario in asgi_magic.web: ``StaticFiles`` mounted at ``/static``."""

from __future__ import annotations

from asgi_magic.web import App
from asgi_magic.web.staticfiles import StaticFiles
from bench.apps._data import static_dir

app = App()
app.mount("/static", StaticFiles(directory=str(static_dir())), name="static")
