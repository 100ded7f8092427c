"""The floor of the hello and payload scenarios: raw uvloop ``Protocol`` classes that
answer with fixed bytes — no ASGI, no app, and no HTTP parsing beyond what each case
needs.

    python -m bench.apps.floor --host 127.0.0.1 --port 8000            # hello rows
    python -m bench.apps.floor --host 127.0.0.1 --port 8000 --cases    # payload rows

No Python server can beat it on this machine; it shows how much of the per-request cost
is the event loop and the kernel, and how much is the server. It is a measuring stick,
not a server: it trusts its client (wrk, the harness's check) and closes the connection
on anything it does not expect.

* ``FloorProtocol`` (hello): counts ``\\r\\n\\r\\n`` and answers each head with the same
  bytes; only for bodiless GETs.
* ``WriteEachFloorProtocol`` (``--write-each``): the same, but one ``write`` per
  response, to measure what coalescing pipelined responses into one write saves.
* ``CasesFloorProtocol`` (``--cases``, the endpoints of ``bench/apps/cases.py``): finds
  the path in the request line and ``Content-Length`` in the head, nothing else.
  ``GET /json`` answers the same 1 KB document; ``POST /echo`` reads the body and writes
  it back without joining it (``writelines`` of the received pieces); ``GET /stream``
  writes the same 10 MiB in 64 KiB chunked pieces, stopping at ``pause_writing`` and
  going on at ``resume_writing``, as a server that respects flow control must.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

from bench.apps.cases import JSON_BODY, STREAM_PIECE, STREAM_PIECES

_BODY = b"Hello, world!"


def _head(content_type: bytes, length: int | None) -> bytes:
    framing = b"transfer-encoding: chunked" if length is None else b"content-length: %d" % length
    return b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\n" + framing + b"\r\n\r\n"


RESPONSE = _head(b"text/plain; charset=utf-8", len(_BODY)) + _BODY
JSON_RESPONSE = _head(b"application/json", len(JSON_BODY)) + JSON_BODY
STREAM_HEAD = _head(b"application/octet-stream", None)
# One chunk (RFC 9112 §7.1) built once: size line, the 64 KiB piece, CRLF.
STREAM_CHUNK = b"%x\r\n" % len(STREAM_PIECE) + STREAM_PIECE + b"\r\n"
STREAM_END = b"0\r\n\r\n"
MAX_HEAD = 65536


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
        if len(self.pending) > MAX_HEAD:
            assert self.transport is not None
            self.transport.close()
            return
        if heads:
            assert self.transport is not None
            self.transport.write(RESPONSE * heads)


class WriteEachFloorProtocol(FloorProtocol):
    """``--write-each``: one ``write`` per response, as a server that does not coalesce
    pipelined responses makes; the difference to the floor is what coalescing saves."""

    def data_received(self, data: bytes) -> None:
        data = self.pending + data if self.pending else data
        heads = data.count(b"\r\n\r\n")
        self.pending = data[data.rfind(b"\r\n\r\n") + 4 :] if heads else data
        transport = self.transport
        assert transport is not None
        if len(self.pending) > MAX_HEAD:
            transport.close()
            return
        for _ in range(heads):
            transport.write(RESPONSE)


class CasesFloorProtocol(asyncio.Protocol):
    """The ``bench/apps/cases.py`` endpoints at the least cost uvloop allows."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending = b""
        self.body: list[bytes] = []  # the echo body received so far
        self.body_left = 0  # bytes of the echo body still to come
        self.chunks_left = 0  # stream chunks still to write
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.pending = self.pending + data if self.pending else data
        if not self.chunks_left:
            self._serve()

    def _serve(self) -> None:
        transport = self.transport
        assert transport is not None
        while self.pending and not self.chunks_left:
            data = self.pending
            if self.body_left:  # inside an echo body
                piece = data[: self.body_left]
                self.body.append(piece)
                self.body_left -= len(piece)
                self.pending = data[len(piece) :]
                if not self.body_left:
                    self._answer_echo()
                continue
            end = data.find(b"\r\n\r\n")
            if end == -1:
                if len(data) > MAX_HEAD:
                    transport.close()
                    self.pending = b""
                return
            head = data[:end]
            self.pending = data[end + 4 :]
            start = head.find(b" ") + 1
            path = head[start : head.find(b" ", start)]
            if path == b"/echo":
                at = head.lower().find(b"\r\ncontent-length:")
                if at == -1:  # chunked uploads are not a floor case
                    transport.close()
                    self.pending = b""
                    return
                line_end = head.find(b"\r\n", at + 2)
                self.body_left = int(head[at + 17 : None if line_end == -1 else line_end])
                self.body = []
                if not self.body_left:
                    self._answer_echo()
            elif path == b"/json":
                transport.write(JSON_RESPONSE)
            elif path == b"/stream":
                transport.write(STREAM_HEAD)
                self.chunks_left = STREAM_PIECES
                self._stream()
            else:
                transport.write(RESPONSE)

    def _answer_echo(self) -> None:
        assert self.transport is not None
        size = sum(map(len, self.body))
        head = _head(b"application/octet-stream", size)
        self.transport.writelines([head, *self.body])
        self.body = []

    def _stream(self) -> None:
        transport = self.transport
        assert transport is not None
        while self.chunks_left and not self.paused:
            self.chunks_left -= 1
            transport.write(STREAM_CHUNK)
        if not self.chunks_left:
            transport.write(STREAM_END)
            if self.pending:  # a request that arrived while streaming
                self._serve()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.chunks_left:
            self._stream()


async def serve(host: str, port: int, cases: bool = False, write_each: bool = False) -> None:
    loop = asyncio.get_running_loop()
    protocol: type[asyncio.Protocol] = FloorProtocol
    if cases:
        protocol = CasesFloorProtocol
    elif write_each:
        protocol = WriteEachFloorProtocol
    server = await loop.create_server(protocol, host, port, backlog=2048)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="raw uvloop floor for bench/run.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--cases", action="store_true", help="serve bench/apps/cases.py's endpoints"
    )
    parser.add_argument(
        "--write-each", action="store_true", help="hello: one write per response, not per read"
    )
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.cases, args.write_each))
    else:
        uvloop.run(serve(args.host, args.port, args.cases, args.write_each))


if __name__ == "__main__":
    main()
