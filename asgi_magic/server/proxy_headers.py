"""Trusted proxy headers: rewrite the scope's ``client`` and ``scheme`` before the app.

Behind a reverse proxy the TCP peer is the proxy, not the user. A proxy reports the
real client in ``X-Forwarded-For`` / ``X-Forwarded-Proto`` (de facto) or in the RFC
7239 ``Forwarded`` header. Anyone can send those headers, so they are believed only
when the immediate peer is in ``--forwarded-allow-ips``.

Policy (documented in the README, "Proxy headers"):

* The client is the right-most address in the chain that is *not* a trusted proxy
  (RFC 7239 §5.2 lists the hops in order, each proxy appending the address it saw).
  Entries left of it were written by the client itself and may be forged. When every
  entry is trusted (or ``*`` trusts everyone) the left-most entry is taken.
* ``X-Forwarded-For`` wins over ``Forwarded`` when both are present; likewise
  ``X-Forwarded-Proto`` over the ``proto=`` of ``Forwarded``. Configure the proxy to set
  the one it uses.
* If the chosen hop is malformed, obfuscated (``_hidden``) or ``unknown`` (RFC 7239
  §6), the client stays the proxy's address: there is no real address to report, and
  a made-up one would be worse. The port is the one given (``Forwarded`` may carry
  one), else 0.
* Only ``http``, ``https``, ``ws`` and ``wss`` are accepted as a scheme; the scope gets
  the secure or plain variant that fits its type (``https``/``wss``). Anything else is
  ignored. Malformed headers never raise.
* The host the client asked for replaces the ``host`` header the app sees (so URLs it
  builds, redirects and host checks use it): ``X-Forwarded-Host`` (its last value, the
  one the proxy next to us wrote), else the ``host=`` of the ``Forwarded`` element that
  names the client. ``X-Forwarded-Port`` then sets its port (dropped when it is the
  scheme's default). The result must be a valid Host (RFC 9110 §7.2, the parser's
  ``HOST_RE``), else the request's own Host is kept.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

from asgi_magic.config import Config
from asgi_magic.http11._abnf import HOST_RE
from asgi_magic.server._addresses import with_host

__all__ = [
    "DEFAULT_FORWARDED_ALLOW_IPS",
    "MAX_HOPS",
    "ProxyTrust",
    "parse_forwarded",
    "parse_node",
    "proxy_for_peer",
    "trust_from_config",
]

DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1"
# Longest chain we walk. A trusted proxy in front of an attacker would otherwise let a
# 64 KiB header cost thousands of address parses per request; real chains are short.
MAX_HOPS = 32

_IPAddress = IPv4Address | IPv6Address
_Network = IPv4Network | IPv6Network

# scheme seen by the client -> (scheme for an http scope, scheme for a websocket scope)
_SCHEMES = {
    "http": ("http", "ws"),
    "ws": ("http", "ws"),
    "https": ("https", "wss"),
    "wss": ("https", "wss"),
}

# RFC 7239 §4: forwarded-pair = token "=" value; value = token / quoted-string.
# Unquoted values also admit ":" "[" "]" so a sloppy ``for=1.2.3.4:80`` still parses.
_TCHARS = r"!#$%&'*+.^_`|~0-9A-Za-z-"
_FORWARDED_PAIR = re.compile(
    rf'[ \t]*([{_TCHARS}]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([{_TCHARS}:\[\]]*))[ \t]*([,;]|$)'
)
_QUOTED_PAIR = re.compile(r"\\(.)")
_HEADER_NAMES = frozenset(
    (
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"forwarded",
    )
)
# The longest host we take from a proxy: a DNS name (RFC 1035 §2.3.4) and a port.
_MAX_HOST = 255 + 6
_DEFAULT_PORTS = {"http": b"80", "ws": b"80", "https": b"443", "wss": b"443"}
_TRUSTED, _UNTRUSTED, _MALFORMED = 0, 1, 2
_HOP_CACHE_SIZE = 1024


def _parse_ip(text: str) -> _IPAddress | None:
    # A proxy-supplied value reaches scope["client"] and the access log: it must be
    # an address and nothing else. ip_address() admits an IPv6 zone ("fe80::1%eth0")
    # whose text is arbitrary, and a zone means nothing off the proxy's own host.
    if "%" in text:
        return None
    try:
        return ip_address(text)
    except ValueError:
        return None


def _parse_port(text: str) -> int | None:
    if not text or len(text) > 5 or not text.isascii() or not text.isdigit():
        return None
    port = int(text)
    return port if port <= 65535 else None


@lru_cache(maxsize=1024)  # ipaddress parsing costs microseconds; proxies repeat themselves
def parse_node(text: str) -> tuple[_IPAddress, int] | None:
    """An address as a proxy writes it: ``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``,
    ``[2001:db8::1]`` or ``[2001:db8::1]:4711`` (RFC 7239 §6). None when malformed,
    obfuscated (``_x``) or ``unknown``; an obfuscated port (``:_p``) counts as 0."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        ip = _parse_ip(text[1:end])
        if not isinstance(ip, IPv6Address):
            return None
        rest = text[end + 1 :]
        if not rest:
            return (ip, 0)
        if rest[0] != ":":
            return None
        rest = rest[1:]
    elif text.count(":") == 1:  # IPv4 with a port
        host, _, rest = text.partition(":")
        ip = _parse_ip(host)
        if not isinstance(ip, IPv4Address):
            return None
    else:
        ip = _parse_ip(text)
        return None if ip is None else (ip, 0)
    if rest.startswith("_"):  # RFC 7239 §6.3: obfuscated port
        return (ip, 0)
    port = _parse_port(rest)
    return None if port is None else (ip, port)


