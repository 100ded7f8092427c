"""State shared by every connection of one server: what graceful shutdown walks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol


class Connection(Protocol):
    """What the server needs from any connection protocol (HTTP or WebSocket)."""

    def shutdown(self) -> None:
        """Begin a graceful close: finish the exchange under way, then close.

        HTTP: close at once when idle, else after the current response. WebSocket:
        send close 1012 (service restart)."""


@dataclass
class ServerState:
    total_requests: int = 0
    draining: bool = False
    """Graceful shutdown has begun (``--health-path`` then answers 503)."""
    connections: set[Connection] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    default_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    http2: bool = False
    """HTTP/2 is on (``--http2`` and the h2 package installed): ALPN and preface."""
