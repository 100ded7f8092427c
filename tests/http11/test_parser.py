"""RequestParser: every rule of RFC 9112 §2-§9 the parser enforces, fed in every split."""

from __future__ import annotations

import pytest

from asgi_magic.http11 import (
    NEED_DATA,
    PAUSED,
    Data,
    EndOfMessage,
    Limits,
    ProtocolError,
    Request,
    RequestParser,
)

from .helpers import collect, error_of, parse_one, same_in_every_split

SIMPLE = b"GET /index.html?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"


def head(*lines: bytes, version: bytes = b"HTTP/1.1", target: bytes = b"/") -> bytes:
    return (
        b"GET "
        + target
        + b" "
        + version
        + b"\r\n"
        + b"".join(line + b"\r\n" for line in lines)
        + b"\r\n"
    )


# -- valid requests ----------------------------------------------------------------------


def test_simple_get_fills_every_field() -> None:
    events = same_in_every_split(SIMPLE)
    request, end, tail = events
    assert isinstance(request, Request)
    assert request.method == b"GET"
    assert request.target == b"/index.html?x=1&y=2"
    assert request.path == b"/index.html"
    assert request.query == b"x=1&y=2"
    assert request.http_version == "1.1"
    assert request.headers == [(b"host", b"example.com"), (b"accept", b"*/*")]
    assert request.host == b"example.com"
    assert request.keep_alive is True
    assert request.expect_continue is False
    assert request.upgrade is None
    assert request.content_length is None
    assert request.chunked is False
    assert end == EndOfMessage()
    assert tail == "NEED_DATA"


def test_event_order_and_paused_until_next_cycle() -> None:
    parser = RequestParser()
    parser.feed(SIMPLE + SIMPLE)
    assert isinstance(parser.next_event(), Request)
    assert isinstance(parser.next_event(), EndOfMessage)
    assert parser.next_event() is PAUSED
    assert parser.next_event() is PAUSED
    assert parser.trailing_data == SIMPLE
    parser.start_next_cycle()
    assert isinstance(parser.next_event(), Request)
    assert isinstance(parser.next_event(), EndOfMessage)
    assert parser.next_event() is PAUSED
    parser.start_next_cycle()
    assert parser.next_event() is NEED_DATA


def test_start_next_cycle_before_end_is_a_caller_bug() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab")
    assert isinstance(parser.next_event(), Request)
    with pytest.raises(RuntimeError):
        parser.start_next_cycle()


def test_header_names_lowercased_values_ows_stripped_duplicates_kept() -> None:
    request = parse_one(
        head(b"Host: h", b"X-Thing: \t a b \t", b"x-thing:c", b"Empty:", b"Obs: caf\xc3\xa9\xff")
    )
    assert request.headers == [
        (b"host", b"h"),
        (b"x-thing", b"a b"),
        (b"x-thing", b"c"),
        (b"empty", b""),
        (b"obs", b"caf\xc3\xa9\xff"),  # obs-text allowed in values (RFC 9110 §5.5)
    ]


