"""The opening handshake (RFC 6455 §4.2), validated from an already parsed request.

The HTTP/1.1 layer parsed the head once; here we only read its fields. Nothing in this
module parses bytes off the wire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._errors import HandshakeError

if TYPE_CHECKING:  # only its fields are read: no import of the parser at run time
    from asgi_magic.http11 import Request

__all__ = [
    "GUID",
    "ExtensionOffer",
    "Handshake",
    "accept_headers",
    "accept_key",
    "client_request_headers",
    "parse_extensions",
    "validate_extended_connect",
    "validate_handshake",
]

# RFC 6455 §1.3: the fixed GUID concatenated to the key before hashing.
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUPPORTED_VERSION = b"13"

# RFC 9110 §5.6.2 token, and §5.6.4 quoted-string (escapes allowed, no CTLs).
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\x09\x20-\x7e\x80-\xff])*"'
# RFC 6455 §9.1: extension-param = token [ "=" (token | quoted-string) ]
_PARAM_RE = re.compile(rf"\s*({_TOKEN})\s*(?:=\s*({_TOKEN}|{_QUOTED})\s*)?")
_TOKEN_RE = re.compile(_TOKEN)


@dataclass(slots=True)
class ExtensionOffer:
    """One element of ``Sec-WebSocket-Extensions``: a name and its parameters in order."""

    name: str
    params: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass(slots=True)
class Handshake:
    """What a valid upgrade request asks for."""

    key: bytes
    subprotocols: list[str]
    extensions: list[ExtensionOffer]


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a client key (RFC 6455 §4.2.2 step 5.4)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def _comma_tokens(values: list[bytes]) -> list[str]:
    # RFC 9110 §5.6.1: lists may be split over several field lines and contain empty
    # elements, which recipients ignore.
    out: list[str] = []
    for value in values:
        for item in value.split(b","):
            item = item.strip()
            if item:
                out.append(item.decode("latin-1"))
    return out


def _split_unquoted(value: str, sep: str) -> list[str]:
    """Split at ``sep`` where it is not inside a quoted-string (RFC 9110 §5.6.4)."""
    if '"' not in value:
        return value.split(sep)
    parts: list[str] = []
    start = 0
    in_quotes = escaped = False
    for i, ch in enumerate(value):  # only reached for rare quoted parameters
        if escaped:
            escaped = False
        elif ch == "\\" and in_quotes:
            escaped = True
        elif ch == '"':
            in_quotes = not in_quotes
        elif ch == sep and not in_quotes:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def parse_extensions(values: list[bytes]) -> list[ExtensionOffer]:
    """Parse ``Sec-WebSocket-Extensions`` field values (RFC 6455 §9.1).

    Raises ``HandshakeError(400)`` on a syntax error: a client that cannot spell its
    extension offers is not one we can negotiate with.
    """
    offers: list[ExtensionOffer] = []
    for raw in values:
        text = raw.decode("latin-1")
        for element in _split_unquoted(text, ","):
            if not element.strip():
                continue
            pieces = _split_unquoted(element, ";")
            name = pieces[0].strip()
            if not _TOKEN_RE.fullmatch(name):
                raise HandshakeError(400, "Invalid Sec-WebSocket-Extensions header")
            offer = ExtensionOffer(name.lower())
            for piece in pieces[1:]:
                m = _PARAM_RE.fullmatch(piece)
                if m is None:
                    raise HandshakeError(400, "Invalid Sec-WebSocket-Extensions header")
                pvalue = m.group(2)
                if pvalue is not None and pvalue.startswith('"'):
                    # RFC 6455 §9.1: a quoted value must still be a token once unquoted.
                    pvalue = re.sub(r"\\(.)", r"\1", pvalue[1:-1])
                    if not _TOKEN_RE.fullmatch(pvalue):
                        raise HandshakeError(400, "Invalid Sec-WebSocket-Extensions header")
                offer.params.append((m.group(1).lower(), pvalue))
            offers.append(offer)
    return offers


def validate_handshake(request: Request) -> Handshake:
    """Check an upgrade request against RFC 6455 §4.2.1; raise ``HandshakeError``.

    Returns the key, the offered subprotocols and the extension offers.
    """
    # §4.2.1 (1): an HTTP/1.1 or higher GET request.
    if request.method != b"GET":
        raise HandshakeError(400, "WebSocket handshake must use GET")
    if request.http_version != "1.1":
        raise HandshakeError(400, "WebSocket handshake requires HTTP/1.1")
    # §4.2.1 (2): a Host header field.
    if not request.host:
        raise HandshakeError(400, "Missing Host header")
    connection: list[bytes] = []
    upgrade: list[bytes] = []
    keys: list[bytes] = []
    versions: list[bytes] = []
    protocols: list[bytes] = []
    extensions: list[bytes] = []
    for name, value in request.headers:
        if not name.startswith((b"sec-websocket-", b"connection", b"upgrade")):
            continue
        if name == b"connection":
            connection.append(value)
        elif name == b"upgrade":
            upgrade.append(value)
        elif name == b"sec-websocket-key":
            keys.append(value)
        elif name == b"sec-websocket-version":
            versions.append(value)
        elif name == b"sec-websocket-protocol":
            protocols.append(value)
        elif name == b"sec-websocket-extensions":
            extensions.append(value)
    # §4.2.1 (3) and (4): Upgrade contains "websocket", Connection contains "Upgrade",
    # both as case-insensitive tokens of comma lists.
    if "websocket" not in (t.lower() for t in _comma_tokens(upgrade)):
        raise HandshakeError(400, "Missing or invalid Upgrade header")
    if "upgrade" not in (t.lower() for t in _comma_tokens(connection)):
        raise HandshakeError(400, "Missing or invalid Connection header")
    # §4.2.1 (6) / §4.2.2: an unsupported version gets 426 and the versions we speak.
    _check_version(versions)
    # §4.2.1 (5): exactly one key that base64-decodes to 16 bytes.
    if len(keys) != 1:
        raise HandshakeError(400, "Missing or repeated Sec-WebSocket-Key header")
    key = keys[0].strip()
    try:
        decoded = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise HandshakeError(400, "Invalid Sec-WebSocket-Key header") from None
    if len(decoded) != 16:
        raise HandshakeError(400, "Invalid Sec-WebSocket-Key header")
    subprotocols = _subprotocols(protocols)
    return Handshake(key, subprotocols, parse_extensions(extensions))


def _check_version(versions: list[bytes]) -> None:
    """RFC 6455 §4.2.1 (6) / §4.2.2 (and RFC 8441 §5): exactly one
    ``Sec-WebSocket-Version``, ours; otherwise 426 naming the version we speak."""
    if len(versions) != 1 or versions[0].strip() != SUPPORTED_VERSION:
        raise HandshakeError(
            426,
            "Unsupported Sec-WebSocket-Version",
            [(b"sec-websocket-version", SUPPORTED_VERSION)],
        )


def _subprotocols(protocols: list[bytes]) -> list[str]:
    """The offered subprotocols (RFC 6455 §4.1: tokens of comma lists); 400 otherwise."""
    subprotocols = _comma_tokens(protocols)
    for sp in subprotocols:
        if not _TOKEN_RE.fullmatch(sp):
            raise HandshakeError(400, "Invalid Sec-WebSocket-Protocol header")
    return subprotocols


def validate_extended_connect(request: Request) -> Handshake:
    """Check a WebSocket request over HTTP/2 (RFC 8441 §4, §5); raise ``HandshakeError``.

    The request is an extended CONNECT whose ``:protocol`` is ``websocket``; the HTTP/2
    layer has checked the pseudo-fields (``:method``, ``:protocol``, ``:scheme``,
    ``:path``, ``:authority``) and passes the rest as ``request.headers``. RFC 8441
    §5: ``Sec-WebSocket-Key`` and ``Sec-WebSocket-Accept`` are not used, and
    ``Upgrade``/``Connection`` cannot appear (RFC 9113 §8.2.2); the version,
    subprotocol and extension fields mean what they mean in RFC 6455. The returned
    ``Handshake`` has an empty ``key``.
    """
    if request.method != b"CONNECT":
        raise HandshakeError(400, "WebSocket over HTTP/2 must use extended CONNECT")
    versions: list[bytes] = []
    protocols: list[bytes] = []
    extensions: list[bytes] = []
    for name, value in request.headers:
        if name == b"sec-websocket-version":
            versions.append(value)
        elif name == b"sec-websocket-protocol":
            protocols.append(value)
        elif name == b"sec-websocket-extensions":
            extensions.append(value)
    # RFC 6455 §4.2.1 (6) / §4.2.2, as RFC 8441 §5 keeps them.
    _check_version(versions)
    subprotocols = _subprotocols(protocols)
    return Handshake(b"", subprotocols, parse_extensions(extensions))


def accept_headers(
    handshake: Handshake, subprotocol: str | None = None, extensions: str | None = None
) -> list[tuple[bytes, bytes]]:
    """The headers of the 101 response (RFC 6455 §4.2.2 step 5)."""
    headers = [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", accept_key(handshake.key)),
    ]
    if subprotocol is not None:
        headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
    if extensions:
        headers.append((b"sec-websocket-extensions", extensions.encode("latin-1")))
    return headers


def client_request_headers(
    host: str,
    key: bytes | None = None,
    subprotocols: list[str] | None = None,
    extensions: str | None = None,
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A client's key and handshake headers (for the client role and for tests)."""
    key = key or base64.b64encode(os.urandom(16))
    headers = [
        (b"host", host.encode("latin-1")),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", key),
        (b"sec-websocket-version", SUPPORTED_VERSION),
    ]
    if subprotocols:
        headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode("latin-1")))
    if extensions:
        headers.append((b"sec-websocket-extensions", extensions.encode("latin-1")))
    return key, headers
