"""A lean WebSocket echo load generator: N connections, one message in flight each.

    python bench/ws_load.py --url ws://127.0.0.1:8000/ --connections 50 --size 16 \
        --duration 5 --warmup 1

Prints one JSON object: messages echoed inside the measuring window, bytes, seconds,
messages/s, MB/s (10**6 bytes), connections that completed the handshake, and errors.

It is built so that it is not the bottleneck: raw ``asyncio.Protocol`` callbacks on
uvloop, one client frame masked once at start and re-sent as the same ``bytes`` object
(RFC 6455 §5.3 wants a fresh unpredictable key per frame to defeat proxy cache poisoning;
that threat does not exist on 127.0.0.1, and re-using one frame keeps masking cost out of
the measurement), and echoed frames parsed by their header only — the payload is
skipped by length, never copied or unmasked.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import struct
import sys
import time
from typing import cast
from urllib.parse import urlsplit

# RFC 6455 §1.3: the GUID the server appends to the key when computing the accept.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def mask_payload(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` (RFC 6455 §5.3), with big-int arithmetic."""
    if not payload:
        return b""
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes, key: bytes) -> bytes:
    """One complete masked client frame (RFC 6455 §5.2; clients MUST mask, §5.1)."""
    n = len(payload)
    first = 0x80 | opcode  # FIN set: every benchmark message is a single frame.
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    return head + key + mask_payload(payload, key)