def test_method_is_case_sensitive_and_any_token() -> None:
    request = parse_one(b"get / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert request.method == b"get"
    request = parse_one(b"M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n".replace(b"*", b"/x"))
    assert request.method == b"M-SEARCH"


def test_http10_defaults_to_close_and_needs_no_host() -> None:
    request = parse_one(b"GET / HTTP/1.0\r\n\r\n")
    assert request.http_version == "1.0"
    assert request.keep_alive is False
    assert request.host is None
    request = parse_one(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
    assert request.keep_alive is True


@pytest.mark.parametrize(
    ("value", "keep_alive"),
    [
        (b"close", False),
        (b"Close", False),
        (b"keep-alive, CLOSE", False),
        (b"upgrade ,close", False),
        (b"keep-alive", True),
        (b"closed", True),
        (b"", True),
    ],
)
def test_connection_is_a_case_insensitive_list(value: bytes, keep_alive: bool) -> None:
    assert parse_one(head(b"Host: a", b"Connection: " + value)).keep_alive is keep_alive


def test_connection_close_in_a_second_field_counts() -> None:
    assert parse_one(head(b"Host: a", b"Connection: foo", b"Connection: close")).keep_alive is False
    request = parse_one(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")
    assert request.keep_alive is False


def test_expect_100_continue_reported_only_for_http11() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nhi"
    assert parse_one(data).expect_continue is True
    data10 = b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"
    assert parse_one(data10).expect_continue is False
    assert parse_one(head(b"Host: a", b"Expect: something")).expect_continue is False


def test_upgrade_reported_only_when_connection_lists_it() -> None:
    data = head(b"Host: a", b"Connection: Upgrade", b"Upgrade: WebSocket")
    assert parse_one(data).upgrade == b"websocket"
    assert parse_one(head(b"Host: a", b"Upgrade: websocket")).upgrade is None
    ten = b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
    assert parse_one(ten).upgrade is None


def test_trailing_data_after_upgrade() -> None:
    frames = b"\x81\x85\x00\x00\x00\x00hello"
    parser = RequestParser()
    parser.feed(head(b"Host: a", b"Connection: upgrade", b"Upgrade: websocket") + frames)
    request = parser.next_event()
    assert isinstance(request, Request) and request.upgrade == b"websocket"
    assert isinstance(parser.next_event(), EndOfMessage)
    assert parser.next_event() is PAUSED
    assert parser.trailing_data == frames


def test_leading_empty_lines_are_ignored() -> None:
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request.
    events = same_in_every_split(b"\r\n\r\n" + SIMPLE)
    assert isinstance(events[0], Request)
    assert collect([b"\r\n"]) == ["NEED_DATA"]


# -- request targets ----------------------------------------------------------------------


def test_absolute_form_takes_host_from_target() -> None:
    request = parse_one(head(b"Host: other", target=b"http://Example.com:8080/p/a?q=1"))
    assert request.host == b"Example.com:8080"
    assert request.path == b"/p/a"
    assert request.query == b"q=1"
    assert request.target == b"http://Example.com:8080/p/a?q=1"


def test_absolute_form_with_empty_path_is_slash() -> None:
    request = parse_one(head(b"Host: a", target=b"https://a.example?x"))
    assert (request.path, request.query) == (b"/", b"x")


@pytest.mark.parametrize(
    "target",
    [
        b"http:///path",  # empty host (RFC 9110 §4.2.1)
        b"http://user@host/",  # userinfo (RFC 9110 §4.2.4)
        b"ftp://host/",
        b"http://ho st/".replace(b" ", b"%20%"),
        b"relative/path",
        b"/a#frag",
        b"/a?b#frag",
        b"/a#frag?b",
        b"/#",
        b"http://host/a#frag",
        b"http://host/a?b#frag",
        b"http://host#frag",
        b"http://host/a\tb",
    ],
)
def test_bad_targets_are_400(target: bytes) -> None:
    assert error_of(head(b"Host: a", target=target)) == 400


def test_asterisk_form_only_for_options() -> None:
    request = parse_one(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (request.target, request.path, request.query) == (b"*", b"*", b"")
    assert error_of(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n") == 400


def test_connect_authority_form_is_501() -> None:
    assert error_of(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n") == 501
    assert error_of(b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n") == 501


def test_fragment_in_the_query_is_refused_before_connect() -> None:
    # The order of the checks is part of the behaviour: a "#" in the query is a 400
    # before CONNECT is looked at, one in the path comes after the 501.
    assert error_of(b"CONNECT /a?b#c HTTP/1.1\r\nHost: a\r\n\r\n") == 400
    assert error_of(b"CONNECT /a#b HTTP/1.1\r\nHost: a\r\n\r\n") == 501
    assert error_of(b"CONNECT /a#b?c HTTP/1.1\r\nHost: a\r\n\r\n") == 501


def test_target_with_obs_text_is_400() -> None:
    assert error_of(head(b"Host: a", target=b"/caf\xc3\xa9")) == 400


# -- request line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"GET  / HTTP/1.1", 400),  # two spaces
        (b"GET /  HTTP/1.1", 400),
        (b" GET / HTTP/1.1", 400),
        (b"GET / HTTP/1.1 ", 400),
        (b"GET\t/ HTTP/1.1", 400),
        (b"GET /\tx HTTP/1.1", 400),
        (b"GET / HTTP/1.1\x00", 400),
        (b"G(T / HTTP/1.1", 400),  # method not a token
        (b"GET / http/1.1", 400),  # version is case-sensitive
        (b"GET / HTTP/1", 400),
        (b"GET / HTTP/1.1.1", 400),
        (b"GET / FOO/1.1", 400),
        (b"GET / HTTP/2.0", 505),
        (b"GET / HTTP/1.2", 505),
        (b"GET / HTTP/0.9", 505),
        (b"GET /", 400),
        (b"GET", 400),
        (b"/ HTTP/1.1", 400),
    ],
)
def test_bad_request_lines(line: bytes, status: int) -> None:
    assert error_of(line + b"\r\nHost: a\r\n\r\n") == status


# -- fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        (b"Host : a",),  # whitespace between name and colon (RFC 9112 §5.1)
        (b"Host\t: a",),
        (b"Host: a", b" folded"),  # obs-fold (RFC 9112 §5.2)
        (b"Host: a", b"X: a", b"\tfolded"),
        (b"Host: a", b"X-A: b\x00c"),  # NUL
        (b"Host: a", b"X-A: b\rc"),  # bare CR
        (b"Host: a", b"X-A: b\x7f"),  # DEL
        (b"Host: a", b"X-A: b\x01"),
        (b"Host: a", b"X(A): b"),  # name not a token
        (b"Host: a", b": b"),  # empty name
        (b"Host: a", b"no colon here"),
        (b"Host: a", b"nocolon"),
        (b"host",),  # a special name but no colon
        (b"Host: a", b"X\xff: b"),
    ],
)
def test_bad_field_lines_are_400(lines: tuple[bytes, ...]) -> None:
    assert error_of(head(*lines)) == 400


def test_bare_lf_is_400_even_before_the_head_ends() -> None:
    assert error_of(b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n") == 400
    # A client using bare LF only never sends CRLFCRLF: answer at once, do not wait.
    assert collect([b"GET / HTTP/1.1\nHost: a\n"]) == [("error", 400)]


@pytest.mark.parametrize(
    "lines",
    [
        (),  # no Host
        (b"Host: a", b"Host: a"),  # two Host lines
        (b"Host: a b",),  # invalid Host value
        (b"Host: a/b",),
        (b"Host: a@b",),
    ],
)
def test_host_rules_are_400(lines: tuple[bytes, ...]) -> None:
    # RFC 9112 §3.2: MUST 400 without Host, with two, or with an invalid value.
    assert error_of(head(*lines)) == 400


def test_valid_host_forms() -> None:
    for host in (b"example.com", b"example.com:80", b"[::1]:8000", b"127.0.0.1", b""):
        assert parse_one(head(b"Host: " + host)).host == host


def test_two_hosts_rejected_in_http10_too() -> None:
    assert error_of(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n") == 400


# -- limits -------------------------------------------------------------------------------------


def test_request_line_limit_is_414() -> None:
    limits = Limits(max_request_line=64)
    ok = b"GET /" + b"a" * (64 - 14) + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert len(ok.split(b"\r\n")[0]) == 64
    assert isinstance(parse_one(ok, limits), Request)
    long = b"GET /" + b"a" * (65 - 14) + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert error_of(long, limits) == 414


def test_request_line_without_crlf_is_refused_before_buffering_more() -> None:
    limits = Limits(max_request_line=100)
    parser = RequestParser(limits)
    parser.feed(b"GET /" + b"a" * 90)
    assert parser.next_event() is NEED_DATA
    with pytest.raises(ProtocolError) as info:
        parser.feed(b"a" * 20)  # feed itself refuses: never buffered
    assert info.value.status == 414
    with pytest.raises(ProtocolError):
        parser.next_event()  # terminal
    assert parser.trailing_data == b""


def test_head_limit_is_431_including_while_waiting() -> None:
    limits = Limits(max_head=200)
    data = head(b"Host: a", b"X: " + b"v" * 150)
    assert len(data) <= 200
    assert isinstance(parse_one(data, limits), Request)
    big = head(b"Host: a", b"X: " + b"v" * 200)
    assert error_of(big, limits) == 431
    parser = RequestParser(limits)
    with pytest.raises(ProtocolError) as info:
        parser.feed(big[:-4])  # no end of head yet, already over the limit
    assert info.value.status == 431


def test_default_limits() -> None:
    assert Limits() == Limits(8192, 65536, 100, None, 16, 4096, 16384)
    with pytest.raises(ValueError):
        Limits(max_fields=0)
    with pytest.raises(ValueError):
        Limits(max_body=-1)


def test_field_count_limit_is_431() -> None:
    limits = Limits(max_fields=5)
    fields = [b"Host: a"] + [b"X-%d: v" % i for i in range(4)]
    assert len(parse_one(head(*fields), limits).headers) == 5
    assert error_of(head(*fields, b"X-9: v"), limits) == 431


def test_huge_head_fed_at_once_is_431() -> None:
    data = head(b"Host: a", *([b"X: " + b"v" * 1000] * 70))
    assert error_of(data, every_split=False) == 431
    assert len(data) > 65536


def test_declared_body_over_limit_is_413_at_once() -> None:
    limits = Limits(max_body=10)
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
    assert error_of(data, limits) == 413
    ok = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"
    events = same_in_every_split(ok, limits)
    assert events[1] == Data(b"0123456789")


def test_chunked_body_over_limit_is_413_when_total_passes() -> None:
    limits = Limits(max_body=10)
    base = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    ok = base + b"5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"
    assert same_in_every_split(ok, limits)[1] == Data(b"0123456789")
    events = collect([base + b"5\r\n01234\r\n6\r\n"], limits)
    assert events[-1] == ("error", 413)
    assert events[1] == Data(b"01234")  # what came before the limit was delivered


# -- framing: Content-Length ------------------------------------------------------------------


def test_content_length_body() -> None:
    data = b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
    request, body, end, _tail = same_in_every_split(data)
    assert isinstance(request, Request) and request.content_length == 11
    assert body == Data(b"hello world")
    assert end == EndOfMessage()


def test_content_length_zero_and_identical_repeats() -> None:
    request, end, _ = same_in_every_split(head(b"Host: a", b"Content-Length: 0"))
    assert isinstance(request, Request) and request.content_length == 0 and end == EndOfMessage()
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 003\r\n\r\nabc"
    assert parse_one(data).content_length == 3


@pytest.mark.parametrize(
    "value",
    [b"+5", b"-5", b"5 5", b"0x5", b"a", b"", b"5, 6", b"5,", b"1.0", b"\xd9\xa5"],
)
def test_bad_content_length_is_400(value: bytes) -> None:
    assert error_of(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + value + b"\r\n\r\n") == 400


def test_differing_repeated_content_length_is_400() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
    assert error_of(data) == 400


def test_overflow_sized_content_length_is_413() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"9" * 40 + b"\r\n\r\n"
    assert error_of(data) == 413


def test_body_does_not_swallow_the_next_request() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + SIMPLE
    events = same_in_every_split(data)
    assert events[1] == Data(b"abc")
    assert isinstance(events[3], Request) and events[3].target == b"/index.html?x=1&y=2"


def test_whole_buffer_of_body_is_handed_over_without_copy() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n")
    assert isinstance(parser.next_event(), Request)
    assert parser.next_event() is NEED_DATA
    chunk = b"x" * 60
    parser.feed(chunk)
    event = parser.next_event()
    assert isinstance(event, Data) and event.data is chunk


# -- framing: Transfer-Encoding ------------------------------------------------------------------

CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_chunked_body_with_extensions_and_trailers() -> None:
    data = (
        CHUNKED
        + b"5;name=value\r\nhello\r\n"
        + b'1 ; a="q"\r\n \r\n'
        + b"A\r\n0123456789\r\n"
        + b"0\r\nX-Sum: abc\r\nX-Other:  d \r\n\r\n"
    )
    request, body, end, tail = same_in_every_split(data)
    assert isinstance(request, Request) and request.chunked and request.content_length is None
    assert body == Data(b"hello 0123456789")
    assert end == EndOfMessage([(b"x-sum", b"abc"), (b"x-other", b"d")])
    assert tail == "NEED_DATA"


def test_chunked_then_pipelined_request() -> None:
    events = same_in_every_split(CHUNKED + b"3\r\nabc\r\n0\r\n\r\n" + SIMPLE)
    assert events[1] == Data(b"abc") and events[2] == EndOfMessage()
    assert isinstance(events[3], Request)


def test_transfer_encoding_case_insensitive() -> None:
    data = CHUNKED.replace(b"chunked", b"Chunked") + b"0\r\n\r\n"
    assert parse_one(data).chunked


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (b"xchunked", 400),
        (b"chunked, chunked", 400),
        (b"chunked,", 400),
        (b", chunked", 400),
        (b"chun\tked", 400),
        (b"chunked\x0b", 400),
        (b"chunked;q=1", 400),
        (b"chunked, gzip", 400),  # chunked not last (RFC 9112 §6.3)
        (b"identity", 400),
        (b"gzip, chunked", 501),  # a coding we do not decode
        (b"foo, chunked", 501),
    ],
)
def test_transfer_encoding_obfuscations(value: bytes, status: int) -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + value + b"\r\n\r\n0\r\n\r\n"
    assert error_of(data) == status


def test_transfer_encoding_split_over_two_fields() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert error_of(data) == 501
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert error_of(data) == 400


def test_transfer_encoding_with_content_length_is_400() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert error_of(data) == 400


def test_transfer_encoding_in_http10_is_400() -> None:
    assert error_of(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400


@pytest.mark.parametrize(
    "chunks",
    [
        b"0x5\r\nhello\r\n0\r\n\r\n",  # 0x prefix
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",  # whitespace without an extension
        b"\r\nhello\r\n0\r\n\r\n",  # empty size
        b"g\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",  # missing CRLF after data (size lied)
        b"5\r\nhello\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",  # bare LF after size
        b"5\r\nhello\r\n0\r\nX: a\nY: b\r\n\r\n",  # bare LF in trailers
        b"5\r\nhello\r\n0\r\nX : a\r\n\r\n",  # trailer field rules
        b"5\r\nhello\r\n0\r\n folded\r\n\r\n",
        b"5;a\x00\r\nhello\r\n0\r\n\r\n",  # NUL in extension
        b"1" + b"0" * 16 + b"\r\n",  # 17 hex digits: overflow
    ],
)
def test_bad_chunked_bodies_are_400(chunks: bytes) -> None:
    assert error_of(CHUNKED + chunks) == 400


def test_chunk_size_digits_bound() -> None:
    ok = CHUNKED + b"0000000000000005\r\nhello\r\n0\r\n\r\n"  # 16 digits: fine
    assert same_in_every_split(ok)[1] == Data(b"hello")
    limits = Limits(max_chunk_size_digits=4)
    assert error_of(CHUNKED + b"00005\r\nhello\r\n0\r\n\r\n", limits) == 400


def test_chunk_extension_bound() -> None:
    limits = Limits(max_chunk_ext=20)
    ok = CHUNKED + b"5;" + b"a" * 19 + b"\r\nhello\r\n0\r\n\r\n"
    assert same_in_every_split(ok, limits)[1] == Data(b"hello")
    assert error_of(CHUNKED + b"5;" + b"a" * 20 + b"\r\nhello\r\n0\r\n\r\n", limits) == 400
    # An extension that never ends is refused once over the bound, not buffered forever.
    parser = RequestParser(limits)
    parser.feed(CHUNKED)
    assert isinstance(parser.next_event(), Request)
    parser.feed(b"5;" + b"a" * 100)
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 400


def test_trailer_bounds_are_431() -> None:
    limits = Limits(max_trailer_size=50, max_fields=3)
    ok = CHUNKED + b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
    assert same_in_every_split(ok, limits)[1] == EndOfMessage(
        [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]
    )
    assert error_of(CHUNKED + b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits) == 431
    assert error_of(CHUNKED + b"0\r\nA: " + b"x" * 60 + b"\r\n\r\n", limits) == 431


# -- end of stream and terminal errors -------------------------------------------------------------


def test_eof_between_requests_is_quiet() -> None:
    assert collect([SIMPLE], eof=True)[-1] == "NEED_DATA"
    assert collect([b""], eof=True) == ["NEED_DATA"]
    assert collect([b"\r\n"], eof=True) == ["NEED_DATA"]


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HT",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab",
        CHUNKED + b"5\r\nab",
        CHUNKED + b"5\r\nhello\r\n",
        CHUNKED + b"0\r\nX: y\r\n",
    ],
)
def test_eof_mid_request_is_400(data: bytes) -> None:
    assert collect([data], eof=True)[-1] == ("error", 400)


def test_eof_while_paused_keeps_paused() -> None:
    parser = RequestParser()
    parser.feed(SIMPLE)
    parser.next_event()
    parser.next_event()
    parser.feed_eof()
    assert parser.next_event() is PAUSED


def test_error_is_terminal_and_carries_status_and_reason() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n" + SIMPLE)
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 400
    assert info.value.reason == "whitespace between header name and colon"
    assert repr(info.value) == "ProtocolError(400, 'whitespace between header name and colon')"
    parser.feed(SIMPLE)  # ignored
    with pytest.raises(ProtocolError) as again:
        parser.next_event()
    assert again.value is info.value
    assert parser.trailing_data == b""


def test_error_reasons_are_short_and_specific() -> None:
    cases = {
        head(b"Host: a", b" x"): "obsolete line folding in header section",
        head(b"Host: a", b"X: \x00"): "NUL in header field",
        head(): "missing Host header",
        head(b"Host: a", b"Host: b"): "more than one Host header",
    }
    for data, reason in cases.items():
        parser = RequestParser()
        parser.feed(data)
        with pytest.raises(ProtocolError) as info:
            parser.next_event()
        assert info.value.reason == reason


def test_feeding_bytearray_and_memoryview_works() -> None:
    parser = RequestParser()
    parser.feed(bytearray(SIMPLE[:10]))  # type: ignore[arg-type]
    parser.feed(memoryview(SIMPLE[10:]))  # type: ignore[arg-type]
    request = parser.next_event()
    assert isinstance(request, Request) and type(request.method) is bytes


def test_userinfo_in_absolute_form_has_its_own_reason() -> None:
    parser = RequestParser()
    parser.feed(head(b"Host: a", target=b"http://user:pw@host/"))
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert (info.value.status, info.value.reason) == (400, "userinfo in request target")


def test_crlf_after_a_body_before_the_next_request_is_ignored() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\r\n" + SIMPLE
    events = same_in_every_split(data)
    assert events[1] == Data(b"hi") and isinstance(events[3], Request)


def test_pipelined_bytes_are_kept_while_paused() -> None:
    # While PAUSED the parser only buffers (the server stops reading meanwhile); the
    # head limits apply when the next cycle starts.
    parser = RequestParser(Limits(max_head=100))
    parser.feed(SIMPLE)
    parser.next_event()
    parser.next_event()
    parser.feed(b"GET /" + b"a" * 200)
    assert parser.next_event() is PAUSED
    parser.start_next_cycle()
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 431


def test_parse_caches_stay_bounded_and_never_hold_credentials() -> None:
    from asgi_magic.http11 import _headers, _parser

    for i in range(3000):
        request = parse_one_fast(
            head(
                b"Host: h%d" % i,
                b"X-N-%d: v" % i,
                b"X-Same: %d" % i,
                b"Cookie: session=%d" % i,
                b"Authorization: Bearer %d" % i,
            )
        )
        assert request.headers[1] == (b"x-n-%d" % i, b"v")
        assert request.headers[2] == (b"x-same", b"%d" % i)
        assert request.headers[3] == (b"cookie", b"session=%d" % i)
    assert len(_parser._LINE_CACHE) <= _parser._LINE_CACHE_SIZE
    assert len(_parser._VALID_HOSTS) <= _parser._VALID_HOSTS_SIZE
    assert len(_headers._NAME_CACHE) <= _headers._NAME_CACHE_SIZE
    assert len(_parser._SPECIAL_LINES) <= _parser._SPECIAL_LINES_SIZE
    cached_names = {name for name, _ in _parser._LINE_CACHE.values()}
    assert not cached_names & {b"cookie", b"authorization", b"host"}
    special_names = {name for name, _ in _parser._SPECIAL_LINES.values()}
    assert special_names <= _headers.SPECIAL_FIELDS


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ((b"Host: a", b"Host: a"), 400),  # RFC 9112 §3.2: more than one Host
        ((b"Host: a", b"Content-Length: 3", b"Content-Length: 4"), 400),  # RFC 9112 §6.3
        ((b"Host: a", b"Transfer-Encoding: chunked", b"Content-Length: 3"), 400),
        ((b"Host: a b",), 400),  # invalid Host value
        ((b"Host: a", b"Transfer-Encoding: gzip, chunked"), 501),  # RFC 9112 §6.1
        ((b"Connection: close",), 400),  # no Host at all
    ],
)
def test_cached_special_lines_are_acted_on_every_time(
    lines: tuple[bytes, ...], status: int
) -> None:
    # Host, Content-Length, Transfer-Encoding … lines are cached too, but the parser must
    # still count and interpret them on every request, not only the first time.
    for _ in range(3):
        parser = RequestParser()
        parser.feed(head(*lines))
        with pytest.raises(ProtocolError) as info:
            parser.next_event()
        assert info.value.status == status


