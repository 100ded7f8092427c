"""Streaming response compression: gzip, brotli (``br``) and zstandard (``zstd``).

``CompressionMiddleware`` picks the content coding from the request's
``Accept-Encoding`` by q-value (RFC 9110 §12.5.3) among the codings it can produce,
and compresses the response as it is sent: a body sent in one message (the common
case) is compressed in one go if it is at least ``minimum_size`` bytes; a streamed body
is compressed chunk by chunk, each chunk flushed so the client sees it at once, with
``Content-Length`` dropped. ``GZipMiddleware`` is this middleware limited to gzip.

``br`` needs the ``brotli`` package and ``zstd`` the ``zstandard`` package
(``pip install asgi-magic[brotli,zstd]``); on Python 3.14 the standard library's
``compression.zstd`` is used when ``zstandard`` is absent. A coding whose library is
missing is simply never chosen.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from typing import Any

from ..asgi_types import ASGI3Application, Message, Receive, Send
from .cors import add_vary

__all__ = [
    "CompressionMiddleware",
    "available_encodings",
    "parse_accept_encoding",
    "select_encoding",
]

# Statuses that never carry content (RFC 9110 §6.4.1, §15.3.5, §15.4.5), and 206,
# whose Content-Range counts bytes of the identity representation (§14.4).
_NO_COMPRESS_STATUS = frozenset({204, 205, 206, 304})
# A 304 or 206 is not compressed, but it MUST carry the Vary a 200 for the same resource
# would (RFC 9110 §15.4.5 for 304, §15.3.7 for 206), so caches key them alike.
_VARY_ONLY_STATUS = frozenset({206, 304})
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib writes the gzip header and trailer
# The server's preference when the client weighs several codings equally: zstd and br
# compress better than gzip at similar speed.
DEFAULT_PREFERENCE = ("zstd", "br", "gzip")


# --- negotiation (RFC 9110 §12.5.3) ----------------------------------------------------


def parse_accept_encoding(header: bytes | None) -> dict[str, float]:
    """``Accept-Encoding`` → ``{coding: q}`` (codings lower-cased, ``x-gzip`` = gzip).

    A q-value that does not parse or is out of range counts as 0 (the safe choice:
    the coding is refused). When a coding is listed twice the first entry wins.
    """
    weights: dict[str, float] = {}
    if not header:
        return weights
    for item in header.decode("latin-1").split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        if coding == "x-gzip":  # RFC 9110 §8.4.1.3: equivalent to gzip
            coding = "gzip"
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:
                    q = 0.0
        weights.setdefault(coding, q)
    return weights


def select_encoding(header: bytes | None, offered: Sequence[str]) -> str | None:
    """The coding to send, from ``offered`` (in the server's order of preference), or
    None for identity.

    RFC 9110 §12.5.3: a coding is acceptable if listed with q > 0, or not listed but
    ``*`` is (with q > 0); ``q=0`` refuses it. The highest q wins, ties go to the
    server's order. Identity is always the fallback (when it is refused too, there is
    nothing better to send than identity, rather than a 406); it wins over a coding
    only when the client lists it explicitly with a higher q. No header, or an empty
    one, means identity: nothing to compress.
    """
    weights = parse_accept_encoding(header)
    if not weights:
        return None
    star = weights.get("*")
    best: str | None = None
    best_q = 0.0
    for coding in offered:
        q = weights.get(coding, star if star is not None else 0.0)
        if q > best_q:
            best, best_q = coding, q
    if best is None:
        return None
    # an unlisted identity has no weight of its own: "gzip;q=0.5" still means gzip
    identity_q = weights.get("identity", 0.0)
    if identity_q > best_q:
        return None
    return best


# --- encoders ---------------------------------------------------------------------------

# One encoder per response: ``compress`` (may buffer), ``flush`` (everything so far
# decodable now), ``finish`` (the end of the stream).


class _GzipEncoder:
    __slots__ = ("_obj",)

    def __init__(self, level: int) -> None:
        self._obj = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def flush(self) -> bytes:
        return self._obj.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._obj.flush(zlib.Z_FINISH)


class _BrotliEncoder:
    __slots__ = ("_obj",)

    def __init__(self, module: Any, quality: int) -> None:
        self._obj = module.Compressor(quality=quality)

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._obj.process(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self._obj.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self._obj.finish()
        return out


class _ZstandardEncoder:
    """The ``zstandard`` package."""

    __slots__ = ("_block", "_obj")

    def __init__(self, module: Any, level: int) -> None:
        self._obj = module.ZstdCompressor(level=level).compressobj()
        self._block = module.COMPRESSOBJ_FLUSH_BLOCK

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._obj.compress(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self._obj.flush(self._block)
        return out

    def finish(self) -> bytes:
        out: bytes = self._obj.flush()
        return out


class _StdlibZstdEncoder:  # pragma: no cover - Python 3.14+ without zstandard
    """``compression.zstd`` from the Python 3.14 standard library (PEP 784)."""

    __slots__ = ("_module", "_obj")

    def __init__(self, module: Any, level: int) -> None:
        self._module = module
        self._obj = module.ZstdCompressor(level=level)

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._obj.compress(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self._obj.flush(self._module.ZstdCompressor.FLUSH_BLOCK)
        return out

    def finish(self) -> bytes:
        out: bytes = self._obj.flush(self._module.ZstdCompressor.FLUSH_FRAME)
        return out


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _encoder_factories(
    gzip_level: int, brotli_quality: int, zstd_level: int
) -> dict[str, Callable[[], Any]]:
    factories: dict[str, Callable[[], Any]] = {"gzip": lambda: _GzipEncoder(gzip_level)}
    brotli = _import("brotli")
    if brotli is not None:
        factories["br"] = lambda: _BrotliEncoder(brotli, brotli_quality)
    zstandard = _import("zstandard")
    if zstandard is not None:
        factories["zstd"] = lambda: _ZstandardEncoder(zstandard, zstd_level)
    else:
        stdlib_zstd = _import("compression.zstd")
        if stdlib_zstd is not None:  # pragma: no cover - Python 3.14+
            factories["zstd"] = lambda: _StdlibZstdEncoder(stdlib_zstd, zstd_level)
    return factories


def available_encodings() -> list[str]:
    """The codings this install can produce, in the default order of preference."""
    factories = _encoder_factories(6, 4, 3)
    return [coding for coding in DEFAULT_PREFERENCE if coding in factories]


# --- the middleware ---------------------------------------------------------------------


def _get(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class CompressionMiddleware:
    """``CompressionMiddleware(app, minimum_size=500, encodings=None, ...)``.

    ``encodings`` lists the codings to offer in the server's order of preference
    (default: every one installed of ``zstd``, ``br``, ``gzip``); asking for one whose
    library is missing raises ``RuntimeError`` naming the extra. Levels:
    ``gzip_level`` 0-9 (6), ``brotli_quality`` 0-11 (4: brotli's higher levels are too
    slow for dynamic responses), ``zstd_level`` 1-22 (3).

    Skipped for: HEAD requests, clients that accept none of the codings, responses that
    already have a Content-Encoding, ``text/event-stream``, ``Cache-Control:
    no-transform``, a Content-Range, statuses 204/205/206/304, and single-message
    bodies under ``minimum_size`` bytes. ``Vary: Accept-Encoding`` is set on every
    response this middleware could compress, and on the 206 and 304 responses for such
    a resource (RFC 9110 §15.3.7, §15.4.5: they carry the headers a 200 would).
    A strong ``ETag`` is weakened on a compressed response (RFC 9110 §8.8.3).
    """

    def __init__(
        self,
        app: ASGI3Application,
        minimum_size: int = 500,
        encodings: Sequence[str] | None = None,
        *,
        gzip_level: int = 6,
        brotli_quality: int = 4,
        zstd_level: int = 3,
    ) -> None:
        if minimum_size < 0:
            raise ValueError("minimum_size must be >= 0")
        if not 0 <= gzip_level <= 9:
            raise ValueError("gzip_level must be between 0 and 9")
        if not 0 <= brotli_quality <= 11:
            raise ValueError("brotli_quality must be between 0 and 11")
        if not 1 <= zstd_level <= 22:
            raise ValueError("zstd_level must be between 1 and 22")
        factories = _encoder_factories(gzip_level, brotli_quality, zstd_level)
        if encodings is None:
            offered = [coding for coding in DEFAULT_PREFERENCE if coding in factories]
        else:
            offered = []
            for coding in encodings:
                coding = coding.lower()
                if coding not in DEFAULT_PREFERENCE:
                    raise ValueError(f"unknown content coding {coding!r} (gzip, br or zstd)")
                if coding not in factories:
                    extra = {"br": "brotli", "zstd": "zstd"}[coding]
                    raise RuntimeError(
                        f"the {coding!r} coding needs an optional package: "
                        f"pip install 'asgi-magic[{extra}]'"
                    )
                offered.append(coding)
            if not offered:
                raise ValueError("encodings must name at least one coding")
        self.app = app
        self.minimum_size = minimum_size
        self.encodings = tuple(offered)
        self._factories = factories

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding = None
        if scope["method"] != "HEAD":
            coding = select_encoding(_get(scope["headers"], b"accept-encoding"), self.encodings)
        factory = self._factories[coding] if coding is not None else None
        responder = _Responder(send, self.minimum_size, coding, factory)
        await self.app(scope, receive, responder.send)


class _Responder:
    __slots__ = ("coding", "encoder", "factory", "minimum_size", "send_next", "start")

    def __init__(
        self,
        send: Send,
        minimum_size: int,
        coding: str | None,
        factory: Callable[[], Any] | None,
    ) -> None:
        self.send_next = send
        self.minimum_size = minimum_size
        self.coding = coding  # None once we know this response is sent as it is
        self.factory = factory
        self.start: Message | None = None  # held until the first body message
        self.encoder: Any = None

    @staticmethod
    def _eligible(headers: list[tuple[bytes, bytes]]) -> bool:
        """Could this response (whatever its status) be compressed?"""
        if _get(headers, b"content-encoding") is not None:
            return False
        content_type = _get(headers, b"content-type") or b""
        if content_type.lower().startswith(b"text/event-stream"):
            # Events must reach the client as they happen; compression would add delay
            # through proxies and gives little on small events.
            return False
        cache_control = _get(headers, b"cache-control")
        # RFC 9111 §5.2.2.6 / RFC 9110 §7.7: no-transform forbids changing the coding
        return cache_control is None or b"no-transform" not in cache_control.lower()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = list(message.get("headers", ()))
            status = message["status"]
            eligible = self._eligible(headers)
            if (
                eligible
                and status >= 200
                and (status in _VARY_ONLY_STATUS or status not in _NO_COMPRESS_STATUS)
            ):
                add_vary(headers, b"Accept-Encoding")
            message["headers"] = headers
            if (
                not eligible
                or self.coding is None
                or status < 200
                or status in _NO_COMPRESS_STATUS
                or _get(headers, b"content-range") is not None
            ):
                self.coding = None
                await self.send_next(message)
                return
            self.start = message
            return
        if kind != "http.response.body" or self.coding is None:
            if self.start is not None:  # e.g. pathsend: the server sends the file as is
                start, self.start = self.start, None
                self.coding = None
                await self.send_next(start)
            await self.send_next(message)
            return

        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        if self.start is not None:
            start, self.start = self.start, None
            if not more_body and len(body) < self.minimum_size:
                self.coding = None
                await self.send_next(start)
                await self.send_next(message)
                return
            assert self.factory is not None
            self.encoder = self.factory()
            headers = [
                h
                for h in start["headers"]
                if h[0].lower() not in (b"content-length", b"accept-ranges")
            ]
            headers.append((b"content-encoding", self.coding.encode("ascii")))
            for index, (key, value) in enumerate(headers):
                # RFC 9110 §8.8.3: a strong validator is for one exact byte sequence;
                # the compressed bytes differ from the identity ones, so weaken it.
                if key.lower() == b"etag" and not value.startswith(b"W/"):
                    headers[index] = (key, b"W/" + value)
            if not more_body:
                data = self.encoder.compress(body) + self.encoder.finish()
                headers.append((b"content-length", str(len(data)).encode("ascii")))
                start["headers"] = headers
                await self.send_next(start)
                await self.send_next(
                    {"type": "http.response.body", "body": data, "more_body": False}
                )
                return
            start["headers"] = headers
            await self.send_next(start)

        if more_body:
            data = self.encoder.compress(body)
            if body:
                # Flush only when this chunk brought data: the client must get every
                # chunk now (streams are often progress or live data), and an empty
                # chunk has nothing pending to flush.
                data += self.encoder.flush()
            if data:
                await self.send_next(
                    {"type": "http.response.body", "body": data, "more_body": True}
                )
        else:
            data = self.encoder.compress(body) + self.encoder.finish()
            await self.send_next({"type": "http.response.body", "body": data, "more_body": False})
