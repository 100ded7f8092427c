"""Raw ASGI WebSocket echo: every text or binary message is sent straight back.

Plain HTTP requests get a short text answer so the harness can check the server is up.
"""

from __future__ import annotations

from typing import Any

from bench.apps.raw import _lifespan

Scope = dict[str, Any]

_HTTP_BODY = b"websocket echo\n"


async def app(scope: Scope, receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "websocket":
        await _echo(receive, send)
    elif kind == "http":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(_HTTP_BODY)).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _HTTP_BODY})
    elif kind == "lifespan":
        await _lifespan(receive, send)


async def _echo(receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            # websocket.disconnect: the client went away; nothing left to do.
            return
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