def test_cached_special_lines_frame_every_request() -> None:
    parser = RequestParser()
    post = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
    chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    for _ in range(3):
        for data, body in ((post, b"abc"), (chunked, b"3\r\nxyz\r\n0\r\n\r\n")):
            parser.feed(data + body)
            request = parser.next_event()
            assert isinstance(request, Request)
            assert request.host == b"a"
            assert (request.content_length, request.chunked) == (
                (3, False) if data is post else (None, True)
            )
            assert request.keep_alive is (data is not post)
            events = []
            while not isinstance(event := parser.next_event(), EndOfMessage):
                assert isinstance(event, Data)
                events.append(event.data)
            assert b"".join(events) == (b"abc" if data is post else b"xyz")
            parser.start_next_cycle()


def test_cached_lines_give_the_same_result_as_new_ones() -> None:
    data = head(b"Host: a", b"User-Agent:  Mozilla/5.0 ", b"ACCEPT: */*")
    first = parse_one_fast(data)
    second = parse_one_fast(data)
    assert first == second
    assert first.headers == [(b"host", b"a"), (b"user-agent", b"Mozilla/5.0"), (b"accept", b"*/*")]
    # A cached valid line does not make an invalid neighbour acceptable.
    assert error_of(head(b"Host: a", b"User-Agent:  Mozilla/5.0 ", b"Bad : x")) == 400


