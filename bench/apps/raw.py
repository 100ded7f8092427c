"""The smallest useful ASGI app: ``Hello, world!`` as text/plain, keep-alive.

It answers lifespan too, so servers that run lifespan "auto" see a well-behaved app and
do not log a warning per start.
"""

from __future__ import annotations

from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]

BODY = b"Hello, world!"
# Built once: the benchmark measures the server, not header construction in the app.
START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(BODY)).encode("ascii")),
    ],
}
RESPONSE_BODY: Message = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send(START)
        await send(RESPONSE_BODY)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
