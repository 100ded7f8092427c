"""WSGI hello world for the bench's ``wsgi`` scenario: a plain callable and a Flask app.

Both answer ``Hello, world!`` (text/plain, Content-Length), the bytes the ASGI hello
app sends, so every WSGI server runs the same app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"Hello, world!"
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]


def _flask() -> Any:
    try:
        from flask import Flask, Response
    except ImportError:  # the Flask row is then skipped by the harness
        return None
    flask_app = Flask(__name__)

    @flask_app.get("/")
    def hello() -> Response:
        return Response(BODY, mimetype="text/plain")

    return flask_app


flask_app = _flask()