@lru_cache(maxsize=1024)
def _client_of(text: str) -> tuple[str, int] | None:
    """The ASGI ``client`` for a hop: the canonical address text and the port."""
    node = parse_node(text)
    return None if node is None else (str(node[0]), node[1])


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 ``Forwarded`` elements, in order, as ``{param_lower: value}`` dicts.

    The whole header is ignored (empty list) when it does not follow the grammar: a
    half-understood chain cannot be walked safely.
    """
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    pos = 0
    end = len(value)
    while pos < end:
        match = _FORWARDED_PAIR.match(value, pos)
        if match is None:
            return []
        name, quoted, token, sep = match.groups()
        if quoted is not None:
            quoted = _QUOTED_PAIR.sub(r"\1", quoted)
        # RFC 7239 §4: parameter names are case-insensitive.
        current[name.lower()] = quoted if quoted is not None else token
        if sep != ";":
            elements.append(current)
            current = {}
        pos = match.end()
        if sep == "," and pos >= end:
            return []  # a trailing comma: truncated header
    return elements


class ProxyTrust:
    """The set of trusted proxies (``--forwarded-allow-ips``) and the header logic."""

    __slots__ = ("_hop_cache", "_hosts", "_networks", "trust_all", "trust_unix")

    def __init__(self, allow: list[str] | str) -> None:
        items = allow.split(",") if isinstance(allow, str) else list(allow)
        self.trust_all = False
        self.trust_unix = False
        self._hosts: set[str] = set()
        self._networks: list[_Network] = []
        # hop text -> _TRUSTED / _UNTRUSTED / _MALFORMED; proxies repeat the same few
        # addresses, and parsing one costs microseconds.
        self._hop_cache: dict[str, int] = {}
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            if item == "*":
                self.trust_all = True
            elif item == "unix:":
                self.trust_unix = True
            elif "/" in item:
                try:
                    self._networks.append(ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(f"invalid network in forwarded_allow_ips: {item!r}") from None
            else:
                ip = _parse_ip(item)
                if ip is None:
                    raise ValueError(
                        f"invalid address in forwarded_allow_ips: {item!r} "
                        "(expected an IP, a CIDR network, '*' or 'unix:')"
                    )
                self._hosts.add(str(ip))

    def trusts_ip(self, ip: _IPAddress) -> bool:
        if self.trust_all or str(ip) in self._hosts:
            return True
        if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
            # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
            return self.trusts_ip(ip.ipv4_mapped)
        return any(ip in network for network in self._networks)

    def trusts_peer(self, client: tuple[str, int] | None) -> bool:
        """Whether the connection's immediate peer may speak for the client."""
        if client is None:  # UNIX domain socket (ASGI: client is None)
            return self.trust_all or self.trust_unix
        host = client[0]
        if self.trust_all or host in self._hosts:
            return True
        ip = _parse_ip(host)
        return ip is not None and self.trusts_ip(ip)

    # --- per request ---------------------------------------------------------------

    def _pick_hop(self, hops: list[str]) -> int | None:
        """Index of the client's entry: the right-most untrusted one (RFC 7239 §5.2)."""
        if self.trust_all:
            return 0
        count = len(hops)
        first = max(0, count - MAX_HOPS)
        cache = self._hop_cache
        for index in range(count - 1, first - 1, -1):
            hop = hops[index]
            verdict = cache.get(hop)
            if verdict is None:
                node = parse_node(hop)
                if node is None:
                    verdict = _MALFORMED
                else:
                    verdict = _TRUSTED if self.trusts_ip(node[0]) else _UNTRUSTED
                if len(cache) >= _HOP_CACHE_SIZE:
                    cache.clear()  # bounded: an attacker's junk cannot grow it
                cache[hop] = verdict
            if verdict != _TRUSTED:
                return index  # malformed ends the walk: nothing left of it can be trusted
        # All trusted: the left-most is the furthest known hop, unless the chain was
        # longer than we walk, in which case we never reached the client.
        return 0 if first == 0 else None

    def rewrite_scope(self, scope: dict[str, Any]) -> None:
        """Set ``client``/``scheme`` from the headers; call only for a trusted peer."""
        xff: list[bytes] = []
        xfp: bytes | None = None
        xfhost: bytes | None = None
        xfport: bytes | None = None
        forwarded: list[bytes] = []
        names = _HEADER_NAMES
        for name, value in scope["headers"]:
            if name in names:  # one hash lookup per header on the common path
                if name == b"x-forwarded-for":
                    xff.append(value)
                elif name == b"x-forwarded-proto":
                    xfp = value
                elif name == b"forwarded":
                    forwarded.append(value)
                elif name == b"x-forwarded-host":
                    xfhost = value
                else:
                    xfport = value
        if not (xff or xfp or forwarded or xfhost or xfport):
            return
        client: tuple[str, int] | None = None
        proto: str | None = None
        found_client = False
        forwarded_host: str | None = None
        if xff:
            # RFC 9110 §5.3: repeated field lines form one comma-separated list.
            hops = b",".join(xff).decode("latin-1").split(",")
            index = self._pick_hop(hops)
            if index is not None:
                client = _client_of(hops[index])
                if client is not None:
                    found_client = True
                    client = (client[0], 0)  # X-Forwarded-For carries no client port
        elif forwarded:
            elements = parse_forwarded(b",".join(forwarded).decode("latin-1"))
            if elements:
                fors = [element.get("for", "") for element in elements]
                index = self._pick_hop(fors)
                if index is not None:
                    # The element that names the client also says how it came in.
                    chosen = elements[index]
                    client = _client_of(fors[index])
                    found_client = client is not None
                    proto = chosen.get("proto")
                    forwarded_host = chosen.get("host")
        if xfp is not None:
            proto = xfp.decode("latin-1")
        if found_client:
            scope["client"] = client
        if proto is not None:
            schemes = _SCHEMES.get(proto.strip().lower())
            if schemes is not None:
                scope["scheme"] = schemes[1] if scope["type"] == "websocket" else schemes[0]
        if xfhost is not None or xfport is not None or forwarded_host is not None:
            _rewrite_host(scope, xfhost, xfport, forwarded_host)


