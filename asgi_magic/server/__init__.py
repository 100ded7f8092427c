"""The asyncio/uvloop server: protocols, ASGI cycles, lifespan, sockets, shutdown."""

from asgi_magic.server.http_cycle import ClientDisconnected, HTTPCycle
from asgi_magic.server.http_protocol import HTTPProtocol
from asgi_magic.server.server import Server, load_app
from asgi_magic.server.state import ServerState

__all__ = ["ClientDisconnected", "HTTPCycle", "HTTPProtocol", "Server", "ServerState", "load_app"]
