"""The PROXY protocol, versions 1 and 2 (HAProxy's ``doc/proxy-protocol.txt``), sans-IO.

A TCP load balancer (HAProxy, AWS NLB, …) that does not speak HTTP tells the server
who the client is with a preamble before the first byte of the client's own data.
``parse_proxy_header(data)`` looks at the bytes received so far and answers one of:

* ``None``: not enough bytes yet (a prefix of a valid header);
* a ``ProxyHeader``: the addresses, and how many bytes the preamble took;
* ``ProxyProtocolError``: anything else (no preamble, a malformed one, too long).

Pure functions over bytes: no sockets, no asyncio, no logging. The server
(``http_protocol.HTTPProtocol``, state ``PROXY``) buffers, calls this, and closes the
connection on an error (spec §2.1: "any sequence which does not exactly match the
protocol must be discarded and cause the receiver to abort the connection").

Bounds: a version 1 line is at most 107 bytes with its CRLF (§2.1); a version 2 header
is 16 bytes plus the length it announces (§2.2), at most 65 551 bytes.

Which addresses are used. Version 1 ``TCP4``/``TCP6`` and version 2 ``PROXY`` over
TCP/IPv4 or TCP/IPv6 give the client and server addresses. Version 1 ``UNKNOWN``,
version 2 ``LOCAL`` (the proxy's own health checks) and the version 2 families a
receiver need not implement (UNSPEC, UDP, UNIX; §2.2 lets a receiver fall back to
UNSPEC for them) keep the connection's own addresses (``ProxyHeader.local``). TLVs
after the addresses are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

__all__ = [
    "V1_MAX",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyProtocolError",
    "parse_proxy_header",
]

V1_PREFIX = b"PROXY "
# §2.1: "PROXY UNKNOWN ffff:…:ffff ffff:…:ffff 65535 65535\r\n" is the longest line.
V1_MAX = 107
# §2.2: the 12-byte signature of a version 2 header.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_FIXED = 16

# §2.1: decimal, no leading zeroes (they could be read as octal).
_PORT = re.compile(rb"0|[1-9][0-9]{0,4}")
_IPV4 = re.compile(rb"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")
_IPV6 = re.compile(rb"[0-9A-Fa-f:.]{2,45}")


class ProxyProtocolError(ValueError):
    """The bytes are not a valid PROXY protocol header; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProxyHeader:
    version: int
    """1 (text) or 2 (binary)."""
    length: int
    """Bytes the preamble took; the client's own data starts after them."""
    local: bool
    """Keep the connection's own addresses (v1 UNKNOWN, v2 LOCAL or an unused family)."""
    client: tuple[str, int] | None = None
    """The original client ``(host, port)`` (ASGI ``client``), unless ``local``."""
    server: tuple[str, int] | None = None
    """The address the client connected to (ASGI ``server``), unless ``local``."""


def parse_proxy_header(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``; None when more bytes are needed.

    Raises ``ProxyProtocolError`` (and nothing else) for anything that is not one."""
    if data[:1] == b"P":
        if len(data) < len(V1_PREFIX):
            if V1_PREFIX.startswith(data):
                return None
            raise ProxyProtocolError("no PROXY protocol header")
        if data.startswith(V1_PREFIX):
            return _parse_v1(data)
    elif data[:1] == b"\r":
        if len(data) < len(V2_SIGNATURE):
            if V2_SIGNATURE.startswith(data):
                return None
            raise ProxyProtocolError("no PROXY protocol header")
        if data.startswith(V2_SIGNATURE):
            return _parse_v2(data)
    elif not data:
        return None
    raise ProxyProtocolError("no PROXY protocol header")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        head = data[:V1_MAX]
        # §2.1: a lone CR or LF does not end the line.
        if b"\n" in head or b"\r" in head[:-1]:
            raise ProxyProtocolError("PROXY line with a bare CR or LF")
        if len(data) >= V1_MAX:
            raise ProxyProtocolError(f"PROXY line without CRLF in {V1_MAX} bytes")
        return None
    line = data[len(V1_PREFIX) : end]
    if b"\r" in line or b"\n" in line:
        raise ProxyProtocolError("PROXY line with a bare CR or LF")
    length = end + 2
    parts = line.split(b" ")
    family = parts[0]
    if family == b"UNKNOWN":
        # §2.1: the receiver must ignore anything after UNKNOWN before the CRLF.
        return ProxyHeader(1, length, True)
    if family not in (b"TCP4", b"TCP6"):
        raise ProxyProtocolError("PROXY line with an unknown protocol")
    if len(parts) != 5:
        raise ProxyProtocolError("PROXY line with the wrong number of fields")
    _, src, dst, sport, dport = parts
    return ProxyHeader(
        1,
        length,
        False,
        (_v1_address(src, family), _v1_port(sport)),
        (_v1_address(dst, family), _v1_port(dport)),
    )


def _v1_address(text: bytes, family: bytes) -> str:
    try:
        if family == b"TCP4":
            if _IPV4.fullmatch(text) is None:
                raise ValueError
            return str(IPv4Address(text.decode("ascii")))
        if _IPV6.fullmatch(text) is None:
            raise ValueError
        return str(IPv6Address(text.decode("ascii")))
    except ValueError:
        raise ProxyProtocolError("PROXY line with an invalid address") from None


def _v1_port(text: bytes) -> int:
    if _PORT.fullmatch(text) is None or int(text) > 65535:
        raise ProxyProtocolError("PROXY line with an invalid port")
    return int(text)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < _V2_FIXED:
        return None
    version_command = data[12]
    # §2.2: the version must be 2; commands other than LOCAL (0) and PROXY (1) drop
    # the connection.
    if version_command >> 4 != 2:
        raise ProxyProtocolError("PROXY v2 header with an unknown version")
    command = version_command & 0x0F
    if command > 1:
        raise ProxyProtocolError("PROXY v2 header with an unknown command")
    family = data[13]
    if family >> 4 > 3 or family & 0x0F > 2:
        raise ProxyProtocolError("PROXY v2 header with an unknown address family")
    length = _V2_FIXED + int.from_bytes(data[14:16], "big")
    if len(data) < length:
        return None
    if command == 0:
        return ProxyHeader(2, length, True)  # LOCAL: the proxy's own connection
    body = data[_V2_FIXED:length]
    if family == 0x11:  # TCP over IPv4: 2x4 address bytes, 2x2 port bytes
        if len(body) < 12:
            raise ProxyProtocolError("PROXY v2 header too short for IPv4 addresses")
        return ProxyHeader(
            2,
            length,
            False,
            (str(IPv4Address(body[0:4])), int.from_bytes(body[8:10], "big")),
            (str(IPv4Address(body[4:8])), int.from_bytes(body[10:12], "big")),
        )
    if family == 0x21:  # TCP over IPv6: 2x16 address bytes, 2x2 port bytes
        if len(body) < 36:
            raise ProxyProtocolError("PROXY v2 header too short for IPv6 addresses")
        return ProxyHeader(
            2,
            length,
            False,
            (str(IPv6Address(body[0:16])), int.from_bytes(body[32:34], "big")),
            (str(IPv6Address(body[16:32])), int.from_bytes(body[34:36], "big")),
        )
    # UNSPEC, UDP, UNIX: fall back to the connection's own addresses (§2.2).
    return ProxyHeader(2, length, True)