@pytest.mark.parametrize("bad", [b"\x00", b"\r", b"\n", b"\x7f", b"\x01", b"\x1f"])
def test_a_warm_line_cache_never_admits_a_bad_byte(bad: bytes) -> None:
    # Only lines not in the cache are checked byte by byte, so a line that differs from
    # a cached one by a single bad byte, anywhere, must still be refused (RFC 9110 §5.5).
    good = (b"Host: a", b"User-Agent: Mozilla/5.0", b"Accept: */*", b"X-Z: z")
    for _ in range(2):
        parse_one_fast(head(*good))
    for i in range(len(good)):
        for at in (0, 3, len(good[i])):
            lines = list(good)
            lines[i] = good[i][:at] + bad + good[i][at:]
            parser = RequestParser()
            parser.feed(head(*lines))
            with pytest.raises(ProtocolError) as info:
                parser.next_event()
            assert info.value.status == 400, lines


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (b"/a\tb", "invalid request target"),
        (b"/caf\xc3\xa9", "invalid request target"),
        (b"/a\x01b", "invalid character in request line"),
        (b"/a\x7f", "invalid character in request line"),
        (b"/a\x00", "invalid character in request line"),
        (b"/a\rb", "invalid character in request line"),
        (b"/a#\x01", "invalid character in request line"),
        (b"/a\x01#", "invalid character in request line"),
        (b"/a#b", "fragment in request target"),
    ],
)
def test_bad_bytes_in_the_target_have_their_reason(target: bytes, reason: str) -> None:
    parser = RequestParser()
    parser.feed(head(b"Host: a", target=target))
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert (info.value.status, info.value.reason) == (400, reason)


