"""The framework scenario in Starlette: same routes, same answers as ``fw_magic``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def index(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, world!")


async def user(request: Request) -> JSONResponse:
    user_id = request.path_params["user_id"]
    return JSONResponse({"id": user_id, "name": f"user{user_id}"})


app = Starlette(routes=[Route("/", index), Route("/users/{user_id:int}", user)])
