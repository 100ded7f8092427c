"""Who owns which response field, on every head the server writes; trailers; 103.

The heads: ``ResponseWriter.start`` (normal responses and the WebSocket denial),
``switching_protocols_response`` (101), ``informational_response`` (1xx) and
``error_response``. Each validates fields the same way and follows one rule: the
server's defaults (Server, ``--header``) give way to a field of the same name, there is
one Date at most, the writer owns framing and Connection, the handshake owns its fields.
"""

from __future__ import annotations

from typing import Any

import pytest

from asgi_magic.http11 import (
    FORBIDDEN_TRAILERS,
    Data,
    EndOfMessage,
    ProtocolError,
    ResponseWriter,
    WriterDefaults,
    _writer,
    error_response,
    informational_response,
    switching_protocols_response,
)
from asgi_magic.websocket import Handshake, accept_headers

from .helpers import collect, same_in_every_split

DEFAULTS = WriterDefaults([(b"server", b"asgi-magic"), (b"x-frame-options", b"DENY")])
HANDSHAKE = accept_headers(Handshake(b"dGhlIHNhbXBsZSBub25jZQ==", ["chat"], []), "chat")

# Header lists that must never reach the wire (issue 10 item 4: response splitting).
INJECTIONS: list[list[tuple[Any, Any]]] = [
    [(b"x-a\r\nset-cookie", b"evil")],  # CR LF inside a name: an extra header line
    [(b"\r\n", b"x")],  # a name of just CR LF: ends the head early
    [(b"", b"x")],  # empty name
    [(b"x a", b"1")],  # not a token
    [(b"x-a:", b"1")],
    [(b"x-a", b"1\r\nset-cookie: evil")],
    [(b"x-a", b"1\n")],
    [(b"x-a", b"\x00")],
    [(b"x-a", b"\x01")],  # other control bytes (RFC 9110 §5.5)
    [(b"x-a", b"\x7f")],
    [("x-a", b"1")],  # not bytes
    [(b"x-a", "1")],
    [(b"x-a", b"1", b"2")],  # not a pair
    [(b"x-a",)],
]


def lines_of(head: bytes) -> list[bytes]:
    assert head.endswith(b"\r\n\r\n")
    return head[:-4].split(b"\r\n")[1:]


def named(head: bytes, name: bytes) -> list[bytes]:
    """The values of every field line called ``name`` (case-insensitive)."""
    out = []
    for line in lines_of(head):
        key, _, value = line.partition(b":")
        if key.lower() == name:
            out.append(value.strip())
    return out


# -- status lines -----------------------------------------------------------------------


@pytest.mark.parametrize("code", [600, 999, 1000, 100, 101, 103, 199, 99])
def test_start_writes_only_final_statuses(code: int) -> None:
    # Issue 10 item 6: an app status of 600 was written as "HTTP/1.1 600".
    with pytest.raises(ProtocolError) as info:
        ResponseWriter(b"GET", "1.1", True).start(code, [])
    assert info.value.status == 500