def _split_host(host: bytes) -> tuple[bytes, bytes | None]:
    """``(host, port)`` of a Host value; port None when absent."""
    if host.startswith(b"["):
        end = host.find(b"]")
        rest = host[end + 1 :]
        return host[: end + 1], rest[1:] if rest.startswith(b":") else None
    name, sep, port = host.rpartition(b":")
    return (name, port) if sep else (host, None)


def _rewrite_host(
    scope: dict[str, Any],
    xfhost: bytes | None,
    xfport: bytes | None,
    forwarded_host: str | None,
) -> None:
    """Set the scope's ``host`` header from the proxy's values (module docstring)."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    host: bytes | None = None
    if xfhost is not None:
        # RFC 9110 §5.3: repeated lines are one list; the last entry is our proxy's.
        host = xfhost.rpartition(b",")[2].strip()
    elif forwarded_host is not None:
        host = forwarded_host.strip().encode("latin-1")
    if host is None:
        for name, value in headers:
            if name == b"host":
                host = value
                break
        if host is None:
            return
    if xfport is not None:
        port = xfport.rpartition(b",")[2].strip()
        if _parse_port(port.decode("latin-1")) is None or int(port) == 0:
            return  # a port that is not one: ignore the proxy's host entirely
        name, _ = _split_host(host)
        default = _DEFAULT_PORTS.get(scope["scheme"])
        host = name if port.lstrip(b"0") == default else name + b":" + port.lstrip(b"0")
    # RFC 9110 §7.2 / RFC 3986 §3.2.2: the same grammar the parser checks a Host with.
    if (
        not host
        or len(host) > _MAX_HOST
        or host[0] == 0x3A
        or HOST_RE.fullmatch(host) is None
        or not _split_host(host)[0]
    ):
        return
    scope["headers"] = with_host(headers, host)


def _allow_key(config: Config) -> str | tuple[str, ...]:
    allow = config.forwarded_allow_ips
    if allow is None:
        # As uvicorn: the environment gives the default, else the loopback address.
        return os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_FORWARDED_ALLOW_IPS)
    return allow if isinstance(allow, str) else tuple(allow)


@lru_cache(maxsize=16)
def _trust(key: str | tuple[str, ...]) -> ProxyTrust:
    return ProxyTrust(key if isinstance(key, str) else list(key))


def trust_from_config(config: Config) -> ProxyTrust:
    """The parsed ``forwarded_allow_ips``; raises ``ValueError`` with a clear message."""
    return _trust(_allow_key(config))


def proxy_for_peer(config: Config, client: tuple[str, int] | None) -> ProxyTrust | None:
    """Once per connection: the trust to apply, or None when the peer is not trusted."""
    if not config.proxy_headers:
        return None
    trust = _trust(_allow_key(config))
    return trust if trust.trusts_peer(client) else None
