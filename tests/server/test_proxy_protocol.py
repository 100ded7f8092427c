"""The PROXY protocol v1/v2: the sans-IO parser fed whole, byte by byte and split, a
hypothesis fuzz test, and the real server with raw sockets."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import time
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_magic.server.proxy_protocol import (
    V1_MAX,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    parse_proxy_header,
)
from tests.support.live_server import run_server
from tests.support.wire import capture_logs, hostport, read_until_close


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def v2_tcp4(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    body = IPv4Address(src).packed + IPv4Address(dst).packed + struct.pack("!HH", sport, dport)
    return v2(1, 0x11, body + tlvs)


def v2_tcp6(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    body = IPv6Address(src).packed + IPv6Address(dst).packed + struct.pack("!HH", sport, dport)
    return v2(1, 0x21, body + tlvs)


# A TLV (§2.2.1): type 0x02 (PP2_TYPE_AUTHORITY), length, value; then a CRC32C-like one.
TLVS = b"\x02\x00\x0bexample.com" + b"\x04\x00\x04\x00\x00\x00\x00"

VALID = [
    (
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
        ProxyHeader(1, 45, False, ("192.0.2.1", 56324), ("198.51.100.2", 443)),
    ),
    (
        b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n",
        ProxyHeader(1, 44, False, ("2001:db8::1", 1), ("2001:db8::2", 65535)),
    ),
    (b"PROXY UNKNOWN\r\n", ProxyHeader(1, 15, True)),
    (
        b"PROXY UNKNOWN ffff:f:ffff ffff:f:ffff 65535 65535\r\n",
        ProxyHeader(1, 51, True),
    ),
    (
        v2_tcp4("203.0.113.9", "10.0.0.1", 40000, 80),
        ProxyHeader(2, 28, False, ("203.0.113.9", 40000), ("10.0.0.1", 80)),
    ),
    (
        v2_tcp4("203.0.113.9", "10.0.0.1", 40000, 80, TLVS),
        ProxyHeader(2, 28 + len(TLVS), False, ("203.0.113.9", 40000), ("10.0.0.1", 80)),
    ),
    (
        v2_tcp6("2001:db8::9", "2001:db8::1", 5, 8080),
        ProxyHeader(2, 52, False, ("2001:db8::9", 5), ("2001:db8::1", 8080)),
    ),
    (v2(0, 0x00, b""), ProxyHeader(2, 16, True)),  # LOCAL (health check)
    (v2(0, 0x11, b"\x00" * 12), ProxyHeader(2, 28, True)),  # LOCAL ignores addresses
    (v2(1, 0x00, b""), ProxyHeader(2, 16, True)),  # UNSPEC
    (v2(1, 0x12, b"\x00" * 12), ProxyHeader(2, 28, True)),  # UDP: fall back
    (v2(1, 0x31, b"\x00" * 216), ProxyHeader(2, 232, True)),  # UNIX: fall back
]


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_whole_and_with_request_after(data: bytes, expected: ProxyHeader) -> None:
    assert parse_proxy_header(data) == expected
    assert parse_proxy_header(data + b"GET / HTTP/1.1\r\n\r\n") == expected


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_every_prefix_needs_more(data: bytes, expected: ProxyHeader) -> None:
    # Byte by byte: every proper prefix asks for more, the whole gives the header; so
    # any split point works (the server buffers and re-parses).
    for end in range(len(data)):
        assert parse_proxy_header(data[:end]) is None, end
    assert parse_proxy_header(data) == expected


INVALID = [
    b"GET / HTTP/1.1\r\n\r\n",  # missing preamble
    b"\x16\x03\x01\x02\x00",  # a TLS ClientHello
    b"PROXX TCP4",
    b"PROXY TCP5 1.2.3.4 1.2.3.4 1 1\r\n",
    b"PROXY TCP4 1.2.3.4 1.2.3.4 1 1\n",  # bare LF
    b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r1\r\n",  # bare CR
    b"PROXY TCP4 1.2.3.4  1.2.3.4 1 1\r\n",  # two spaces
    b"PROXY TCP4 1.2.3.4 1.2.3.4 1 1 \r\n",
    b"PROXY TCP4 01.2.3.4 1.2.3.4 1 1\r\n",  # leading zero (octal confusion)
    b"PROXY TCP4 256.2.3.4 1.2.3.4 1 1\r\n",
    b"PROXY TCP4 2001:db8::1 1.2.3.4 1 1\r\n",  # family mismatch
    b"PROXY TCP6 1.2.3.4 2001:db8::1 1 1\r\n",
    b"PROXY TCP6 fe80::1%eth0 2001:db8::1 1 1\r\n",  # a zone
    b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 1\r\n",
    b"PROXY TCP4 1.2.3.4 1.2.3.4 080 1\r\n",
    b"PROXY TCP4 1.2.3.4 1.2.3.4 -1 1\r\n",
    b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n",
    b"PROXY " + b"A" * (V1_MAX - 6),  # no CRLF within 107 bytes
    b"PROXY UNKNOWN " + b"f" * 200 + b"\r\n",
    V2_SIGNATURE + b"\x11\x11\x00\x0c" + b"\x00" * 12,  # version 1 in a v2 header
    V2_SIGNATURE + b"\x22\x11\x00\x0c" + b"\x00" * 12,  # command 2
    V2_SIGNATURE + b"\x21\x41\x00\x00",  # family 4
    V2_SIGNATURE + b"\x21\x13\x00\x00",  # transport 3
    v2(1, 0x11, b"\x00" * 11),  # too short for IPv4
    v2(1, 0x21, b"\x00" * 35),  # too short for IPv6
    b"\r\n\r\n\x00\r\nQUIX\n",
]


@pytest.mark.parametrize("data", INVALID)
def test_invalid_raise_our_error(data: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_only_our_error(data: bytes) -> None:
    try:
        result = parse_proxy_header(data)
    except ProxyProtocolError:
        return
    if result is not None:
        assert 0 < result.length <= len(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([d for d, _ in VALID]), st.data())
def test_fuzz_mutated_headers_only_our_error(data: bytes, draw: Any) -> None:
    position = draw.draw(st.integers(0, len(data) - 1))
    byte = draw.draw(st.integers(0, 255))
    mutated = data[:position] + bytes([byte]) + data[position + 1 :]
    try:
        result = parse_proxy_header(mutated)
    except ProxyProtocolError:
        return
    if result is not None:
        assert 0 < result.length <= len(mutated)
        for address in (result.client, result.server):
            if address is not None:
                assert 0 <= address[1] <= 65535


# --- the real server -------------------------------------------------------------------


async def report(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = json.dumps([scope["client"], scope["server"]]).encode()
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def exchange(url: str, data: bytes, pieces: int = 1) -> bytes:
    with socket.create_connection(hostport(url), timeout=5) as sock:
        size = max(1, len(data) // pieces)
        for i in range(0, len(data), size):
            sock.sendall(data[i : i + size])
            if pieces > 1:
                time.sleep(0.01)
        answer, _ = read_until_close(sock, timeout=5)
    return answer


def body_of(answer: bytes) -> Any:
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


@pytest.mark.parametrize(
    ("preamble", "client", "server"),
    [
        (
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
            ["192.0.2.1", 56324],
            ["198.51.100.2", 443],
        ),
        (
            b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 8443\r\n",
            ["2001:db8::1", 4000],
            ["2001:db8::2", 8443],
        ),
        (
            v2_tcp4("203.0.113.9", "10.0.0.1", 40000, 80, TLVS),
            ["203.0.113.9", 40000],
            ["10.0.0.1", 80],
        ),
        (v2_tcp6("2001:db8::9", "2001:db8::1", 5, 8080), ["2001:db8::9", 5], ["2001:db8::1", 8080]),
    ],
)
def test_live_addresses_from_preamble(
    preamble: bytes, client: list[Any], server: list[Any]
) -> None:
    with run_server(report, proxy_protocol=True) as url:
        assert body_of(exchange(url, preamble + REQUEST)) == [client, server]
        # The same split across several reads.
        assert body_of(exchange(url, preamble + REQUEST, pieces=7)) == [client, server]


@pytest.mark.parametrize(
    "preamble", [b"PROXY UNKNOWN\r\n", v2(0, 0x00, b""), v2(0, 0x11, b"\0" * 12 + TLVS)]
)
def test_live_unknown_and_local_keep_real_addresses(preamble: bytes) -> None:
    with run_server(report, proxy_protocol=True) as url:
        client, server = body_of(exchange(url, preamble + REQUEST))
    assert client[0] == "127.0.0.1" and client[1] > 0
    assert server == list(hostport(url))


def test_live_keep_alive_after_preamble() -> None:
    with (
        run_server(report, proxy_protocol=True) as url,
        socket.create_connection(hostport(url), timeout=5) as sock,
    ):
        sock.sendall(b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\n")
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + REQUEST)
        answer, _ = read_until_close(sock, timeout=5)
    assert answer.count(b"HTTP/1.1 200 ") == 2
    assert answer.count(b'[["192.0.2.1", 1], ["198.51.100.2", 2]]') == 2


@pytest.mark.parametrize(
    "data",
    [
        REQUEST,  # missing preamble
        b"PROXY TCP4 1.2.3.4 1.2.3.4 1 1\n" + REQUEST,
        b"PROXY " + b"9" * 200,
        V2_SIGNATURE + b"\x31\x11\x00\x0c" + b"\0" * 12 + REQUEST,
    ],
)
def test_live_bad_preamble_closed_with_one_log_line(data: bytes) -> None:
    with (
        capture_logs("asgi_magic.error") as logs,
        run_server(report, proxy_protocol=True, log_level="info") as url,
    ):
        assert exchange(url, data) == b""
    lines = [m for m in logs.messages() if "PROXY protocol" in m]
    assert len(lines) == 1, logs.messages()


def test_live_untrusted_peer_refused() -> None:
    with (
        capture_logs("asgi_magic.error") as logs,
        run_server(
            report, proxy_protocol=True, forwarded_allow_ips="192.0.2.1", log_level="info"
        ) as url,
    ):
        assert exchange(url, b"PROXY TCP4 1.2.3.4 1.2.3.4 1 1\r\n" + REQUEST) == b""
    assert any("forwarded-allow-ips" in m for m in logs.messages()), logs.messages()


def test_live_silent_client_dropped_after_head_timeout() -> None:
    with (
        run_server(
            report, proxy_protocol=True, timeout_request_head=0.5, timeout_keep_alive=0.5
        ) as url,
        socket.create_connection(hostport(url), timeout=5) as sock,
    ):
        sock.sendall(b"PROXY TCP4 1.2.3.4")  # and then nothing
        start = time.monotonic()
        answer, _ = read_until_close(sock, timeout=5)
        waited = time.monotonic() - start
    assert answer == b""
    assert waited < 2, waited


def test_live_off_by_default_treats_preamble_as_bad_request() -> None:
    with run_server(report) as url:
        answer = exchange(url, b"PROXY TCP4 1.2.3.4 1.2.3.4 1 1\r\n" + REQUEST)
    assert answer.startswith(b"HTTP/1.1 400 ")


async def test_proxy_protocol_with_tls_refused_at_startup() -> None:
    from asgi_magic.config import Config
    from asgi_magic.server import Server

    server = Server(
        Config(app=report, proxy_protocol=True, ssl_certfile="cert.pem", port=0, lifespan="off")
    )
    await server.serve()
    assert server.exit_code == 1 and not server.started


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_live_with_curl_haproxy_protocol() -> None:
    # curl --haproxy-protocol sends a v1 line with its own addresses: a real sender.
    with run_server(report, proxy_protocol=True) as url:
        out = subprocess.run(
            ["curl", "-sS", "--haproxy-protocol", url + "/"],
            capture_output=True,
            timeout=20,
            check=True,
        )
        plain = subprocess.run(["curl", "-sS", url + "/"], capture_output=True, timeout=20)
    client, server = json.loads(out.stdout)
    assert client[0] == "127.0.0.1" and client[1] > 0
    assert server == list(hostport(url))
    assert plain.stdout == b""  # without the preamble: closed, no answer
