"""Plain WSGI apps (no framework) for the WSGI tests and the bench's WSGI row."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]


def count_body(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Reads the request body in 64 KiB pieces and answers how many bytes arrived."""
    stream = environ["wsgi.input"]
    total = reads = 0
    while True:
        data = stream.read(65536)
        if not data:
            break
        total += len(data)
        reads += 1
    body = json.dumps({"bytes": total, "reads": reads}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def hello(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The bench's WSGI hello world: the same bytes as the ASGI hello app."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]
