"""Conditional GET for dynamic responses (RFC 9110 §13.1.2, §15.4.5).

``ConditionalGetMiddleware`` gives every buffered 200 response to a GET a strong
``ETag`` (a hash of the body) unless the app set one, and answers a matching
``If-None-Match`` with ``304 Not Modified``: the client keeps its copy and the body is
not sent again. The page is still rendered (this saves bandwidth, not work; for that,
compare your own validator in the handler).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import MutableMapping
from typing import Any

from ..asgi_types import ASGI3Application, Message, Receive, Send

__all__ = ["ConditionalGetMiddleware", "etag_matches"]

# RFC 9110 §15.4.5: a 304 carries the headers a 200 would have among Content-Location,
# Date, ETag, Vary, Cache-Control and Expires, and SHOULD NOT carry other
# representation metadata. These are the ones dropped (Set-Cookie and the like stay).
_REPRESENTATION_HEADERS = frozenset(
    {
        b"content-length",
        b"content-type",
        b"content-encoding",
        b"content-language",
        b"content-range",
        b"content-disposition",
        b"accept-ranges",
        b"last-modified",
        b"transfer-encoding",
    }
)


_START, _HOLD, _PASS, _DROP = range(4)


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Does ``If-None-Match`` match ``etag``? RFC 9110 §13.1.2: ``*`` matches any
    current representation; otherwise the *weak* comparison (§8.8.3.2: opaque tags
    equal, ``W/`` ignored on either side)."""
    value = if_none_match.strip()
    if value == b"*":
        return True
    target = etag[2:] if etag.startswith(b"W/") else etag
    for candidate in value.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            candidate = candidate[2:]
        if candidate == target:
            return True
    return False


def _body_etag(body: bytes) -> bytes:
    # 128 bits of BLAKE2b: collisions are not a practical concern for a cache key,
    # and it is faster than SHA-256 on large pages.
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return b'"' + base64.urlsafe_b64encode(digest).rstrip(b"=") + b'"'


class ConditionalGetMiddleware:
    """``app.add_middleware(ConditionalGetMiddleware)``: ETag + 304 for GET and HEAD.

    Only 200 responses whose body comes in one message get a computed ETag (a
    streamed body is passed through untouched: hashing it would mean holding it);
    responses with ``Cache-Control: no-store`` are left alone. A response that
    already has an ETag keeps it and is compared as is. HEAD responses are answered
    304 only when the app set an ETag (their body is empty, so there is nothing to
    hash). Put it inside a compression middleware, so the 304 decision is made on
    the identity body.
    """

    def __init__(self, app: ASGI3Application) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if_none_match: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"if-none-match":
                # RFC 9110 §5.3: repeated fields combine into one comma-separated list
                if_none_match = value if if_none_match is None else if_none_match + b"," + value
        head = scope["method"] == "HEAD"
        held: Message | None = None
        mode = _START

        async def send_wrapper(message: Message) -> None:
            nonlocal held, mode
            if mode == _PASS:
                await send(message)
                return
            if mode == _DROP:
                return  # the app's own body after we answered 304
            if mode == _START:
                headers = list(message.get("headers", ()))
                message["headers"] = headers
                cache_control = _get(headers, b"cache-control") or b""
                if message["status"] != 200 or b"no-store" in cache_control.lower():
                    mode = _PASS
                    await send(message)
                    return
                if head:
                    # nothing to hash: only an ETag the app set can be compared
                    etag = _get(headers, b"etag")
                    if etag is not None and if_none_match and etag_matches(if_none_match, etag):
                        mode = _DROP
                        await send(_not_modified(headers))
                        await send({"type": "http.response.body", "body": b""})
                        return
                    mode = _PASS
                    await send(message)
                    return
                held = message
                mode = _HOLD
                return
            # _HOLD: the first body message decides
            assert held is not None
            if message["type"] != "http.response.body" or message.get("more_body", False):
                mode = _PASS  # streamed (or pathsend): no ETag without holding the body
                await send(held)
                await send(message)
                return
            headers = held["headers"]
            etag = _get(headers, b"etag")
            if etag is None:
                etag = _body_etag(message.get("body", b""))
                headers.append((b"etag", etag))
            mode = _PASS
            if if_none_match and etag_matches(if_none_match, etag):
                await send(_not_modified(headers))
                await send({"type": "http.response.body", "body": b""})
                return
            await send(held)
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _not_modified(headers: list[tuple[bytes, bytes]]) -> Message:
    kept = [(k, v) for k, v in headers if k.lower() not in _REPRESENTATION_HEADERS]
    return {"type": "http.response.start", "status": 304, "headers": kept}


def _get(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
