"""Host-header validation and the redirect to HTTPS.

``TrustedHostMiddleware`` stops Host-header attacks (poisoned password-reset links,
cache poisoning, routing to internal virtual hosts): a request whose Host is not in
``allowed_hosts`` gets 400 "Invalid host header" and never reaches the app.

``HTTPSRedirectMiddleware`` sends ``http``/``ws`` requests to ``https``/``wss`` with the
same host, path and query, using 307 or 308 so the method and body are kept
(RFC 9110 §15.4.8, §15.4.9).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, MutableMapping, Sequence
from typing import Any

from ..asgi_types import ASGI3Application, Receive, Send

__all__ = ["HTTPSRedirectMiddleware", "TrustedHostMiddleware", "split_host"]

logger = logging.getLogger("asgi_magic.web.hosts")

# RFC 9110 §7.2 / RFC 3986 §3.2.2: Host = uri-host [ ":" port ]; uri-host is an
# IP-literal in brackets, or a reg-name/IPv4 (unreserved, pct-encoded and sub-delims;
# we accept the DNS subset: letters, digits, '-', '.', '_').
_HOST = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]*)(?::(?P<port>[0-9]{1,5}))?")


def split_host(value: bytes | str) -> tuple[str, str | None] | None:
    """``b"Example.com:8000"`` → ``("example.com", "8000")``; None if malformed."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    match = _HOST.fullmatch(text)
    if match is None:
        return None
    return match.group("host").lower(), match.group("port")


def _host_header(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    for key, value in headers:
        if key == b"host":
            return value
    return None


async def _respond(
    scope: MutableMapping[str, Any],
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    """Send a small response on an HTTP or WebSocket scope."""
    if scope["type"] == "websocket":
        if "websocket.http.response" in scope.get("extensions", {}):
            prefix = "websocket."
        else:
            # Without the denial-response extension the only answer is a close before
            # accept, which the server turns into 403.
            await send({"type": "websocket.close", "code": 1008})
            return
    else:
        prefix = ""
    headers = [*headers, (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": prefix + "http.response.start", "status": status, "headers": headers})
    await send({"type": prefix + "http.response.body", "body": body, "more_body": False})


async def _invalid_host(scope: MutableMapping[str, Any], send: Send) -> None:
    await _respond(
        scope, send, 400, [(b"content-type", b"text/plain; charset=utf-8")], b"Invalid host header"
    )


class TrustedHostMiddleware:
    """``TrustedHostMiddleware(app, allowed_hosts=["example.com", "*.example.com"])``.

    ``*.example.com`` matches any subdomain (``a.example.com``, ``a.b.example.com``) but
    not ``example.com`` itself; ``*`` allows every host. Ports are ignored. With
    ``www_redirect=True``, a request for ``example.com`` when only ``www.example.com``
    is allowed is redirected there (301) instead of refused.
    """

    def __init__(
        self,
        app: ASGI3Application,
        allowed_hosts: Sequence[str] | None = None,
        www_redirect: bool = True,
    ) -> None:
        hosts = ["*"] if allowed_hosts is None else list(allowed_hosts)
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts must be a list of host names")
        for pattern in hosts:
            if "*" in pattern and not (
                pattern == "*" or (pattern.startswith("*.") and "*" not in pattern[2:])
            ):
                raise ValueError(f"invalid host pattern {pattern!r}: use '*' or '*.example.com'")
        self.app = app
        self.allow_any = "*" in hosts
        self.exact = frozenset(h.lower() for h in hosts if not h.startswith("*"))
        self.suffixes = tuple(h[1:].lower() for h in hosts if h.startswith("*."))
        self.www_redirect = www_redirect

    def is_allowed(self, host: str) -> bool:
        return host in self.exact or (bool(self.suffixes) and host.endswith(self.suffixes))

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = _host_header(scope["headers"]) or b""
        parsed = split_host(raw)
        if parsed is not None:
            host = parsed[0].rstrip(".")  # "example.com." is the same FQDN
            if host and self.is_allowed(host):
                await self.app(scope, receive, send)
                return
            if (
                self.www_redirect
                and host
                and f"www.{host}" in self.exact
                and scope["type"] == "http"
            ):
                port = f":{parsed[1]}" if parsed[1] else ""
                location = (
                    f"{scope.get('scheme', 'http')}://www.{host}{port}{_path_and_query(scope)}"
                )
                await _respond(scope, send, 301, [(b"location", location.encode("latin-1"))], b"")
                return
        logger.info("request refused: host %r is not allowed", raw[:200])
        await _invalid_host(scope, send)


# Bytes allowed verbatim in a Location path/query (RFC 3986 pchar plus "/" and "?");
# everything else is percent-encoded so nothing from the request can break the header.
_SAFE_URI_BYTES = re.compile(rb"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")


def _path_and_query(scope: MutableMapping[str, Any]) -> str:
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path is None:
        raw_path = scope["path"].encode("utf-8")
    target = raw_path
    query: bytes = scope.get("query_string", b"")
    if query:
        target += b"?" + query
    target = _SAFE_URI_BYTES.sub(lambda m: b"%%%02X" % m.group()[0], target)
    if target.startswith(b"//"):
        # "//evil.example" after the authority would still be a path, but keep the
        # URL unambiguous for clients that re-parse it.
        target = b"/" + target.lstrip(b"/")
    return target.decode("ascii") or "/"


class HTTPSRedirectMiddleware:
    """Redirect ``http://`` to ``https://`` and ``ws://`` to ``wss://``.

    ``status_code`` is 307 (temporary) or 308 (permanent); both keep the method and body.
    Default ports are dropped (``:80``/``:443``); other ports are kept. Put it behind
    ``TrustedHostMiddleware`` (or a proxy that fixes Host), since the Location is built
    from the Host header; malformed Host values get 400.
    """

    def __init__(self, app: ASGI3Application, status_code: int = 307) -> None:
        if status_code not in (307, 308):
            raise ValueError("status_code must be 307 or 308 (they keep the request method)")
        self.app = app
        self.status_code = status_code

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        scheme = scope.get("scheme")
        if scope["type"] not in ("http", "websocket") or scheme not in ("http", "ws"):
            await self.app(scope, receive, send)
            return
        raw = _host_header(scope["headers"])
        parsed = split_host(raw) if raw else None
        if parsed is None or not parsed[0]:
            server = scope.get("server")
            if raw is None and server:
                parsed = (str(server[0]), None)
            else:
                logger.info("HTTPS redirect refused: malformed host %r", (raw or b"")[:200])
                await _invalid_host(scope, send)
                return
        host, port = parsed
        netloc = host if port in (None, "80", "443") else f"{host}:{port}"
        new_scheme = "https" if scheme == "http" else "wss"
        location = f"{new_scheme}://{netloc}{_path_and_query(scope)}"
        await _respond(
            scope, send, self.status_code, [(b"location", location.encode("ascii"))], b""
        )
