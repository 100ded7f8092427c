"""A plain Starlette app: body echo, a streaming response, query strings."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route


async def echo(request: Request) -> PlainTextResponse:
    body = await request.body()
    return PlainTextResponse(body.decode() + "|" + request.query_params.get("q", ""))


async def stream(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(int(request.query_params.get("n", "3"))):
            yield f"chunk{i};".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def info(request: Request) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "query": dict(request.query_params)})


app = Starlette(
    routes=[
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream),
        Route("/info/{rest:path}", info),
    ]
)
