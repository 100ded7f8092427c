"""The one path for responses the server writes itself (400, 408, 413, 500, 503 …).

Every such response goes through the http11 writer, like an app's, so it carries the
server's default headers (``Server``, ``--header``) and ``Date`` exactly as an app's
response would, and closes the connection.
"""

from __future__ import annotations

from collections.abc import Iterable

from asgi_magic import http11

__all__ = ["error_response"]

_BODY_HEADERS = (
    (b"content-type", b"text/plain; charset=utf-8"),
    # Keeps browsers from guessing a type for the plain-text body.
    (b"x-content-type-options", b"nosniff"),
)


def error_response(
    defaults: http11.WriterDefaults,
    date_header: bool,
    status: int,
    reason: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """A whole response whose body is ``reason`` and a newline, ``Connection: close``.

    ``headers`` are extra fields (e.g. ``Sec-WebSocket-Version`` on a 426, RFC 6455
    §4.4); they are validated like any response field."""
    body = reason.encode("utf-8", "replace") + b"\n"
    writer = http11.ResponseWriter(b"GET", "1.1", False, defaults, date_header)
    fields = [*headers, *_BODY_HEADERS, (b"content-length", b"%d" % len(body))]
    return writer.start(status, fields) + writer.body(body, False)
