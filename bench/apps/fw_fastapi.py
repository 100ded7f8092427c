"""The framework scenario in FastAPI: same routes, same answers as ``fw_magic``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/", response_class=PlainTextResponse)
async def index() -> str:
    return "Hello, world!"


@app.get("/users/{user_id}")
async def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "name": f"user{user_id}"}
