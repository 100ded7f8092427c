"""The opening handshake (RFC 6455 §4.2.1), from an already parsed request."""

from __future__ import annotations

import base64

import pytest

from asgi_magic.http11 import Request
from asgi_magic.websocket import (
    HandshakeError,
    accept_headers,
    accept_key,
    client_request_headers,
    validate_extended_connect,
    validate_handshake,
)

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def request(
    headers: list[tuple[bytes, bytes]], method: bytes = b"GET", version: str = "1.1"
) -> Request:
    host = next((v for n, v in headers if n == b"host"), None)
    return Request(method, b"/chat", b"/chat", b"", version, headers, host=host)


def good(**extra: bytes) -> list[tuple[bytes, bytes]]:
    _, headers = client_request_headers("example.com", key=KEY)
    for name, value in extra.items():
        headers.append((name.replace("_", "-").encode(), value))
    return headers


def test_rfc_example_accept_key() -> None:
    # RFC 6455 §1.3's worked example.
    assert accept_key(KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_valid_handshake() -> None:
    hs = validate_handshake(request(good(sec_websocket_protocol=b"chat, superchat")))
    assert hs.key == KEY
    assert hs.subprotocols == ["chat", "superchat"]
    headers = dict(accept_headers(hs, "chat"))
    assert headers[b"sec-websocket-accept"] == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert headers[b"sec-websocket-protocol"] == b"chat"


def test_token_lists_are_case_insensitive() -> None:
    headers = [(n, v) for n, v in good() if n not in (b"upgrade", b"connection")] + [
        (b"upgrade", b"h2c, WebSocket"),
        (b"connection", b"keep-alive, UPGRADE"),
    ]
    validate_handshake(request(headers))


def test_subprotocols_over_several_lines() -> None:
    hs = validate_handshake(
        request(good(sec_websocket_protocol=b"a", **{"sec-websocket-protocol": b"b,,c"}))
    )
    assert hs.subprotocols == ["a", "b", "c"]


def drop(name: bytes) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in good() if n != name]


def replace(name: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
    return [*drop(name), (name, value)]


@pytest.mark.parametrize(
    ("headers", "method", "version"),
    [
        (good(), b"POST", "1.1"),
        (good(), b"GET", "1.0"),
        (drop(b"host"), b"GET", "1.1"),
        (drop(b"upgrade"), b"GET", "1.1"),
        (replace(b"upgrade", b"h2c"), b"GET", "1.1"),
        (drop(b"connection"), b"GET", "1.1"),
        (replace(b"connection", b"keep-alive"), b"GET", "1.1"),
        (drop(b"sec-websocket-key"), b"GET", "1.1"),
        (replace(b"sec-websocket-key", b"not base64!"), b"GET", "1.1"),
        (replace(b"sec-websocket-key", base64.b64encode(b"x" * 15)), b"GET", "1.1"),
        (good(sec_websocket_key=KEY), b"GET", "1.1"),  # two keys
        (good(sec_websocket_protocol=b"bad protocol"), b"GET", "1.1"),
        (good(sec_websocket_extensions=b"permessage-deflate; =x"), b"GET", "1.1"),
    ],
)
def test_bad_handshakes_are_400(
    headers: list[tuple[bytes, bytes]], method: bytes, version: str
) -> None:
    with pytest.raises(HandshakeError) as info:
        validate_handshake(request(headers, method, version))
    assert info.value.status == 400


@pytest.mark.parametrize("version", [None, b"8", b"12", b"14", b"13, 8"])
def test_other_versions_are_426(version: bytes | None) -> None:
    headers = drop(b"sec-websocket-version")
    if version is not None:
        headers.append((b"sec-websocket-version", version))
    with pytest.raises(HandshakeError) as info:
        validate_handshake(request(headers))
    assert info.value.status == 426
    assert info.value.headers == [(b"sec-websocket-version", b"13")]


def test_extension_offers_parsed() -> None:
    hs = validate_handshake(
        request(
            good(
                sec_websocket_extensions=b"permessage-deflate; client_max_window_bits, "
                b'permessage-deflate; server_max_window_bits="10", foo'
            )
        )
    )
    assert [(o.name, o.params) for o in hs.extensions] == [
        ("permessage-deflate", [("client_max_window_bits", None)]),
        ("permessage-deflate", [("server_max_window_bits", "10")]),
        ("foo", []),
    ]


# --- RFC 8441: over HTTP/2 ---------------------------------------------------------------


def test_extended_connect_handshake() -> None:
    req = request(
        [
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-protocol", b"chat, v2"),
            (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
        ],
        method=b"CONNECT",
        version="2",
    )
    shake = validate_extended_connect(req)
    # RFC 8441 §5: no key (and no accept) over HTTP/2.
    assert shake.key == b""
    assert shake.subprotocols == ["chat", "v2"]
    assert [offer.name for offer in shake.extensions] == ["permessage-deflate"]


@pytest.mark.parametrize(
    ("headers", "method", "status"),
    [
        ([(b"sec-websocket-version", b"13")], b"GET", 400),
        ([], b"CONNECT", 426),
        ([(b"sec-websocket-version", b"13"), (b"sec-websocket-version", b"13")], b"CONNECT", 426),
        ([(b"sec-websocket-version", b"7")], b"CONNECT", 426),
        ([(b"sec-websocket-version", b"13"), (b"sec-websocket-protocol", b"a@b")], b"CONNECT", 400),
        (
            [(b"sec-websocket-version", b"13"), (b"sec-websocket-extensions", b"x;=")],
            b"CONNECT",
            400,
        ),
    ],
)
def test_extended_connect_errors(
    headers: list[tuple[bytes, bytes]], method: bytes, status: int
) -> None:
    with pytest.raises(HandshakeError) as caught:
        validate_extended_connect(request(headers, method=method, version="2"))
    assert caught.value.status == status
