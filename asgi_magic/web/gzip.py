"""Streaming gzip compression of responses (RFC 9110 §8.4.1.3).

The middleware never holds a whole response: a body sent in one message (the common
case) is compressed in one go, and only if it is at least ``minimum_size`` bytes; a
streamed body is compressed chunk by chunk, each chunk flushed (``Z_SYNC_FLUSH``) so
the client sees it at once, with ``Content-Length`` dropped.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, MutableMapping
from typing import Any

from ..asgi_types import ASGI3Application, Message, Receive, Send
from .cors import add_vary

__all__ = ["GZipMiddleware", "accepts_gzip"]

# Statuses that never carry content (RFC 9110 §6.4.1, §15.3.5, §15.4.5), and 206,
# whose Content-Range counts bytes of the identity representation (§14.4).
_NO_COMPRESS_STATUS = frozenset({204, 205, 206, 304})
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib writes the gzip header and trailer


def accepts_gzip(header: bytes | None) -> bool:
    """Does this Accept-Encoding (RFC 9110 §12.5.3) allow gzip?

    ``gzip;q=0`` forbids it; ``*`` allows it unless gzip is listed with q=0; a q-value
    that does not parse is treated as 0 (the safe choice: send identity).
    """
    if not header:
        return False
    star: bool | None = None
    for item in header.split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip().lower()
        if coding not in (b"gzip", b"x-gzip", b"*"):
            continue
        q = 1.0
        for param in params.split(b";"):
            name, _, value = param.partition(b"=")
            if name.strip().lower() == b"q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:
                    q = 0.0
        if coding == b"*":
            star = q > 0
        else:
            # An explicit gzip entry wins over "*".
            return q > 0
    return bool(star)


def _get(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class GZipMiddleware:
    """``GZipMiddleware(app, minimum_size=500, compresslevel=6)``.

    Skipped for: HEAD requests, clients that do not accept gzip, responses that already
    have a Content-Encoding, ``text/event-stream``, ``Cache-Control: no-transform``,
    statuses 204/205/206/304, and single-message bodies under ``minimum_size``.
    ``Vary: Accept-Encoding`` is set on every response this middleware could compress.
    """

    def __init__(
        self, app: ASGI3Application, minimum_size: int = 500, compresslevel: int = 6
    ) -> None:
        if not 0 <= compresslevel <= 9:
            raise ValueError("compresslevel must be between 0 and 9")
        if minimum_size < 0:
            raise ValueError("minimum_size must be >= 0")
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accepted = accepts_gzip(_get(scope["headers"], b"accept-encoding"))
        head = scope["method"] == "HEAD"
        responder = _GZipResponder(
            send, self.minimum_size, self.compresslevel, accepted and not head
        )
        await self.app(scope, receive, responder.send)


class _GZipResponder:
    __slots__ = (
        "compress",
        "compressor",
        "level",
        "minimum_size",
        "send_next",
        "start",
        "streaming",
    )

    def __init__(self, send: Send, minimum_size: int, level: int, compress: bool) -> None:
        self.send_next = send
        self.minimum_size = minimum_size
        self.level = level
        self.compress = compress
        self.start: Message | None = None  # held until the first body message
        self.compressor: Any = None
        self.streaming = False

    def _eligible(self, message: Message) -> tuple[bool, list[tuple[bytes, bytes]]]:
        headers = list(message.get("headers", ()))
        if message["status"] in _NO_COMPRESS_STATUS or message["status"] < 200:
            return False, headers
        if _get(headers, b"content-encoding") is not None:
            return False, headers
        content_type = _get(headers, b"content-type") or b""
        if content_type.lower().startswith(b"text/event-stream"):
            # Events must reach the client as they happen; compression would add delay
            # through proxies and gives little on small events.
            return False, headers
        cache_control = _get(headers, b"cache-control")
        if cache_control is not None and b"no-transform" in cache_control.lower():
            return False, headers  # RFC 9111 §5.2.2.6 / RFC 9110 §7.7
        if _get(headers, b"content-range") is not None:
            return False, headers
        return True, headers

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            eligible, headers = self._eligible(message)
            if eligible:
                add_vary(headers, b"Accept-Encoding")
            message["headers"] = headers
            if not (eligible and self.compress):
                self.compress = False
                await self.send_next(message)
                return
            self.start = message
            return
        if kind != "http.response.body" or not self.compress:
            if self.start is not None:  # e.g. pathsend: the server sends the file as is
                start, self.start = self.start, None
                self.compress = False
                await self.send_next(start)
            await self.send_next(message)
            return

        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        if self.start is not None:
            start, self.start = self.start, None
            headers = start["headers"]
            if not more_body and len(body) < self.minimum_size:
                self.compress = False
                await self.send_next(start)
                await self.send_next(message)
                return
            self.compressor = zlib.compressobj(self.level, zlib.DEFLATED, _GZIP_WBITS)
            headers = [
                h for h in headers if h[0].lower() not in (b"content-length", b"accept-ranges")
            ]
            headers.append((b"content-encoding", b"gzip"))
            for index, (key, value) in enumerate(headers):
                # RFC 9110 §8.8.3: a strong validator is for one exact byte sequence;
                # the gzipped bytes differ from the identity ones, so weaken it.
                if key.lower() == b"etag" and not value.startswith(b"W/"):
                    headers[index] = (key, b"W/" + value)
            if not more_body:
                data = self.compressor.compress(body) + self.compressor.flush(zlib.Z_FINISH)
                headers.append((b"content-length", str(len(data)).encode("ascii")))
                start["headers"] = headers
                await self.send_next(start)
                await self.send_next(
                    {"type": "http.response.body", "body": data, "more_body": False}
                )
                return
            start["headers"] = headers
            self.streaming = True
            await self.send_next(start)

        if more_body:
            data = self.compressor.compress(body)
            if body:
                # Flush only when this chunk brought data: the client must get every
                # chunk now (streams are often progress or live data), and an empty
                # chunk has nothing pending to flush.
                data += self.compressor.flush(zlib.Z_SYNC_FLUSH)
            if data:
                await self.send_next(
                    {"type": "http.response.body", "body": data, "more_body": True}
                )
        else:
            data = self.compressor.compress(body) + self.compressor.flush(zlib.Z_FINISH)
            await self.send_next({"type": "http.response.body", "body": data, "more_body": False})