def test_a_fragment_is_judged_after_the_host_rules() -> None:
    # The order of the checks is behaviour too: RFC 9112 §3.2's Host rules come first.
    for data, reason in (
        (head(target=b"/a#b"), "missing Host header"),
        (head(b"Host: a", b"Host: b", target=b"/a?b#c"), "more than one Host header"),
        (head(b"Host: a", target=b"/a?b#c"), "fragment in request target"),
    ):
        parser = RequestParser()
        parser.feed(data)
        with pytest.raises(ProtocolError) as info:
            parser.next_event()
        assert info.value.reason == reason


def test_a_bad_byte_reason_comes_from_the_first_bad_line() -> None:
    parser = RequestParser()
    parser.feed(head(b"Host: a", b"X-A: b\x00", b"Bad : x"))
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.reason == "NUL in header field"
    parser = RequestParser()
    parser.feed(head(b"Host: a", b"Bad : x", b"X-A: b\x00"))
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.reason == "whitespace between header name and colon"


def parse_one_fast(data: bytes) -> Request:
    parser = RequestParser()
    parser.feed(data)
    request = parser.next_event()
    assert isinstance(request, Request)
    return request


# -- a head repeated on a kept-alive connection gives an independent Request ---------------


def _next_request(parser: RequestParser, data: bytes) -> Request:
    parser.feed(data)
    event = parser.next_event()
    assert isinstance(event, Request)
    assert isinstance(parser.next_event(), EndOfMessage)
    parser.start_next_cycle()
    return event


