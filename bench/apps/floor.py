"""The floor of the hello scenario: a uvloop ``Protocol`` that answers every request head
with fixed bytes — no HTTP parsing beyond finding ``\\r\\n\\r\\n``, no ASGI, no app.

    python -m bench.apps.floor --host 127.0.0.1 --port 8000

No Python server can beat it on this machine; it shows how much of the per-request cost
is the event loop and the kernel, and how much is the server. Only for bodiless GETs:
it is a measuring stick, not a server.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

_BODY = b"Hello, world!"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n"
    b"\r\n" + _BODY
)


class FloorProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        data = self.pending + data if self.pending else data
        heads = data.count(b"\r\n\r\n")
        # Keep the unfinished tail; bounded so a client cannot grow it without limit.
        self.pending = data[data.rfind(b"\r\n\r\n") + 4 :] if heads else data
        if len(self.pending) > 65536:
            assert self.transport is not None
            self.transport.close()
            return
        if heads:
            assert self.transport is not None
            self.transport.write(RESPONSE * heads)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FloorProtocol, host, port, backlog=2048)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="raw uvloop floor for bench/run.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
