"""Raw ASGI apps for shutdown and flow-control tests (run in a subprocess server)."""

from __future__ import annotations

import asyncio
from typing import Any


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/slow":
        await asyncio.sleep(1.0)
        body = b"done"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]}
        )
        await send({"type": "http.response.body", "body": body})
    elif path == "/upload":
        # Consumes the body slowly: the server must pause reading, not buffer it all.
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            await asyncio.sleep(0.0005)
            if not message.get("more_body"):
                break
        out = str(total).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(out)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": out})
    elif path == "/download":
        # Produces a large body as fast as send() allows: send must await drain.
        size = int(scope["query_string"] or b"0")
        chunk = b"x" * 65536
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(size).encode())],
            }
        )
        sent = 0
        while sent < size:
            piece = chunk[: min(len(chunk), size - sent)]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            sent += len(piece)
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"ok"})
