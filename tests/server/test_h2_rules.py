"""h2_rules without sockets: requests from HEADERS fields, the response framer, budgets."""

from __future__ import annotations

import pytest

from asgi_magic import http11
from asgi_magic.config import Config
from asgi_magic.server.h2_rules import (
    RATE_WINDOW,
    H2Framer,
    H2Limits,
    RateBudget,
    error_fields,
    interim_fields,
    request_from_headers,
)

pytest.importorskip("h2")

LIMITS = H2Limits(Config(app=None, limit_request_body=100))
BASE = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"example.com:8443")]


def build(*fields: tuple[bytes, bytes], path: bytes = b"/a/b?x=1") -> http11.Request:
    request, _, _ = request_from_headers([*BASE, (b":path", path), *fields], LIMITS)
    return request


def test_request_fields() -> None:
    request = build((b"accept", b"*/*"), (b"content-length", b"5"))
    assert request.method == b"GET"
    assert (request.path, request.query, request.target) == (b"/a/b", b"x=1", b"/a/b?x=1")
    assert request.http_version == "2"
    # :authority becomes the host header apps read (RFC 9113 §8.3.1), first.
    assert request.headers[0] == (b"host", b"example.com:8443")
    assert request.host == b"example.com:8443"
    assert (b"accept", b"*/*") in request.headers
    assert all(not name.startswith(b":") for name, _ in request.headers)
    assert request.content_length == 5 and not request.chunked and request.keep_alive


def test_host_header_is_kept_when_sent() -> None:
    request = build((b"host", b"example.com:8443"))
    assert [v for n, v in request.headers if n == b"host"] == [b"example.com:8443"]


def test_expect_continue_is_reported_not_put_in_the_request() -> None:
    request, expect, _ = request_from_headers(
        [*BASE, (b":path", b"/"), (b"expect", b"100-continue")], LIMITS
    )
    assert expect and not request.expect_continue


@pytest.mark.parametrize(
    ("fields", "path", "status"),
    [
        ([(b"x y", b"1")], b"/", 400),  # not a token (h2 lets "(" and SP-free oddities by)
        ([(b"x(", b"1")], b"/", 400),
        ([(b"x", b"a\x01b")], b"/", 400),  # a control other than HTAB
        ([(b"x", b"a\x7fb")], b"/", 400),
        ([], b"/a b", 400),
        ([], b"/\xff", 400),
        ([], b"a/b", 400),
        ([], b"/a#frag", 400),
        ([], b"*", 400),  # only OPTIONS
        ([], b"/" + b"a" * 9000, 414),
        ([(b"content-length", b"1"), (b"content-length", b"2")], b"/", 400),
        ([(b"content-length", b"-1")], b"/", 400),
        ([(b"content-length", b"101")], b"/", 413),
        ([(b"x%d" % i, b"v") for i in range(101)], b"/", 431),
    ],
)
def test_request_errors(fields: list[tuple[bytes, bytes]], path: bytes, status: int) -> None:
    with pytest.raises(http11.ProtocolError) as caught:
        build(*fields, path=path)
    assert caught.value.status == status


def test_options_asterisk_and_connect() -> None:
    request, _, _ = request_from_headers(
        [(b":method", b"OPTIONS"), (b":scheme", b"http"), (b":path", b"*")], LIMITS
    )
    assert request.path == b"*"
    with pytest.raises(http11.ProtocolError) as caught:
        request_from_headers([(b":method", b"CONNECT"), (b":authority", b"a:443")], LIMITS)
    assert caught.value.status == 501


def test_invalid_authority() -> None:
    with pytest.raises(http11.ProtocolError):
        request_from_headers(
            [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"a b")], LIMITS
        )
    with pytest.raises(http11.ProtocolError):
        request_from_headers(
            [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"user@host")], LIMITS
        )


def _framer(method: bytes = b"GET") -> tuple[H2Framer, list[list[tuple[bytes, bytes]]]]:
    heads: list[list[tuple[bytes, bytes]]] = []
    framer = H2Framer(
        method, http11.WriterDefaults([(b"server", b"asgi-magic")]), False, heads.append
    )
    return framer, heads


