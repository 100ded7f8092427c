"""Streaming gzip compression of responses (RFC 9110 §8.4.1.3).

``GZipMiddleware`` is :class:`~asgi_magic.web.compression.CompressionMiddleware`
configured for gzip alone (see there for the streaming and skip rules); use
``CompressionMiddleware`` to offer ``br`` and ``zstd`` too.
"""

from __future__ import annotations

from ..asgi_types import ASGI3Application
from .compression import CompressionMiddleware

__all__ = ["GZipMiddleware", "accepts_gzip"]


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


class GZipMiddleware(CompressionMiddleware):
    """``GZipMiddleware(app, minimum_size=500, compresslevel=6)``: the
    :class:`CompressionMiddleware` offering gzip only.

    Skipped for: HEAD requests, clients that do not accept gzip, responses that already
    have a Content-Encoding, ``text/event-stream``, ``Cache-Control: no-transform``,
    statuses 204/205/206/304, and single-message bodies under ``minimum_size``.
    ``Vary: Accept-Encoding`` is set on every response this middleware could compress,
    and on the 206 and 304 responses for such a resource.
    """

    def __init__(
        self, app: ASGI3Application, minimum_size: int = 500, compresslevel: int = 6
    ) -> None:
        if not 0 <= compresslevel <= 9:
            raise ValueError("compresslevel must be between 0 and 9")
        super().__init__(app, minimum_size, encodings=("gzip",), gzip_level=compresslevel)
        self.compresslevel = compresslevel
