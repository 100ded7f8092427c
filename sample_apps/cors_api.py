"""A JSON API that pages on other origins may call: CORSMiddleware.

    CORS_ORIGINS=https://app.example.com asgi-magic sample_apps.cors_api:app

    curl -si localhost:8000/quote -H 'Origin: https://app.example.com'
    curl -si -X OPTIONS localhost:8000/quote -H 'Origin: https://app.example.com' \\
         -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type'

Only the listed origins get ``Access-Control-Allow-Origin``; a preflight from any other
origin, or for a method or header not listed, is refused with 400.
"""

from __future__ import annotations

import os
from typing import Any

from asgi_magic.web import App, CORSMiddleware, HTTPException, Request

DEFAULT_ORIGINS = ("https://app.example.com", "http://localhost:3000")

QUOTES = [
    "Simple is better than complex.",
    "Errors should never pass silently.",
    "Now is better than never.",
]


def create_app(allow_origins: list[str] | None = None) -> App:
    app = App()
    quotes = list(QUOTES)

    @app.get("/quote")
    async def quote() -> dict[str, Any]:
        return {"quote": quotes[-1], "count": len(quotes)}

    @app.post("/quote")
    async def add_quote(request: Request) -> dict[str, Any]:
        data = await request.json()
        text = data.get("quote") if isinstance(data, dict) else None
        if not isinstance(text, str) or not 0 < len(text) <= 500:
            raise HTTPException(422, "'quote' must be a string of 1 to 500 characters")
        quotes.append(text)
        del quotes[:-100]  # bounded memory
        return {"quote": text, "count": len(quotes)}

    origins = allow_origins
    if origins is None:
        configured = os.environ.get("CORS_ORIGINS", "")
        origins = [o.strip() for o in configured.split(",") if o.strip()] or list(DEFAULT_ORIGINS)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST"],
        allow_headers=["content-type"],
        max_age=600,  # browsers may cache a preflight answer for 10 minutes
    )
    return app


app = create_app()
