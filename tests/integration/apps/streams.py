"""An SSE stream and a WebSocket that never end by themselves (graceful-shutdown tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from asgi_magic.web import App
from asgi_magic.web.requests import Request
from asgi_magic.web.sse import EventSourceResponse
from asgi_magic.web.websockets import WebSocket, WebSocketDisconnect

app = App()


@app.get("/events")
async def events(request: Request) -> EventSourceResponse:
    async def ticks() -> AsyncIterator[str]:
        n = 0
        while True:
            yield f"tick {n}"
            n += 1
            await asyncio.sleep(0.2)

    return EventSourceResponse(ticks(), ping_interval=None)


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
