"""Exceptions a handler raises to produce an HTTP response or a WebSocket close."""

from __future__ import annotations

import http
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["HTTPException", "RequestValidationError", "WebSocketException"]


class HTTPException(Exception):
    """Raise anywhere in a handler to answer with ``status_code`` and ``detail``.

    The app's error middleware turns it into a plain-text response (or JSON when the
    client prefers JSON); ``headers`` are added to that response (e.g. ``Allow`` for 405
    or ``WWW-Authenticate`` for 401).
    """

    def __init__(
        self,
        status_code: int,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if detail is None:
            try:
                detail = http.HTTPStatus(status_code).phrase
            except ValueError:
                detail = ""
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers) if headers is not None else None
        super().__init__(status_code, detail)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class RequestValidationError(HTTPException):
    """A handler parameter was missing or could not be converted: a 422 (RFC 9110
    §15.5.21) whose JSON body lists every problem in FastAPI's shape::

        {"detail": [{"loc": ["query", "page"], "msg": "...", "type": "int_parsing"}]}

    ``errors`` is that list; register an exception handler for this class to change
    the response.
    """

    def __init__(self, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__(422)
        self.errors = list(errors)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(errors={self.errors!r})"


class WebSocketException(Exception):
    """Raise in a websocket handler to close the connection with ``code``/``reason``.

    RFC 6455 §7.4.1: 1008 (policy violation) is the generic "you may not" close code.
    """

    def __init__(self, code: int = 1008, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"