def test_framer_fields_drop_connection_specific_ones() -> None:
    framer, heads = _framer()
    assert framer.start(200, [(b"Content-Type", b"text/plain"), (b"Connection", b"close"),
                              (b"Transfer-Encoding", b"chunked"), (b"Keep-Alive", b"5")]) == b""  # fmt: skip
    assert heads == [
        [(b":status", b"200"), (b"server", b"asgi-magic"), (b"content-type", b"text/plain")]
    ]
    # No Content-Length: the body passes through unframed (DATA frames it).
    assert framer.body(b"abc", True) == b"abc"
    assert framer.body(b"", False) == b""
    assert not framer.out_of_band_ok


def test_framer_enforces_the_http11_rules() -> None:
    framer, _ = _framer()
    with pytest.raises(http11.ProtocolError):
        framer.start(200, [(b"x", b"a\r\nb")])
    framer, _ = _framer()
    with pytest.raises(http11.ProtocolError):
        framer.start(103, [])  # an interim status is not a final response
    framer, _ = _framer()
    framer.start(200, [(b"content-length", b"3")])
    with pytest.raises(http11.ProtocolError):
        framer.body(b"abcd", False)  # longer than its Content-Length
    framer, _ = _framer(b"HEAD")
    framer.start(200, [(b"content-length", b"3")])
    assert framer.bodiless and framer.body(b"abc", False) == b""


def _trailer_framer(
    method: bytes = b"GET",
) -> tuple[H2Framer, list[list[tuple[bytes, bytes]]]]:
    sections: list[list[tuple[bytes, bytes]]] = []
    framer = H2Framer(method, http11.WriterDefaults(()), False, lambda _: None, sections.append)
    return framer, sections


def test_framer_trailers_are_one_section_with_lower_case_names() -> None:
    framer, sections = _trailer_framer()
    framer.start(200, [(b"trailer", b"x-checksum")], trailers=True)
    assert framer.body(b"hello", False) == b"hello"
    assert not framer.finished  # the announced trailers are owed
    assert framer.trailers([(b"X-Checksum", b" abc ")], more_trailers=True) == b""
    assert sections == [] and not framer.finished
    assert framer.trailers(iter([(b"grpc-status", b"0")])) == b""
    assert framer.finished
    # RFC 9113 §8.1: all trailer fields in one HEADERS block, handed over once.
    assert sections == [[(b"x-checksum", b"abc"), (b"grpc-status", b"0")]]


def test_framer_trailers_use_the_http11_rules() -> None:
    for bad in (
        [(b"content-length", b"5")],  # http11.FORBIDDEN_TRAILERS
        [(b"Host", b"x")],
        [(b"te", b"trailers")],
        [(b":status", b"200")],  # not a token: no pseudo-fields in trailers
        [(b"x-a", b"1\r\nx-b: 2")],
        [(b"x-a", b"\x00")],
        [("x-a", "1")],
        [(b"x-a",)],
        42,
    ):
        framer, sections = _trailer_framer()
        framer.start(200, [], trailers=True)
        framer.body(b"", False)
        with pytest.raises(http11.ProtocolError) as info:
            framer.trailers(bad)  # type: ignore[arg-type]
        assert info.value.status == 500
        assert sections == [] and not framer.finished
    framer, _ = _trailer_framer()
    framer.start(200, [])
    framer.body(b"", False)
    with pytest.raises(http11.ProtocolError):
        framer.trailers([(b"x-a", b"1")])  # not announced in start()


def test_framer_trailers_dropped_without_content_or_fields() -> None:
    framer, sections = _trailer_framer(b"HEAD")
    framer.start(200, [], trailers=True)
    framer.body(b"", False)
    framer.trailers([(b"x-a", b"1")])
    assert framer.finished and sections == []  # HEAD: no content, no trailer section
    framer, sections = _trailer_framer()
    framer.start(200, [], trailers=True)
    framer.body(b"x", False)
    framer.trailers([])
    assert framer.finished and sections == []  # nothing to send: DATA ends the stream