def test_informational_response_takes_1xx_but_101() -> None:
    assert informational_response(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert informational_response(102) == b"HTTP/1.1 102 Processing\r\n\r\n"
    assert informational_response(199) == b"HTTP/1.1 199 \r\n\r\n"
    for code in (101, 200, 99, True):
        with pytest.raises(ProtocolError):
            informational_response(code)


def test_informational_response_drops_framing_and_connection() -> None:
    raw = informational_response(
        103,
        [
            (b"link", b"</a.css>; rel=preload"),
            (b"content-length", b"5"),
            (b"transfer-encoding", b"chunked"),
            (b"connection", b"close"),
        ],
    )
    # RFC 9110 §8.6 / RFC 9112 §6.1: MUST NOT in a 1xx.
    assert raw == b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"


@pytest.mark.parametrize("headers", INJECTIONS)
def test_informational_response_validates_like_start(headers: list[Any]) -> None:
    with pytest.raises(ProtocolError) as info:
        informational_response(103, headers)
    assert info.value.status == 500


# -- 103 Early Hints (RFC 8297) ---------------------------------------------------------


def test_early_hints_carry_link_fields() -> None:
    links = [
        (b"link", b"</style.css>; rel=preload; as=style"),
        (b"link", b"<https://cdn.example>; rel=preconnect"),
    ]
    assert informational_response(103, links) == (
        b"HTTP/1.1 103 Early Hints\r\n"
        b"link: </style.css>; rel=preload; as=style\r\n"
        b"link: <https://cdn.example>; rel=preconnect\r\n\r\n"
    )


def test_writer_sends_early_hints_only_to_http11_and_before_start() -> None:
    links = [(b"link", b"</a.js>; rel=preload; as=script")]
    writer = ResponseWriter(b"GET", "1.1", True, date_header=False)
    assert writer.informational(103, links) == informational_response(103, links)
    assert writer.informational(103, links)  # may be sent more than once (RFC 8297 §2)
    writer.start(200, [(b"content-length", b"0")])
    with pytest.raises(ProtocolError):
        writer.informational(103, links)
    # RFC 9110 §15.2: a server MUST NOT send a 1xx response to an HTTP/1.0 client.
    old = ResponseWriter(b"GET", "1.0", True, date_header=False)
    assert old.informational(103, links) == b""
    with pytest.raises(ProtocolError):  # still validated
        old.informational(103, [(b"link", b"a\r\nb")])


# -- Connection: the writer owns it ----------------------------------------------------


@pytest.mark.parametrize("version", ["1.1", "1.0"])
@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize(
    "app_value", [None, b"keep-alive", b"Keep-Alive", b"close", b"keep-alive, close", b""]
)
def test_one_connection_field_never_contradicting_itself(
    version: str, keep_alive: bool, app_value: bytes | None
) -> None:
    headers = [(b"content-length", b"0")]
    if app_value is not None:
        headers.append((b"Connection", app_value))
    writer = ResponseWriter(b"GET", version, keep_alive, date_header=False)
    head = writer.start(200, headers)
    values = named(head, b"connection")
    assert len(values) <= 1
    tokens = {t.strip().lower() for t in b",".join(values).split(b",") if t.strip()}
    closes = not keep_alive or (app_value is not None and b"close" in app_value.lower())
    assert writer.keep_alive is not closes
    # Issue 10 item 7: never "keep-alive" next to "close".
    assert not ({b"keep-alive", b"close"} <= tokens)
    if version == "1.1":
        assert tokens == ({b"close"} if closes else set())  # RFC 9112 §9.6
    else:
        assert tokens == (set() if closes else {b"keep-alive"})  # RFC 9112 §9.3


def test_other_connection_options_are_kept_after_ours() -> None:
    headers = [(b"Connection", b"keep-alive, Upgrade"), (b"Upgrade", b"h2c")]
    closing = ResponseWriter(b"GET", "1.1", False, date_header=False)
    assert named(closing.start(426, headers), b"connection") == [b"close, upgrade"]
    open_ = ResponseWriter(b"GET", "1.1", True, date_header=False)
    assert named(open_.start(426, headers), b"connection") == [b"upgrade"]
    old = ResponseWriter(b"GET", "1.0", True, date_header=False)
    head = old.start(200, [(b"connection", b"x-a, x-a"), (b"content-length", b"0")])
    assert named(head, b"connection") == [b"keep-alive, x-a"]


@pytest.mark.parametrize("value", [b"a b", b"close, a=b", b'"q"'])
def test_connection_options_must_be_tokens(value: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        ResponseWriter(b"GET", "1.1", True).start(200, [(b"connection", value)])
    assert info.value.status == 500


@pytest.mark.parametrize("name", [b"content-length", b"Transfer-Encoding", b"connection"])
def test_defaults_may_not_set_writer_owned_fields(name: bytes) -> None:
    defaults = WriterDefaults([(name, b"close" if name == b"connection" else b"chunked")])
    assert defaults.error is not None
    with pytest.raises(ProtocolError) as info:
        ResponseWriter(b"GET", "1.1", True, defaults).start(200, [])
    assert info.value.status == 500


# -- 101 Switching Protocols -----------------------------------------------------------


def test_switching_protocols_head(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_writer, "_clock", lambda: 784111777)
    head = switching_protocols_response([(b"x-app", b"1")], DEFAULTS, True, handshake=HANDSHAKE)
    assert head == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"server: asgi-magic\r\nx-frame-options: DENY\r\n"
        b"date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        b"upgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"sec-websocket-protocol: chat\r\n"
        b"x-app: 1\r\n\r\n"
    )


def test_an_app_date_on_a_101_is_the_only_date() -> None:
    # Issue 10 item 7: an app's own Date on a 101 gave two Date lines.
    head = switching_protocols_response(
        [(b"Date", b"Sun, 06 Nov 1994 08:49:37 GMT")], DEFAULTS, True, handshake=HANDSHAKE
    )
    assert named(head, b"date") == [b"Sun, 06 Nov 1994 08:49:37 GMT"]
    with_default = WriterDefaults([(b"date", b"fixed")])
    head = switching_protocols_response([], with_default, True, handshake=HANDSHAKE)
    assert named(head, b"date") == [b"fixed"]
    assert named(switching_protocols_response([], (), False, handshake=HANDSHAKE), b"date") == []


def test_app_fields_replace_defaults_on_a_101() -> None:
    head = switching_protocols_response(
        [(b"Server", b"mine"), (b"X-Frame-Options", b"SAMEORIGIN")],
        DEFAULTS,
        False,
        handshake=HANDSHAKE,
    )
    assert named(head, b"server") == [b"mine"]
    assert named(head, b"x-frame-options") == [b"SAMEORIGIN"]


@pytest.mark.parametrize(
    "name",
    [
        b"Sec-WebSocket-Accept",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
        b"Upgrade",
        b"Connection",
    ],
)
def test_app_headers_cannot_override_handshake_fields(name: bytes) -> None:
    head = switching_protocols_response(
        [(name, b"forged"), (b"content-length", b"3")], (), False, handshake=HANDSHAKE
    )
    assert b"forged" not in head
    assert named(head, b"upgrade") == [b"websocket"]
    assert named(head, b"connection") == [b"Upgrade"]
    assert named(head, b"sec-websocket-accept") == [b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]
    assert named(head, b"content-length") == []  # RFC 9110 §8.6: never in a 1xx


@pytest.mark.parametrize("headers", INJECTIONS)
def test_switching_protocols_validates_like_start(headers: list[Any]) -> None:
    # Issue 10 item 4: CR LF in a name split the 101; control bytes in values passed.
    with pytest.raises(ProtocolError) as info:
        switching_protocols_response(headers, DEFAULTS, True, handshake=HANDSHAKE)
    assert info.value.status == 500
    with pytest.raises(ProtocolError):
        ResponseWriter(b"GET", "1.1", True).start(200, headers)


@pytest.mark.parametrize(
    "handshake",
    [
        [(b"connection", b"Upgrade")],  # no Upgrade
        [(b"upgrade", b"websocket")],  # no Connection: upgrade
        [(b"upgrade", b"websocket"), (b"connection", b"keep-alive")],
        [(b"upgrade", b"websocket\r\nx: y"), (b"connection", b"upgrade")],
        [(b"upgrade", b"websocket"), (b"connection", b"upgrade"), (b"bad name", b"1")],
    ],
)
def test_switching_protocols_needs_a_valid_handshake(handshake: list[Any]) -> None:
    with pytest.raises(ProtocolError) as info:
        switching_protocols_response([], (), False, handshake=handshake)
    assert info.value.status == 500


def test_invalid_defaults_fail_a_101() -> None:
    with pytest.raises(ProtocolError):
        switching_protocols_response([], [(b"x", b"\r\n")], False, handshake=HANDSHAKE)


# -- error responses honour the defaults ------------------------------------------------


@pytest.mark.parametrize("code", [400, 408, 413, 431, 500, 503])
def test_error_responses_carry_the_default_headers(code: int) -> None:
    # Issue 10 item 7: 400/408/503 ignored --header while the 500 path honoured it.
    raw = error_response(code, "x", defaults=DEFAULTS, date_header=False)
    head = raw[: raw.index(b"\r\n\r\n") + 4]
    assert named(head, b"server") == [b"asgi-magic"]
    assert named(head, b"x-frame-options") == [b"DENY"]
    assert named(head, b"connection") == [b"close"]
    assert named(head, b"date") == []


def test_error_response_owns_its_content_fields_and_one_date(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_writer, "_clock", lambda: 784111777)
    defaults = WriterDefaults(
        [(b"x-content-type-options", b"nosniff"), (b"content-type", b"text/html"), (b"date", b"d")]
    )
    raw = error_response(400, "bad", defaults=defaults)
    head = raw[: raw.index(b"\r\n\r\n") + 4]
    assert named(head, b"x-content-type-options") == [b"nosniff"]
    assert named(head, b"content-type") == [b"text/plain; charset=utf-8"]
    assert named(head, b"date") == [b"d"]
    raw = error_response(400, "bad", defaults=DEFAULTS)
    assert named(raw[: raw.index(b"\r\n\r\n") + 4], b"date") == [b"Sun, 06 Nov 1994 08:49:37 GMT"]


def test_error_response_extra_headers() -> None:
    raw = error_response(
        503, "busy", defaults=DEFAULTS, date_header=False, headers=[(b"retry-after", b"5")]
    )
    assert b"\r\nretry-after: 5\r\n" in raw
    raw = error_response(
        503, "busy", defaults=DEFAULTS, date_header=False, headers=[(b"Server", b"other")]
    )
    assert named(raw[: raw.index(b"\r\n\r\n") + 4], b"server") == [b"other"]
    for bad in ([(b"content-length", b"1")], [(b"connection", b"keep-alive")], INJECTIONS[0]):
        with pytest.raises(ProtocolError):
            error_response(503, "busy", headers=bad)


def test_error_response_survives_invalid_defaults() -> None:
    raw = error_response(400, "bad", defaults=[(b"x-a", b"\r\n")], date_header=False)
    assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\ncontent-type:")


def test_error_response_keeps_the_server_header_keyword() -> None:
    raw = error_response(400, "bad", date_header=False)
    assert named(raw[: raw.index(b"\r\n\r\n") + 4], b"server") == [b"asgi-magic"]
    raw = error_response(400, "bad", date_header=False, server_header=b"other")
    assert named(raw[: raw.index(b"\r\n\r\n") + 4], b"server") == [b"other"]
    assert b"server" not in error_response(400, "bad", server_header=None)


# -- trailers (RFC 9112 §7.1.2, RFC 9110 §6.5) -----------------------------------------


def parse_chunked_body(wire: bytes) -> list[object]:
    """Read a chunked body our writer made back through our own (request) parser."""
    request = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + wire
    return same_in_every_split(request)[1:]


def test_trailers_after_the_last_chunk_when_the_client_asked() -> None:
    writer = ResponseWriter(b"GET", "1.1", True, date_header=False, te_trailers=True)
    head = writer.start(200, [(b"trailer", b"x-checksum")], trailers=True)
    assert b"transfer-encoding: chunked\r\n" in head and writer.trailers_sent
    wire = writer.body(b"hello", True)
    last = writer.body(b"!", False)
    assert last == b"1\r\n!\r\n" and not writer.finished  # the last-chunk is left open
    with pytest.raises(ProtocolError):
        writer.body(b"more", False)
    tail = writer.trailers([(b"x-checksum", b"abc")], more_trailers=True)
    assert tail == b"0\r\nx-checksum: abc\r\n" and not writer.finished
    end = writer.trailers([(b"X-Other", b"1")])
    assert end == b"X-Other: 1\r\n\r\n" and writer.finished and writer.keep_alive
    events = parse_chunked_body(wire + last + tail + end)
    assert events == [
        Data(b"hello!"),
        EndOfMessage([(b"x-checksum", b"abc"), (b"x-other", b"1")]),
        "NEED_DATA",
    ]
    with pytest.raises(ProtocolError):
        writer.trailers([])


def test_empty_trailers_end_the_message() -> None:
    writer = ResponseWriter(b"GET", "1.1", True, date_header=False, te_trailers=True)
    writer.start(200, [], trailers=True)
    assert writer.body(b"", False) == b""
    assert writer.trailers([]) == b"0\r\n\r\n"
    assert writer.finished


@pytest.mark.parametrize(
    ("method", "version", "te", "headers"),
    [
        (b"GET", "1.1", False, []),  # the client did not send TE: trailers
        (b"GET", "1.1", True, [(b"content-length", b"2")]),  # not chunked
        (b"GET", "1.0", True, []),  # close-delimited
        (b"HEAD", "1.1", True, []),  # no body at all
    ],
)
def test_trailers_are_dropped_when_they_cannot_be_sent(
    method: bytes, version: str, te: bool, headers: list[tuple[bytes, bytes]]
) -> None:
    writer = ResponseWriter(method, version, True, date_header=False, te_trailers=te)
    writer.start(200, headers, trailers=True)
    assert not writer.trailers_sent
    wire = writer.body(b"ok", False)
    if headers == [] and version == "1.1" and method == b"GET":
        assert wire == b"2\r\nok\r\n0\r\n\r\n"  # the message ends normally
    assert not writer.finished  # the application still owes its trailers message
    with pytest.raises(ProtocolError):  # dropped, but still validated
        writer.trailers([(b"content-type", b"text/plain")])
    assert writer.trailers([(b"x-checksum", b"abc")]) == b""
    assert writer.finished


def test_trailers_need_announcing_and_come_after_the_body() -> None:
    plain = ResponseWriter(b"GET", "1.1", True, te_trailers=True)
    plain.start(200, [])
    plain.body(b"x", True)
    with pytest.raises(ProtocolError, match="not announced"):
        plain.trailers([])
    assert plain.body(b"", False) == b"0\r\n\r\n" and plain.finished
    early = ResponseWriter(b"GET", "1.1", True, te_trailers=True)
    early.start(200, [], trailers=True)
    with pytest.raises(ProtocolError, match="before the end"):
        early.trailers([])


def test_out_of_band_body_then_dropped_trailers() -> None:
    writer = ResponseWriter(b"GET", "1.1", True, date_header=False, te_trailers=True)
    writer.start(200, [(b"content-length", b"3")], trailers=True)
    writer.out_of_band(3)
    assert not writer.finished
    assert writer.trailers([(b"x-a", b"1")]) == b"" and writer.finished


@pytest.mark.parametrize("name", sorted(FORBIDDEN_TRAILERS))
def test_fields_forbidden_in_trailers_are_refused(name: bytes) -> None:
    writer = ResponseWriter(b"GET", "1.1", True, te_trailers=True)
    writer.start(200, [], trailers=True)
    writer.body(b"", False)
    with pytest.raises(ProtocolError) as info:
        writer.trailers([(b"x-ok", b"1"), (name.title(), b"1")])
    assert info.value.status == 500 and "6.5.1" in info.value.reason
    assert writer.trailers([(b"x-ok", b"1")]) == b"0\r\nx-ok: 1\r\n\r\n"  # nothing was written


def test_the_forbidden_list_covers_the_rfc_categories() -> None:
    for name in (
        b"content-length",
        b"transfer-encoding",
        b"host",
        b"cache-control",
        b"authorization",
        b"www-authenticate",
        b"set-cookie",
        b"date",
        b"location",
        b"retry-after",
        b"content-encoding",
        b"content-type",
        b"content-range",
        b"trailer",
    ):
        assert name in FORBIDDEN_TRAILERS
    # RFC 9110 §11.6.3: Authentication-Info may be sent as a trailer field.
    assert b"authentication-info" not in FORBIDDEN_TRAILERS


@pytest.mark.parametrize("fields", INJECTIONS)
def test_trailer_fields_are_validated_like_headers(fields: list[Any]) -> None:
    writer = ResponseWriter(b"GET", "1.1", True, te_trailers=True)
    writer.start(200, [], trailers=True)
    writer.body(b"", False)
    with pytest.raises(ProtocolError) as info:
        writer.trailers(fields)
    assert info.value.status == 500


# -- the request side: TE: trailers ----------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (b"", False),
        (b"TE: trailers\r\n", True),
        (b"TE: gzip;q=0.5, Trailers\r\n", True),
        (b"TE: gzip\r\nTE: trailers\r\n", True),
        (b"TE: ,trailers,\r\n", True),
        (b"TE: gzip\r\n", False),
        (b"TE: trailersx\r\n", False),
        (b"X-TE: trailers\r\n", False),
    ],
)
def test_request_te_trailers(fields: bytes, expected: bool) -> None:
    raw = b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n"
    request = same_in_every_split(raw)[0]
    assert request.te_trailers is expected  # type: ignore[attr-defined]


def test_te_trailers_is_ignored_for_http10() -> None:
    request = collect([b"GET / HTTP/1.0\r\nTE: trailers\r\n\r\n"])[0]
    assert request.te_trailers is False  # type: ignore[attr-defined]


@pytest.mark.parametrize("more", [1, "yes", [0]])
def test_more_trailers_is_read_for_truth_in_both_builds(more: object) -> None:
    # The app's value (asgiref www.rst: a bool) is read for truth, as more_body is: the
    # compiled build once raised TypeError for a non-bool where pure Python went on.
    writer = ResponseWriter(b"GET", "1.1", True, date_header=False, te_trailers=True)
    writer.start(200, [(b"trailer", b"x-a")], trailers=True)
    writer.body(b"x", False)
    assert writer.trailers([(b"x-a", b"1")], more) == b"0\r\nx-a: 1\r\n"
    assert not writer.finished
