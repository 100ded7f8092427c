"""``--health-path``: the answer the server gives itself (docs/server/health.md).

``HealthApp`` is an ASGI app bound to the server's state: ``200 ok`` while serving,
``503 draining`` once graceful shutdown has begun, so load balancers and Kubernetes
readiness probes stop sending requests. HTTP/1.1 requests and HTTP/2 streams to the
health path run it in place of the app.
"""

from __future__ import annotations

from typing import Any

from asgi_magic.server.state import ServerState

__all__ = ["HealthApp"]


class HealthApp:
    """The health path's ASGI app for the server whose state is ``server_state``."""

    __slots__ = ("server_state",)

    def __init__(self, server_state: ServerState) -> None:
        self.server_state = server_state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        draining = self.server_state.draining
        body = b"draining\n" if draining else b"ok\n"
        await send(
            {
                "type": "http.response.start",
                "status": 503 if draining else 200,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", b"%d" % len(body)),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