def test_interim_fields() -> None:
    message = http11.informational_response(103, [(b"Link", b"</a.css>; rel=preload")])
    assert interim_fields(message) == [(b":status", b"103"), (b"link", b"</a.css>; rel=preload")]
    assert interim_fields(http11.informational_response(100)) == [(b":status", b"100")]


def test_error_fields() -> None:
    fields, body = error_fields(413, "Content Too Large", http11.WriterDefaults(()), False)
    assert fields[0] == (b":status", b"413")
    assert (b"content-length", b"%d" % len(body)) in fields
    assert not [n for n, _ in fields if n == b"connection"]
    assert body == b"Content Too Large\n"


def test_rate_budget() -> None:
    budget = RateBudget(3)
    assert [budget.spend(0.0) for _ in range(4)] == [False, False, False, True]
    assert not budget.spend(RATE_WINDOW + 0.1)  # a new window


@pytest.mark.parametrize(
    ("scheme", "secure"),
    [(b"https", True), (b"http", False), (b"HTTPS", True), (b"Http", False)],
)
def test_scheme_comes_from_the_scheme_pseudo_field(scheme: bytes, secure: bool) -> None:
    # RFC 9113 §8.3.1; schemes are case-insensitive (RFC 3986 §3.1).
    fields = [(b":method", b"GET"), (b":scheme", scheme), (b":path", b"/")]
    assert request_from_headers(fields, LIMITS)[2] is secure


def test_no_scheme_leaves_it_to_the_connection() -> None:
    fields = [(b":method", b"GET"), (b":path", b"/")]
    assert request_from_headers(fields, LIMITS)[2] is None


@pytest.mark.parametrize(
    "scheme", [b"ftp", b"ws", b"wss", b"", b"https ", b"http:", b"javascript", b"h\x00ttp"]
)
def test_other_schemes_are_refused(scheme: bytes) -> None:
    fields = [(b":method", b"GET"), (b":scheme", scheme), (b":path", b"/")]
    with pytest.raises(http11.ProtocolError) as caught:
        request_from_headers(fields, LIMITS)
    assert caught.value.status == 400
    assert caught.value.reason == "unsupported :scheme"


EXTENDED_CONNECT = [
    (b":method", b"CONNECT"),
    (b":protocol", b"websocket"),
    (b":scheme", b"https"),
    (b":path", b"/chat?room=1"),
    (b":authority", b"example.com"),
    (b"sec-websocket-version", b"13"),
]


def test_extended_connect_for_websocket() -> None:
    # RFC 8441 §4: the request goes on (as a WebSocket handshake), with its path.
    request, _, secure = request_from_headers(EXTENDED_CONNECT, LIMITS)
    assert request.method == b"CONNECT" and secure is True
    assert (request.path, request.query) == (b"/chat", b"room=1")
    assert (b"sec-websocket-version", b"13") in request.headers
    upper = [(n, b"WebSocket" if n == b":protocol" else v) for n, v in EXTENDED_CONNECT]
    assert request_from_headers(upper, LIMITS)[0].method == b"CONNECT"


def test_extended_connect_refused() -> None:
    other = [(n, b"webtransport" if n == b":protocol" else v) for n, v in EXTENDED_CONNECT]
    with pytest.raises(http11.ProtocolError) as caught:
        request_from_headers(other, LIMITS)
    assert caught.value.status == 501
    # --ws none: SETTINGS_ENABLE_CONNECT_PROTOCOL is 0, and a client that sends one
    # anyway (RFC 8441 §3: MUST NOT) is refused.
    no_ws = H2Limits(Config(app=None, ws="none"))
    with pytest.raises(http11.ProtocolError) as caught:
        request_from_headers(EXTENDED_CONNECT, no_ws)
    assert caught.value.status == 501
