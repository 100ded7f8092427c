"""Small ASGI apps for tests that run the server as a subprocess (``serve_subprocess``).

``app`` answers every HTTP request with ``hello`` and, for WebSocket paths:

* ``/sink``: accepts and reads every message, dropping it (a well-behaved reader);
* ``/idle``: accepts and never calls ``receive()`` again (an app that does not read).
"""

from __future__ import annotations

import asyncio
from typing import Any

_HELLO_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"5")]


async def app(scope: Any, receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "http":
        await send({"type": "http.response.start", "status": 200, "headers": _HELLO_HEADERS})
        await send({"type": "http.response.body", "body": b"hello"})
    elif kind == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        if scope["path"] == "/idle":
            await asyncio.Event().wait()  # never reads; the server's budget must hold
        while (await receive())["type"] != "websocket.disconnect":
            pass
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
