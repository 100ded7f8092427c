"""Raw ASGI endpoints for the protocol rows of ``make bench`` (no framework).

* ``GET /``: ``Hello, world!`` (as bench.apps.raw);
* ``GET /json``: a 1 KB JSON document, built once;
* ``POST /echo``: the request body, read whole, answered with its Content-Length;
* ``GET /stream``: 10 MiB in 64 KiB pieces with ``more_body`` (chunked framing).
"""

from __future__ import annotations

import json
from typing import Any

from bench.apps.raw import RESPONSE_BODY, START, _lifespan

Scope = dict[str, Any]

JSON_BODY = json.dumps(
    {"items": [{"id": i, "name": f"item-{i:03d}", "tags": ["a", "b"]} for i in range(24)]},
    separators=(",", ":"),
).encode()
JSON_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(JSON_BODY)).encode()),
    ],
}
STREAM_PIECE = b"x" * (64 * 1024)
STREAM_PIECES = 160  # 10 MiB
STREAM_SIZE = len(STREAM_PIECE) * STREAM_PIECES


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/json":
        await send(JSON_START)
        await send({"type": "http.response.body", "body": JSON_BODY})
    elif path == "/echo":
        parts = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/octet-stream"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
    elif path == "/stream":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        for _ in range(STREAM_PIECES - 1):
            await send({"type": "http.response.body", "body": STREAM_PIECE, "more_body": True})
        await send({"type": "http.response.body", "body": STREAM_PIECE})
    else:
        await send(START)
        await send(RESPONSE_BODY)
