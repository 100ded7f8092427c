"""Cross-Origin Resource Sharing, following the Fetch standard's CORS protocol.

- A *preflight* is an ``OPTIONS`` request carrying ``Origin`` and
  ``Access-Control-Request-Method`` (Fetch §3.2.2). It is answered here, without calling
  the app: 200 with the ``Access-Control-Allow-*`` headers, or 400 with a short reason.
- Any other request with an ``Origin`` goes to the app; if the origin is allowed the
  response gets ``Access-Control-Allow-Origin`` (and ``-Credentials``/``-Expose-Headers``).
- ``Vary: Origin`` is added whenever the answer depends on the request's origin, so an
  HTTP cache never serves one origin's answer to another (Fetch §3.2.5).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, MutableMapping, Sequence
from typing import Any

from ..asgi_types import ASGI3Application, Message, Receive, Send

__all__ = ["CORSMiddleware"]

logger = logging.getLogger("asgi_magic.web.cors")

# Fetch §2.2.2: request headers a page may always send cross-origin, no preflight needed.
SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})
ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# Response headers this middleware owns: an app's own values are replaced, not doubled.
_CORS_RESPONSE_HEADERS = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-expose-headers",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2 token


def add_vary(headers: list[tuple[bytes, bytes]], name: bytes) -> None:
    """Add ``name`` to the Vary header (RFC 9110 §12.5.5), merging with an existing one."""
    for index, (key, value) in enumerate(headers):
        if key.lower() == b"vary":
            tokens = [t.strip().lower() for t in value.split(b",")]
            if b"*" in tokens or name.lower() in tokens:
                return
            headers[index] = (b"vary", value + b", " + name)
            return
    headers.append((b"vary", name))


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


class CORSMiddleware:
    """``CORSMiddleware(app, allow_origins=["https://example.com"], ...)``.

    ``allow_origins=["*"]`` allows any origin; with ``allow_credentials=True`` the
    request's origin is reflected instead of ``*`` (browsers refuse ``*`` with
    credentials), except the opaque origin ``null``, which must be listed explicitly.
    ``allow_methods``/``allow_headers`` of ``["*"]`` reflect what the preflight asks for.
    """

    def __init__(
        self,
        app: ASGI3Application,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        if isinstance(allow_origins, str) or isinstance(allow_methods, str):
            raise TypeError("allow_origins and allow_methods must be lists of strings")
        self.app = app
        self.allow_all_origins = "*" in allow_origins
        # Origins are serialised lower-case by browsers (scheme://host[:port], no path).
        self.allow_origins = frozenset(o.lower().rstrip("/") for o in allow_origins if o != "*")
        self.allow_origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.allow_all_methods = "*" in allow_methods
        self.allow_methods = tuple(
            m.upper() for m in (ALL_METHODS if self.allow_all_methods else allow_methods)
        )
        self.allow_all_headers = "*" in allow_headers
        self.allow_headers = (
            frozenset(h.lower() for h in allow_headers if h != "*") | SAFELISTED_HEADERS
        )
        self.allow_credentials = allow_credentials
        if max_age < 0:
            raise ValueError("max_age must be >= 0")
        # The answer is the same for every origin only with "*" and no credentials;
        # in every other configuration it depends on Origin, so caches must Vary on it.
        self.varies_by_origin = not (self.allow_all_origins and not allow_credentials)

        simple: list[tuple[bytes, bytes]] = []
        if allow_credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
        if expose_headers:
            simple.append(
                (b"access-control-expose-headers", ", ".join(expose_headers).encode("latin-1"))
            )
        self._simple_headers = simple

        preflight: list[tuple[bytes, bytes]] = []
        if not self.allow_all_methods:
            preflight.append(
                (b"access-control-allow-methods", ", ".join(self.allow_methods).encode("latin-1"))
            )
        if not self.allow_all_headers:
            listed = sorted(self.allow_headers)
            preflight.append((b"access-control-allow-headers", ", ".join(listed).encode("latin-1")))
        preflight.append((b"access-control-max-age", str(max_age).encode("ascii")))
        if allow_credentials:
            preflight.append((b"access-control-allow-credentials", b"true"))
        self._preflight_headers = preflight

    def is_allowed_origin(self, origin: str) -> bool:
        origin = origin.lower()
        if origin in self.allow_origins:
            return True
        if self.allow_origin_regex is not None and self.allow_origin_regex.fullmatch(origin):
            return True
        if self.allow_all_origins:
            # Reflecting "null" with credentials would hand credentialed access to any
            # sandboxed iframe or file: page; it must be allowed explicitly.
            return not (self.allow_credentials and origin == "null")
        return False

    def _allow_origin_value(self, origin: bytes) -> bytes:
        if self.allow_all_origins and not self.allow_credentials:
            return b"*"
        return origin

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        origin = _header(headers, b"origin")
        if origin is None:
            if not self.varies_by_origin:
                await self.app(scope, receive, send)
                return
            await self.app(scope, receive, self._wrap_send(send, None))
            return
        if scope["method"] == "OPTIONS":
            request_method = _header(headers, b"access-control-request-method")
            if request_method is not None:
                await self._preflight(origin, request_method, headers, send)
                return
        await self.app(scope, receive, self._wrap_send(send, origin))

    def _wrap_send(self, send: Send, origin: bytes | None) -> Send:
        if origin is not None:
            try:
                allowed = self.is_allowed_origin(origin.decode("latin-1"))
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
                allowed = False
        else:
            allowed = False
        added: list[tuple[bytes, bytes]] = []
        if allowed and origin is not None:
            added = [
                (b"access-control-allow-origin", self._allow_origin_value(origin)),
                *self._simple_headers,
            ]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    h
                    for h in message.get("headers", ())
                    if not (added and h[0].lower() in _CORS_RESPONSE_HEADERS)
                ]
                headers.extend(added)
                if self.varies_by_origin:
                    add_vary(headers, b"Origin")
                message["headers"] = headers
            await send(message)

        return send_wrapper

    async def _preflight(
        self,
        origin: bytes,
        request_method: bytes,
        headers: Iterable[tuple[bytes, bytes]],
        send: Send,
    ) -> None:
        failures: list[str] = []
        origin_text = origin.decode("latin-1")
        if not self.is_allowed_origin(origin_text):
            failures.append("origin")
        method = request_method.decode("latin-1").strip()
        if not _TOKEN.fullmatch(method) or not (
            self.allow_all_methods or method.upper() in self.allow_methods
        ):
            failures.append("method")
        requested_raw = _header(headers, b"access-control-request-headers") or b""
        requested = [
            h.strip().lower() for h in requested_raw.decode("latin-1").split(",") if h.strip()
        ]
        if any(not _TOKEN.fullmatch(h) for h in requested) or (
            not self.allow_all_headers and any(h not in self.allow_headers for h in requested)
        ):
            failures.append("headers")

        response_headers: list[tuple[bytes, bytes]] = []
        if failures:
            status = 400
            body = ("Disallowed CORS " + ", ".join(failures)).encode("ascii")
            logger.info(
                "CORS preflight from %r refused: disallowed %s",
                origin_text[:200],
                ", ".join(failures),
            )
            response_headers.append((b"content-type", b"text/plain; charset=utf-8"))
        else:
            status = 200
            body = b"OK"
            response_headers.append(
                (b"access-control-allow-origin", self._allow_origin_value(origin))
            )
            response_headers.extend(self._preflight_headers)
            # "*" is a literal, not a wildcard, for credentialed requests (Fetch §3.3.4),
            # and never covers Authorization: reflect exactly what was asked for.
            if self.allow_all_methods:
                response_headers.append((b"access-control-allow-methods", method.encode("latin-1")))
            if self.allow_all_headers and requested:
                response_headers.append(
                    (b"access-control-allow-headers", ", ".join(requested).encode("latin-1"))
                )
            response_headers.append((b"content-type", b"text/plain; charset=utf-8"))
        if self.varies_by_origin:
            add_vary(response_headers, b"Origin")
        if self.allow_all_headers:
            add_vary(response_headers, b"Access-Control-Request-Headers")
        if self.allow_all_methods:
            add_vary(response_headers, b"Access-Control-Request-Method")
        response_headers.append((b"content-length", str(len(body)).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
