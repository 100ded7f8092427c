"""Proxy headers: the trust list, the header parsing, and the real server rewriting scopes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from asgi_magic.cli import build_parser, config_from_args
from asgi_magic.config import Config
from asgi_magic.server import Server
from asgi_magic.server.proxy_headers import (
    MAX_HOPS,
    ProxyTrust,
    parse_forwarded,
    parse_node,
    proxy_for_peer,
    trust_from_config,
)
from tests.support.live_server import run_server

# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.60", ("192.0.2.60", 0)),
        (" 192.0.2.60 ", ("192.0.2.60", 0)),
        ("192.0.2.60:8080", ("192.0.2.60", 8080)),
        ("2001:db8::1", ("2001:db8::1", 0)),
        ("[2001:db8::1]", ("2001:db8::1", 0)),
        ("[2001:db8:cafe::17]:4711", ("2001:db8:cafe::17", 4711)),
        ("192.0.2.60:_port", ("192.0.2.60", 0)),
        ("unknown", None),
        ("_hidden", None),
        ("", None),
        ("example.com", None),
        ("192.0.2.60:99999", None),
        ("192.0.2.60:8²", None),
        ("[192.0.2.60]:80", None),
        ("[2001:db8::1", None),
        ("[2001:db8::1]x", None),
        ("999.1.1.1", None),
    ],
)
def test_parse_node(text: str, expected: tuple[str, int] | None) -> None:
    node = parse_node(text)
    assert (None if node is None else (str(node[0]), node[1])) == expected


def test_parse_forwarded_rfc7239_examples() -> None:
    # RFC 7239 §4 and §7.1 examples.
    assert parse_forwarded('for="_gazonk"') == [{"for": "_gazonk"}]
    assert parse_forwarded('For="[2001:db8:cafe::17]:4711"') == [
        {"for": "[2001:db8:cafe::17]:4711"}
    ]
    assert parse_forwarded("for=192.0.2.60;proto=http;by=203.0.113.43") == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}
    ]
    assert parse_forwarded("for=192.0.2.43, for=198.51.100.17") == [
        {"for": "192.0.2.43"},
        {"for": "198.51.100.17"},
    ]
    assert parse_forwarded('for="a\\"b" ; proto=https') == [{"for": 'a"b', "proto": "https"}]


@pytest.mark.parametrize(
    "value", ["for", "for=", "for=1.2.3.4,", "for=1.2.3.4,,for=5.6.7.8", 'for="open', "=x", "f o=1"]
)
def test_parse_forwarded_malformed_is_ignored(value: str) -> None:
    parsed = parse_forwarded(value)
    # Either ignored entirely, or only well-formed pairs came out; never an exception.
    assert parsed == [] or all(isinstance(element, dict) for element in parsed)
    if value in ("for", "for=1.2.3.4,", 'for="open', "=x", "f o=1"):
        assert parsed == []


# --- trust -----------------------------------------------------------------------------


def test_trust_list_forms() -> None:
    trust = ProxyTrust("127.0.0.1, 10.0.0.0/8,2001:db8::/32 , unix:")
    assert trust.trusts_peer(("127.0.0.1", 5000))
    assert trust.trusts_peer(("10.1.2.3", 1))
    assert trust.trusts_peer(("2001:db8::5", 1))
    assert trust.trusts_peer(("::ffff:10.9.9.9", 1))  # IPv4-mapped from a dual-stack socket
    assert trust.trusts_peer(None)  # UNIX socket
    assert not trust.trusts_peer(("11.0.0.1", 1))
    assert not trust.trusts_peer(("not-an-ip", 1))
    assert not ProxyTrust("127.0.0.1").trusts_peer(None)
    assert ProxyTrust("*").trusts_peer(("203.0.113.9", 1))
    assert ProxyTrust("*").trusts_peer(None)
    assert ProxyTrust(["127.0.0.1", "192.0.2.1"]).trusts_peer(("192.0.2.1", 1))
    assert not ProxyTrust("").trusts_peer(("127.0.0.1", 1))


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.0/33", "1.2.3", "unix", "*x"])
def test_trust_list_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match="forwarded_allow_ips"):
        ProxyTrust(f"127.0.0.1,{bad}")


def test_default_trust_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    config = Config(app="m:app")
    assert config.proxy_headers is True and config.forwarded_allow_ips is None
    assert proxy_for_peer(config, ("127.0.0.1", 1)) is not None
    assert proxy_for_peer(config, ("192.0.2.1", 1)) is None
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.0/24")
    assert proxy_for_peer(config, ("192.0.2.1", 1)) is not None
    assert proxy_for_peer(config, ("127.0.0.1", 1)) is None
    # An explicit setting beats the environment; proxy_headers off disables it all.
    assert proxy_for_peer(Config(app="m", forwarded_allow_ips=["127.0.0.1"]), ("127.0.0.1", 1))
    assert proxy_for_peer(Config(app="m", proxy_headers=False), ("192.0.2.1", 1)) is None
    with pytest.raises(ValueError):
        trust_from_config(Config(app="m", forwarded_allow_ips="nope"))


# --- rewriting a scope -------------------------------------------------------------------


def rewrite(
    trust: str, headers: list[tuple[bytes, bytes]], kind: str = "http", scheme: str = "http"
) -> tuple[Any, str]:
    scope: dict[str, Any] = {
        "type": kind,
        "scheme": scheme,
        "client": ("127.0.0.1", 5555),
        "headers": headers,
    }
    ProxyTrust(trust).rewrite_scope(scope)
    return scope["client"], scope["scheme"]


def test_x_forwarded_for_and_proto() -> None:
    assert rewrite("127.0.0.1", [(b"x-forwarded-for", b"203.0.113.7")]) == (
        ("203.0.113.7", 0),
        "http",
    )
    assert rewrite("127.0.0.1", [(b"x-forwarded-proto", b"https")]) == (
        ("127.0.0.1", 5555),
        "https",
    )
    assert rewrite("127.0.0.1", [(b"x-forwarded-proto", b" HTTPS ")])[1] == "https"
    assert rewrite("127.0.0.1", [(b"x-forwarded-proto", b"wss")])[1] == "https"
    assert rewrite("127.0.0.1", [(b"x-forwarded-proto", b"https")], "websocket", "ws")[1] == "wss"
    assert rewrite("127.0.0.1", [(b"x-forwarded-proto", b"http")], "websocket", "wss")[1] == "ws"


@pytest.mark.parametrize("proto", [b"ftp", b"javascript", b"https, http", b"", b"\xff"])
def test_unknown_proto_is_ignored(proto: bytes) -> None:
    assert rewrite("127.0.0.1", [(b"x-forwarded-proto", proto)])[1] == "http"


def test_spoofed_left_entries_are_ignored() -> None:
    # The client forged "1.1.1.1"; our proxies (10.0.0.0/8) appended what they saw.
    headers = [(b"x-forwarded-for", b"1.1.1.1, 203.0.113.7, 10.0.0.2, 10.0.0.1")]
    assert rewrite("127.0.0.1,10.0.0.0/8", headers)[0] == ("203.0.113.7", 0)
    # Trusting only the peer: the right-most entry is what our one proxy saw.
    assert rewrite("127.0.0.1", headers)[0] == ("10.0.0.1", 0)
    # '*' trusts every hop: the left-most is taken (as uvicorn).
    assert rewrite("*", headers)[0] == ("1.1.1.1", 0)


def test_all_trusted_chain_gives_left_most() -> None:
    headers = [(b"x-forwarded-for", b"10.0.0.3, 10.0.0.2")]
    assert rewrite("127.0.0.1,10.0.0.0/8", headers)[0] == ("10.0.0.3", 0)


def test_repeated_x_forwarded_for_lines_form_one_list() -> None:
    headers = [(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"203.0.113.7")]
    assert rewrite("127.0.0.1", headers)[0] == ("203.0.113.7", 0)


@pytest.mark.parametrize(
    "value", [b"garbage", b"1.1.1.1, not-an-ip", b"", b" , ", b"unknown", b"\xff\xfe"]
)
def test_malformed_x_forwarded_for_keeps_peer(value: bytes) -> None:
    assert rewrite("127.0.0.1", [(b"x-forwarded-for", value)])[0] == ("127.0.0.1", 5555)


def test_ipv6_in_x_forwarded_for() -> None:
    assert rewrite("127.0.0.1", [(b"x-forwarded-for", b"2001:db8::1")])[0] == ("2001:db8::1", 0)
    assert rewrite("127.0.0.1", [(b"x-forwarded-for", b"[2001:db8::1]:80")])[0] == (
        "2001:db8::1",
        0,
    )


def test_long_trusted_chain_is_bounded() -> None:
    chain = ", ".join(["1.1.1.1"] + ["10.0.0.1"] * (MAX_HOPS + 5)).encode()
    # Beyond MAX_HOPS trusted hops we stop walking and keep the peer.
    assert rewrite("127.0.0.1,10.0.0.0/8", [(b"x-forwarded-for", chain)])[0] == (
        "127.0.0.1",
        5555,
    )
    short = ", ".join(["1.1.1.1"] + ["10.0.0.1"] * (MAX_HOPS - 1)).encode()
    assert rewrite("127.0.0.1,10.0.0.0/8", [(b"x-forwarded-for", short)])[0] == ("1.1.1.1", 0)


def test_forwarded_header() -> None:
    headers = [(b"forwarded", b'for=1.1.1.1;proto=http, for="[2001:db8::17]:4711";proto=https')]
    assert rewrite("127.0.0.1", headers) == (("2001:db8::17", 4711), "https")
    # The element naming the client says how the client came in.
    headers = [(b"forwarded", b"for=203.0.113.7;proto=https, for=10.0.0.1;proto=http")]
    assert rewrite("127.0.0.1,10.0.0.0/8", headers) == (("203.0.113.7", 0), "https")
    assert rewrite("127.0.0.1,10.0.0.0/8", headers, "websocket", "ws")[1] == "wss"


@pytest.mark.parametrize("node", [b"_hidden", b"unknown", b'"_x:_y"'])
def test_forwarded_obfuscated_keeps_peer_but_uses_proto(node: bytes) -> None:
    headers = [(b"forwarded", b"for=" + node + b";proto=https")]
    assert rewrite("127.0.0.1", headers) == (("127.0.0.1", 5555), "https")


def test_x_forwarded_wins_over_forwarded() -> None:
    headers = [
        (b"forwarded", b"for=1.1.1.1;proto=http"),
        (b"x-forwarded-for", b"203.0.113.7"),
        (b"x-forwarded-proto", b"https"),
    ]
    assert rewrite("127.0.0.1", headers) == (("203.0.113.7", 0), "https")


def test_malformed_forwarded_is_ignored() -> None:
    assert rewrite("127.0.0.1", [(b"forwarded", b"for=1.1.1.1;proto")]) == (
        ("127.0.0.1", 5555),
        "http",
    )


def test_rewrite_never_raises_on_random_bytes() -> None:
    import random

    rng = random.Random(1234)
    trust = ProxyTrust("127.0.0.1,10.0.0.0/8")
    alphabet = b'0123456789abcdef.:[]_,;="\\ \t\xff'
    for _ in range(2000):
        value = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        name = rng.choice([b"x-forwarded-for", b"forwarded", b"x-forwarded-proto"])
        scope: dict[str, Any] = {
            "type": "http",
            "scheme": "http",
            "client": ("127.0.0.1", 1),
            "headers": [(name, value)],
        }
        trust.rewrite_scope(scope)
        assert scope["scheme"] in ("http", "https")
        client = scope["client"]
        ip_address(client[0])  # always a real address
        assert 0 <= client[1] <= 65535


# --- the real server ---------------------------------------------------------------------


async def report(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send(
            {"type": "websocket.send", "text": json.dumps([scope["client"], scope["scheme"]])}
        )
        await send({"type": "websocket.close"})
        return
    body = json.dumps([scope["client"], scope["scheme"]]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


SPOOF = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}


def test_live_trusted_peer_rewrites_http_scope() -> None:
    with run_server(report, lifespan="off", forwarded_allow_ips="127.0.0.1") as url:
        client, scheme = httpx.get(url, headers=SPOOF).json()
        assert client == ["203.0.113.7", 0] and scheme == "https"
        # Keep-alive: the next request on the connection is judged on its own headers.
        with httpx.Client() as http:
            assert http.get(url, headers=SPOOF).json()[0] == ["203.0.113.7", 0]
            client, scheme = http.get(url).json()
            assert client[0] == "127.0.0.1" and client[1] != 0 and scheme == "http"


def test_live_untrusted_peer_is_ignored() -> None:
    with run_server(report, lifespan="off", forwarded_allow_ips="192.0.2.1") as url:
        client, scheme = httpx.get(url, headers=SPOOF).json()
        assert client[0] == "127.0.0.1" and scheme == "http"


def test_live_proxy_headers_off() -> None:
    with run_server(report, lifespan="off", proxy_headers=False, forwarded_allow_ips="*") as url:
        client, scheme = httpx.get(url, headers=SPOOF).json()
        assert client[0] == "127.0.0.1" and scheme == "http"


def test_live_websocket_scope() -> None:
    with run_server(report, lifespan="off", forwarded_allow_ips="127.0.0.1") as url:
        ws_url = url.replace("http://", "ws://")
        with ws_connect(ws_url, additional_headers=SPOOF, open_timeout=5) as ws:
            client, scheme = json.loads(ws.recv(timeout=5))
        assert client == ["203.0.113.7", 0] and scheme == "wss"
        forwarded = {"forwarded": 'for="[2001:db8::1]:4711";proto=http'}
        with ws_connect(ws_url, additional_headers=forwarded, open_timeout=5) as ws:
            client, scheme = json.loads(ws.recv(timeout=5))
        assert client == ["2001:db8::1", 4711] and scheme == "ws"
    with run_server(report, lifespan="off", forwarded_allow_ips="192.0.2.1") as url:
        with ws_connect(url.replace("http://", "ws://"), additional_headers=SPOOF) as ws:
            client, scheme = json.loads(ws.recv(timeout=5))
        assert client[0] == "127.0.0.1" and scheme == "ws"


def test_live_unix_socket_needs_unix_entry(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    for allow, expected in (("unix:", ["203.0.113.7", 0]), ("127.0.0.1", None)):
        with run_server(report, lifespan="off", uds=path, forwarded_allow_ips=allow):
            transport = httpx.HTTPTransport(uds=path)
            with httpx.Client(transport=transport) as http:
                client, _ = http.get("http://localhost/", headers=SPOOF).json()
        assert client == expected


async def test_bad_allow_list_fails_startup() -> None:
    server = Server(Config(app=report, port=0, lifespan="off", forwarded_allow_ips="bogus"))
    await server.serve()
    assert server.exit_code == 1 and not server.started


def test_cli_flags() -> None:
    args = build_parser().parse_args(
        ["m:app", "--no-proxy-headers", "--forwarded-allow-ips", "10.0.0.0/8,unix:"]
    )
    config = config_from_args(args)
    assert config.proxy_headers is False and config.forwarded_allow_ips == "10.0.0.0/8,unix:"
    assert config_from_args(build_parser().parse_args(["m:app"])).proxy_headers is True
    result = subprocess.run(
        [sys.executable, "-m", "asgi_magic", "m:app", "--forwarded-allow-ips", "10.0.0.0/99"],
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "forwarded_allow_ips" in result.stderr and len(result.stderr.splitlines()) == 1
