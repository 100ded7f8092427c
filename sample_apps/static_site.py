"""A static web site: StaticFiles with ``html=True`` serves ``index.html`` for a directory
and ``404.html`` for a missing page, with ETag / Last-Modified and range support.

    asgi-magic sample_apps.static_site:app      # then open http://127.0.0.1:8000/
"""

from __future__ import annotations

from pathlib import Path

from asgi_magic.web import StaticFiles

SITE_DIRECTORY = Path(__file__).parent / "static" / "site"

app = StaticFiles(directory=SITE_DIRECTORY, html=True)
