"""The framework scenario in asgi_magic.web: a text route and a typed JSON route."""

from __future__ import annotations

from typing import Any

from asgi_magic.web import App, PlainTextResponse

app = App()


@app.get("/")
async def index() -> PlainTextResponse:
    return PlainTextResponse("Hello, world!")


@app.get("/users/{user_id:int}")
async def user(user_id: int) -> dict[str, Any]:
    # Returning a dict is the framework's idiom for JSON (JSONResponse under the hood).
    return {"id": user_id, "name": f"user{user_id}"}
