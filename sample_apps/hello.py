"""Hello, world as a raw ASGI 3 application: no framework, just the callable.

    asgi-magic sample_apps.hello:app

Any ASGI server runs it, and asgi_magic runs any app written like this.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from asgi_magic.asgi_types import ASGI3Application, Receive, Send

GREETING = b"Hello, world!\n"


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        # asgiref lifespan.rst: acknowledge startup and shutdown, nothing to set up.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        # A WebSocket handshake: close before accepting, which the server answers 403.
        await send({"type": "websocket.close", "code": 1000})
        return
    body = GREETING if scope["method"] != "HEAD" else b""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(GREETING)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_check: ASGI3Application = app  # the signature is the whole contract