def parse_frame_header(buf: bytes | bytearray) -> tuple[int, bool, int, int] | None:
    """``(header_length, fin, opcode, payload_length)`` of a server frame, or None if
    ``buf`` does not yet hold the whole header. Raises ValueError on a masked frame."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    if b1 & 0x80:
        # RFC 6455 §5.1: a client MUST close the connection on a masked server frame.
        raise ValueError("server sent a masked frame")
    length = b1 & 0x7F
    if length == 126:
        if len(buf) < 4:
            return None
        return 4, bool(b0 & 0x80), b0 & 0x0F, struct.unpack_from("!H", buf, 2)[0]
    if length == 127:
        if len(buf) < 10:
            return None
        return 10, bool(b0 & 0x80), b0 & 0x0F, struct.unpack_from("!Q", buf, 2)[0]
    return 2, bool(b0 & 0x80), b0 & 0x0F, length


class Stats:
    def __init__(self) -> None:
        self.messages = 0
        self.errors = 0
        self.first_error = ""
        self.running = True

    def error(self, text: str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = text


class EchoClient(asyncio.Protocol):
    """One connection: handshake, then send a frame for every full echo received."""

    def __init__(
        self, request: bytes, accept: bytes, frame: bytes, size: int, inflight: int, stats: Stats
    ) -> None:
        self.request = request
        self.accept = accept
        self.frame = frame
        self.size = size
        self.inflight = inflight
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.upgraded = asyncio.get_running_loop().create_future()
        self.head = bytearray()  # response head, then partial frame headers
        self.is_open = False
        self.skip = 0  # payload bytes of the current frame still to come
        self.fin = False
        self.opcode = 0
        self.message_bytes = 0
        self.control: bytearray | None = None  # payload of a control frame being read
        self.closed = False

    # --- asyncio callbacks -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they quack like one.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"connection lost before 101: {exc}"))
        elif self.stats.running:
            self.stats.error(f"connection lost during the run: {exc}")

    def data_received(self, data: bytes) -> None:
        if not self.is_open:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > 65536:
                    self._fail("handshake response head too large")
                return
            head, rest = bytes(self.head[:end]), bytes(self.head[end + 4 :])
            self.head.clear()
            status_line, _, _ = head.partition(b"\r\n")
            if not status_line.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {status_line.decode('latin-1')}")
                return
            if self.accept not in head:
                self._fail("handshake response has a wrong Sec-WebSocket-Accept")
                return
            self.is_open = True
            self.upgraded.set_result(None)
            data = rest
            if not data:
                return
        try:
            self._frames(data)
        except ValueError as exc:
            self._fail(str(exc))

    # --- frames ------------------------------------------------------------------
    def start(self) -> None:
        assert self.transport is not None
        self.transport.write(self.frame * self.inflight)

    def _frames(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self.skip:
                take = min(self.skip, end - pos)
                if self.control is not None:
                    self.control += data[pos : pos + take]
                self.skip -= take
                pos += take
                if not self.skip:
                    self._frame_done()
                continue
            had = len(self.head)
            self.head += data[pos : pos + 10 - had]  # a server header is at most 10 bytes
            parsed = parse_frame_header(self.head)
            if parsed is None:
                pos = end  # everything left was taken into self.head
                continue
            header_len, self.fin, self.opcode, self.skip = parsed
            pos += header_len - had
            self.head.clear()
            if self.opcode >= OP_CLOSE:
                if self.skip > 125 or not self.fin:
                    # RFC 6455 §5.5: control frames carry at most 125 bytes, unfragmented.
                    raise ValueError("bad control frame from the server")
                self.control = bytearray()
            else:
                # Data frames are skipped by length: only the size matters for an echo.
                self.message_bytes += self.skip
            if not self.skip:
                self._frame_done()

    def _frame_done(self) -> None:
        opcode = self.opcode
        if opcode < OP_CLOSE:
            if not self.fin:
                return  # a fragmented echo: wait for the final continuation frame
            received, self.message_bytes = self.message_bytes, 0
            if received != self.size:
                raise ValueError(f"echo of {received} bytes, sent {self.size}")
            stats = self.stats
            if stats.running:
                stats.messages += 1
                assert self.transport is not None
                self.transport.write(self.frame)
            return
        payload = bytes(self.control or b"")
        self.control = None
        assert self.transport is not None
        if opcode == OP_PING:
            # RFC 6455 §5.5.2: answer a ping with a pong carrying the same payload.
            self.transport.write(client_frame(OP_PONG, payload, os.urandom(4)))
        elif opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if self.stats.running:
                self.stats.error(f"server closed the connection with code {code}")
            self.closed = True
            self.transport.close()

    def _fail(self, text: str) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(text))
        else:
            self.stats.error(text)
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            # RFC 6455 §5.5.1 close frame, code 1000, then drop the TCP connection: the
            # run is over and waiting for the server's close would only add noise.
            self.transport.write(client_frame(OP_CLOSE, struct.pack("!H", 1000), os.urandom(4)))
            self.transport.close()


def handshake_request(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    """The opening handshake request (RFC 6455 §4.1) and the accept value to expect."""
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    # No Sec-WebSocket-Extensions: permessage-deflate would make the measurement one of
    # zlib, and echoed sizes would no longer be predictable.
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode('ascii')}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    ).encode("ascii")
    return request, accept


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.url)
    if url.scheme != "ws" or not url.hostname:
        raise SystemExit(f"ws_load: expected a ws:// URL, got {args.url!r}")
    host, port = url.hostname, url.port or 80
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    loop = asyncio.get_running_loop()
    stats = Stats()
    opcode = OP_BINARY if args.binary else OP_TEXT
    # Text payload is ASCII so it is valid UTF-8 (RFC 6455 §8.1) for every server.
    frame = client_frame(opcode, b"x" * args.size, os.urandom(4))

    async def connect() -> EchoClient:
        request, accept = handshake_request(host, port, path)
        _, client = await loop.create_connection(
            lambda: EchoClient(request, accept, frame, args.size, args.inflight, stats),
            host,
            port,
        )
        await asyncio.wait_for(client.upgraded, timeout=10)
        return client

    results = await asyncio.gather(
        *(connect() for _ in range(args.connections)), return_exceptions=True
    )
    clients = [c for c in results if isinstance(c, EchoClient)]
    for failure in results:
        if isinstance(failure, BaseException):
            stats.error(f"connect: {failure!r}")
    if clients:
        for client in clients:
            client.start()
        await asyncio.sleep(args.warmup)
        first, t0 = stats.messages, time.perf_counter()
        await asyncio.sleep(args.duration)
        last, t1 = stats.messages, time.perf_counter()
        stats.running = False
        for client in clients:
            client.close()
        await asyncio.sleep(0.05)  # let the close frames leave before the loop ends
    else:
        first = last = 0
        t0 = t1 = time.perf_counter()
    seconds = max(t1 - t0, 1e-9)
    messages = last - first
    return {
        "connections": len(clients),
        "size": args.size,
        "messages": messages,
        "bytes": messages * args.size,
        "seconds": round(seconds, 4),
        "messages_per_s": round(messages / seconds, 2),
        "mb_per_s": round(messages * args.size / seconds / 1e6, 3),
        "errors": stats.errors,
        "first_error": stats.first_error,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/path")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--size", type=int, default=16, help="message size in bytes")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--inflight", type=int, default=1, help="messages in flight per conn")
    parser.add_argument("--binary", action="store_true", help="binary instead of text frames")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.size < 0 or args.inflight < 1 or args.duration <= 0:
        parser.error("connections and inflight must be >= 1, size >= 0, duration > 0")
    try:
        import uvloop
    except ImportError:  # still works, just slower; the harness runs it in the venv
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    print(json.dumps(result))
    return 0 if result["connections"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
