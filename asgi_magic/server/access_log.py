"""The one access-log formatter for HTTP and WebSocket exchanges.

``AccessLog.log`` is called once per exchange, when it ends: a response sent whole or
cut short, a 500 for a crashing app, a WebSocket session (101 and its duration) or a
refused handshake. Callers skip all work when ``enabled`` is false.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from asgi_magic.config import Config

__all__ = ["AccessLog"]

access_logger = logging.getLogger("asgi_magic.access")


def _escape(raw: bytes) -> str:
    # Request-derived bytes may carry anything the parser admits (obs-text, quotes):
    # escape what could forge or break a line.
    text = raw.decode("ascii", "backslashreplace")
    if text.isprintable() and '"' not in text:
        return text
    return "".join(
        ch if ch.isprintable() and ch not in '"\\' else f"\\x{ord(ch):02x}" for ch in text
    )


class AccessLog:
    """One line per exchange on the ``asgi_magic.access`` logger."""

    __slots__ = ("enabled",)

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def from_config(cls, config: Config) -> AccessLog:
        return cls(config.access_log and access_logger.isEnabledFor(logging.INFO))

    def log(
        self,
        scope: Mapping[str, Any],
        status: int,
        response_headers: Sequence[tuple[bytes, bytes]],
        body_bytes: int,
        duration: float,
        *,
        closed_early: bool = False,
    ) -> None:
        client = scope.get("client")
        client_str = f"{client[0]}:{client[1]}" if client else "-"
        target = _escape(scope.get("raw_path", b""))
        query = scope.get("query_string")
        if query:
            target += "?" + _escape(query)
        method = "WebSocket" if scope["type"] == "websocket" else scope["method"]
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d %.1fms%s',
            client_str,
            method,
            target,
            scope["http_version"],
            status,
            duration * 1000.0,
            " (cut short)" if closed_early else "",
        )