def test_repeated_head_gives_an_equal_request_with_its_own_headers_list() -> None:
    parser = RequestParser()
    data = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nConnection: close\r\n\r\n"
    first = _next_request(parser, data)
    first.headers.append((b"x-injected", b"by the app"))
    first.headers[0] = (b"host", b"changed")
    second = _next_request(parser, data)
    assert second.headers == [(b"host", b"x"), (b"x-a", b"1"), (b"connection", b"close")]
    assert second.headers is not first.headers
    assert (second.method, second.path, second.query, second.host, second.keep_alive) == (
        b"GET", b"/a", b"b=1", b"x", False,
    )  # fmt: skip


def test_a_different_head_is_parsed_afresh() -> None:
    parser = RequestParser()
    a = _next_request(parser, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    b = _next_request(parser, b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (a.path, a.keep_alive) == (b"/a", True)
    assert (b.path, b.keep_alive) == (b"/b", False)
    with pytest.raises(ProtocolError):
        _next_request(parser, b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX: \x01\r\n\r\n")


def test_repeated_head_with_a_body_frames_each_body() -> None:
    parser = RequestParser()
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
    parser.feed(head + b"abc" + head + b"def")
    bodies = []
    for _ in range(2):
        request = parser.next_event()
        assert isinstance(request, Request) and request.content_length == 3
        data = parser.next_event()
        assert isinstance(data, Data)
        bodies.append(data.data)
        assert isinstance(parser.next_event(), EndOfMessage)
        parser.start_next_cycle()
    assert bodies == [b"abc", b"def"]
    assert parser.next_event() is NEED_DATA
