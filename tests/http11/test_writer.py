"""ResponseWriter and the helpers: framing, enforcement, injection refused, Date caching."""

from __future__ import annotations

import pytest

from asgi_magic.http11 import (
    ProtocolError,
    ResponseWriter,
    _writer,
    error_response,
    http_date,
    informational_response,
)

SERVER = [(b"server", b"asgi-magic")]


def split_head(raw: bytes) -> tuple[bytes, list[bytes], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    return status_line, lines, body


def test_http11_without_length_is_chunked() -> None:
    w = ResponseWriter(b"GET", "1.1", True, SERVER, date_header=False)
    raw = w.start(200, [(b"Content-Type", b"text/plain")])
    assert raw == (
        b"HTTP/1.1 200 OK\r\nserver: asgi-magic\r\nContent-Type: text/plain\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    assert w.body(b"hello", True) == b"5\r\nhello\r\n"
    assert w.body(b"", True) == b""  # never an empty chunk mid-body
    assert w.body(b"x" * 26, False) == b"1a\r\n" + b"x" * 26 + b"\r\n0\r\n\r\n"
    assert w.finished and w.keep_alive
    with pytest.raises(ProtocolError) as info:
        w.body(b"more", False)
    assert info.value.status == 500


def test_chunked_empty_end() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    w.start(200, [])
    assert w.body(b"", False) == b"0\r\n\r\n"


def test_content_length_honoured_and_enforced() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    raw = w.start(200, [(b"content-length", b"5")])
    assert raw == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    assert w.body(b"he", True) == b"he"
    assert w.body(b"llo", False) == b"llo"
    assert w.finished and w.keep_alive

    w = ResponseWriter(b"GET", "1.1", True)
    w.start(200, [(b"content-length", b"5")])
    with pytest.raises(ProtocolError) as info:
        w.body(b"toolong", False)
    assert info.value.status == 500 and not w.keep_alive

    w = ResponseWriter(b"GET", "1.1", True)
    w.start(200, [(b"content-length", b"5")])
    w.body(b"abc", True)
    with pytest.raises(ProtocolError) as info:
        w.body(b"", False)
    assert info.value.status == 500 and not w.keep_alive


@pytest.mark.parametrize("value", [b"-1", b"abc", b"1 2", b"", b"0x10"])
def test_bad_app_content_length_refused(value: bytes) -> None:
    with pytest.raises(ProtocolError):
        ResponseWriter(b"GET", "1.1", True).start(200, [(b"content-length", value)])


def test_conflicting_app_content_lengths_refused_identical_merged() -> None:
    with pytest.raises(ProtocolError):
        ResponseWriter(b"GET", "1.1", True).start(
            200, [(b"content-length", b"1"), (b"content-length", b"2")]
        )
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    raw = w.start(200, [(b"content-length", b"1"), (b"Content-Length", b"01")])
    assert raw.count(b"ontent-length") == 1


def test_http10_without_length_is_close_delimited() -> None:
    w = ResponseWriter(b"GET", "1.0", True, date_header=False)
    raw = w.start(200, [])
    assert raw == b"HTTP/1.1 200 OK\r\n\r\n"
    assert not w.keep_alive
    assert w.body(b"abc", False) == b"abc"


def test_http10_keep_alive_with_length() -> None:
    w = ResponseWriter(b"GET", "1.0", True, date_header=False)
    raw = w.start(200, [(b"content-length", b"0")])
    assert b"connection: keep-alive\r\n" in raw and w.keep_alive
    w = ResponseWriter(b"GET", "1.0", False, date_header=False)
    raw = w.start(200, [(b"content-length", b"0")])
    assert b"connection" not in raw.lower() and not w.keep_alive


def test_connection_close_added_when_not_keeping_alive() -> None:
    w = ResponseWriter(b"GET", "1.1", False, date_header=False)
    raw = w.start(200, [(b"content-length", b"0")])
    assert b"connection: close\r\n" in raw and not w.keep_alive


def test_app_connection_close_ends_keep_alive_without_duplicate() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    raw = w.start(200, [(b"Connection", b"Close"), (b"content-length", b"0")])
    assert not w.keep_alive
    assert raw.lower().count(b"connection") == 1


@pytest.mark.parametrize("method", [b"HEAD"])
def test_head_keeps_content_length_but_sends_no_body(method: bytes) -> None:
    w = ResponseWriter(method, "1.1", True, date_header=False)
    raw = w.start(200, [(b"content-length", b"1000")])
    assert raw == b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"
    assert w.body(b"ignored", False) == b""
    assert w.finished and w.keep_alive


def test_head_without_length_is_not_chunked() -> None:
    w = ResponseWriter(b"HEAD", "1.1", True, date_header=False)
    raw = w.start(200, [])
    assert b"transfer-encoding" not in raw and w.keep_alive


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    raw = w.start(status, [(b"content-length", b"3")])
    assert b"transfer-encoding" not in raw
    # RFC 9110 §8.6: never Content-Length on 204; 304 may keep it.
    assert (b"content-length" in raw) is (status == 304)
    assert w.body(b"abc", False) == b""
    assert w.keep_alive


def test_app_transfer_encoding_chunked_is_replaced_by_ours() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    raw = w.start(200, [(b"Transfer-Encoding", b"chunked")])
    assert raw.lower().count(b"transfer-encoding") == 1
    assert w.body(b"ab", False) == b"2\r\nab\r\n0\r\n\r\n"
    w = ResponseWriter(b"GET", "1.0", True, date_header=False)
    raw = w.start(200, [(b"Transfer-Encoding", b"chunked")])
    assert b"transfer-encoding" not in raw.lower()  # RFC 9112 §6.1: never to HTTP/1.0
    assert w.body(b"ab", False) == b"ab"


@pytest.mark.parametrize(
    "headers",
    [
        [(b"transfer-encoding", b"gzip")],
        [(b"transfer-encoding", b"gzip, chunked")],
        [(b"transfer-encoding", b"chunked"), (b"content-length", b"3")],
    ],
)
def test_app_transfer_encoding_otherwise_refused(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(ProtocolError) as info:
        ResponseWriter(b"GET", "1.1", True).start(200, headers)
    assert info.value.status == 500


@pytest.mark.parametrize(
    "header",
    [
        (b"x-a", b"b\r\nSet-Cookie: evil=1"),
        (b"x-a", b"b\nc"),
        (b"x-a", b"b\rc"),
        (b"x-a", b"b\x00c"),
        (b"x-a", b"b\x01c"),
        (b"x a", b"b"),
        (b"x:a", b"b"),
        (b"x\r\na", b"b"),
        (b"", b"b"),
        (b"x-\xff", b"b"),
        ("x-a", b"b"),
        (b"x-a", "b"),
        (b"x-a", 3),
    ],
)
def test_header_injection_and_bad_types_refused(header: tuple[object, object]) -> None:
    w = ResponseWriter(b"GET", "1.1", True)
    with pytest.raises(ProtocolError) as info:
        w.start(200, [header])  # type: ignore[list-item]
    assert info.value.status == 500


def test_obs_text_and_tab_in_values_allowed() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    raw = w.start(200, [(b"x-a", b"caf\xc3\xa9\tok"), (b"content-length", b"0")])
    assert b"x-a: caf\xc3\xa9\tok\r\n" in raw


@pytest.mark.parametrize("status", [99, 1000, -1, True, "200", 200.0])
def test_bad_status_refused(status: object) -> None:
    with pytest.raises(ProtocolError):
        ResponseWriter(b"GET", "1.1", True).start(status, [])  # type: ignore[arg-type]


def test_unknown_status_has_empty_reason() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    assert w.start(599, [(b"content-length", b"0")]).startswith(b"HTTP/1.1 599 \r\n")
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    assert w.start(418, [(b"content-length", b"0")]).startswith(b"HTTP/1.1 418 I'm a Teapot\r\n")


def test_start_twice_and_body_before_start_refused() -> None:
    w = ResponseWriter(b"GET", "1.1", True)
    with pytest.raises(ProtocolError):
        w.body(b"x", False)
    w.start(200, [])
    with pytest.raises(ProtocolError):
        w.start(200, [])


def test_body_types() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    w.start(200, [(b"content-length", b"4")])
    assert w.body(bytearray(b"ab"), True) == b"ab"  # type: ignore[arg-type]
    with pytest.raises(ProtocolError):
        w.body("cd", False)  # type: ignore[arg-type]


def test_defaults_added_only_when_the_app_did_not_set_the_name() -> None:
    defaults = [(b"server", b"asgi-magic"), (b"x-frame-options", b"DENY")]
    w = ResponseWriter(b"GET", "1.1", True, defaults, date_header=False)
    raw = w.start(200, [(b"Server", b"mine"), (b"content-length", b"0")])
    _, lines, _ = split_head(raw)
    assert lines == [b"x-frame-options: DENY", b"Server: mine", b"content-length: 0"]


def test_invalid_default_header_refused() -> None:
    w = ResponseWriter(b"GET", "1.1", True, [(b"x", b"a\r\nb")])
    with pytest.raises(ProtocolError):
        w.start(200, [])


def test_date_header_switchable_and_app_date_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_writer, "_clock", lambda: 784111777.5)
    w = ResponseWriter(b"GET", "1.1", True)
    raw = w.start(200, [(b"content-length", b"0")])
    assert b"date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" in raw
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    assert b"date" not in w.start(200, [(b"content-length", b"0")])
    w = ResponseWriter(b"GET", "1.1", True)
    raw = w.start(200, [(b"Date", b"x"), (b"content-length", b"0")])
    assert raw.lower().count(b"date:") == 1


def test_http_date_is_formatted_once_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_700_000_000.1]
    calls = []
    real = _writer.time.gmtime

    def counting_gmtime(second: float) -> object:
        calls.append(second)
        return real(second)

    monkeypatch.setattr(_writer, "_clock", lambda: now[0])
    monkeypatch.setattr(_writer.time, "gmtime", counting_gmtime)
    first = http_date()
    assert first == b"Tue, 14 Nov 2023 22:13:20 GMT"
    now[0] = 1_700_000_000.9
    assert http_date() is first
    assert len(calls) <= 1
    now[0] = 1_700_000_001.0
    assert http_date() == b"Tue, 14 Nov 2023 22:13:21 GMT"
    assert len(calls) <= 2 and calls[-1] == 1_700_000_001


def test_http_date_is_locale_free_imf_fixdate() -> None:
    import email.utils

    value = http_date().decode()
    parsed = email.utils.parsedate_to_datetime(value)
    assert value.endswith(" GMT") and parsed is not None and len(value) == 29


def test_informational_response() -> None:
    assert informational_response() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert informational_response(103, [(b"link", b"</a.css>; rel=preload")]) == (
        b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
    )
    with pytest.raises(ProtocolError):
        informational_response(200)
    with pytest.raises(ProtocolError):
        informational_response(103, [(b"link", b"a\r\nb")])


def test_error_response(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_writer, "_clock", lambda: 784111777)
    raw = error_response(431, "request head too large")
    status_line, lines, body = split_head(raw)
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert b"connection: close" in lines
    assert b"server: asgi-magic" in lines
    assert b"date: Sun, 06 Nov 1994 08:49:37 GMT" in lines
    assert b"content-type: text/plain; charset=utf-8" in lines
    assert body == b"request head too large\n"
    assert b"content-length: %d" % len(body) in lines
    raw = error_response(400, "bad", date_header=False, server_header=None)
    assert b"date:" not in raw and b"server:" not in raw
    with pytest.raises(ValueError):
        error_response(99, "x")
    with pytest.raises(ProtocolError):
        error_response(500, "x", server_header=b"a\r\nb")


def test_writer_output_parses_back() -> None:
    """A response we write is read back correctly by the stdlib client parser."""
    import http.client
    import io

    w = ResponseWriter(b"GET", "1.1", True, SERVER)
    raw = w.start(201, [(b"x-a", b"1")]) + w.body(b"hello ", True) + w.body(b"world", False)

    class FakeSocket:
        def makefile(self, mode: str) -> io.BytesIO:
            return io.BytesIO(raw)

    response = http.client.HTTPResponse(FakeSocket())  # type: ignore[arg-type]
    response.begin()
    assert response.status == 201
    assert response.getheader("x-a") == "1"
    assert response.read() == b"hello world"


# -- WriterDefaults: the server's headers validated and joined once --------------------


def test_writer_defaults_are_joined_once_and_shared() -> None:
    defaults = _writer.WriterDefaults([(b"Server", b"asgi-magic"), (b"x-frame-options", b"DENY")])
    assert defaults.block == b"Server: asgi-magic\r\nx-frame-options: DENY\r\n"
    assert defaults.names == (b"server", b"x-frame-options")
    assert defaults.server == b"asgi-magic"
    assert _writer.WriterDefaults.of(SERVER) is _writer.WriterDefaults.of(list(SERVER))
    w = ResponseWriter(b"GET", "1.1", True, defaults, date_header=False)
    raw = w.start(200, [(b"content-length", b"0")])
    assert raw == (
        b"HTTP/1.1 200 OK\r\nServer: asgi-magic\r\nx-frame-options: DENY\r\n"
        b"content-length: 0\r\n\r\n"
    )


def test_app_header_replaces_the_default_of_the_same_name() -> None:
    defaults = _writer.WriterDefaults([(b"server", b"asgi-magic"), (b"x-a", b"1")])
    w = ResponseWriter(b"GET", "1.1", True, defaults, date_header=True)
    _, lines, _ = split_head(w.start(200, [(b"Server", b"mine"), (b"Date", b"then")]))
    assert lines == [b"x-a: 1", b"Server: mine", b"Date: then", b"transfer-encoding: chunked"]


def test_a_date_among_the_defaults_suppresses_the_generated_one() -> None:
    defaults = _writer.WriterDefaults([(b"date", b"fixed")])
    w = ResponseWriter(b"GET", "1.1", True, defaults, date_header=True)
    _, lines, _ = split_head(w.start(204, []))
    assert lines == [b"date: fixed"]


@pytest.mark.parametrize(
    "pairs",
    [
        [(b"bad name", b"x")],
        [(b"x-a", b"a\r\nset-cookie: evil")],
        [(b"x-a", "text")],
        [(b"", b"x")],
    ],
)
def test_invalid_defaults_fail_every_start_with_500(pairs: list[tuple[bytes, bytes]]) -> None:
    defaults = _writer.WriterDefaults(pairs)
    for _ in range(2):
        w = ResponseWriter(b"GET", "1.1", True, defaults)
        with pytest.raises(ProtocolError) as info:
            w.start(200, [])
        assert info.value.status == 500


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-a", b"1\r\nx-b: 2")],
        [(b"x-a", b"1\n")],
        [(b"x-a", b"\x00")],
        [(b"x-a", b"ok"), (b"x-b", b"\x7f")],
        [(b"x a", b"1")],
        [(b"x-a\r\n", b"1")],
        [(b"", b"1")],
    ],
)
def test_injection_is_refused_and_names_are_not_cached(
    headers: list[tuple[bytes, bytes]],
) -> None:
    for _ in range(2):  # the second time must not be let through by a cache
        w = ResponseWriter(b"GET", "1.1", True, SERVER)
        with pytest.raises(ProtocolError) as info:
            w.start(200, headers)
        assert info.value.status == 500
    assert b"x a" not in _writer._NAMES and b"" not in _writer._NAMES


# -- out-of-band body bytes (sendfile) -------------------------------------------------


def test_out_of_band_bytes_are_counted_against_content_length() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    w.start(200, [(b"content-length", b"10")])
    assert w.out_of_band_ok
    w.out_of_band(4, more_body=True)
    assert w.body(b"ab", True) == b"ab"
    with pytest.raises(ProtocolError) as info:
        w.out_of_band(5)  # 4 + 2 + 5 > 10: refused before anything is written
    assert info.value.status == 500 and not w.keep_alive


def test_out_of_band_short_final_count_is_refused() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    w.start(200, [(b"content-length", b"10")])
    with pytest.raises(ProtocolError):
        w.out_of_band(9)
    assert not w.finished and not w.keep_alive


def test_out_of_band_exact_count_finishes_the_response() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    w.start(200, [(b"content-length", b"10")])
    w.out_of_band(10)
    assert w.finished and w.keep_alive and not w.out_of_band_ok
    with pytest.raises(ProtocolError):
        w.body(b"", False)


def test_out_of_band_is_refused_where_framing_is_needed() -> None:
    chunked = ResponseWriter(b"GET", "1.1", True, date_header=False)
    chunked.start(200, [])
    head = ResponseWriter(b"HEAD", "1.1", True, date_header=False)
    head.start(200, [(b"content-length", b"10")])
    not_started = ResponseWriter(b"GET", "1.1", True, date_header=False)
    for w in (chunked, head, not_started):
        assert not w.out_of_band_ok
        with pytest.raises(ProtocolError):
            w.out_of_band(1)


def test_out_of_band_on_a_close_delimited_http10_response() -> None:
    w = ResponseWriter(b"GET", "1.0", True, date_header=False)
    w.start(200, [])
    assert w.out_of_band_ok and not w.keep_alive
    w.out_of_band(123, more_body=True)
    w.out_of_band(0)
    assert w.finished
    other = ResponseWriter(b"GET", "1.0", True)
    other.start(200, [])
    with pytest.raises(ValueError):
        other.out_of_band(-1)


# -- checked header lists are reused by value ------------------------------------------


def test_a_cached_header_list_keeps_framing_per_status() -> None:
    headers = [(b"content-length", b"5"), (b"x-a", b"1")]
    for _ in range(2):
        ok = ResponseWriter(b"GET", "1.1", True, date_header=False)
        assert b"content-length: 5\r\n" in ok.start(200, headers)
        assert ok.body(b"hello") == b"hello"
        no_content = ResponseWriter(b"GET", "1.1", True, date_header=False)
        # RFC 9110 §8.6: 204 MUST NOT carry Content-Length, even from a cached list.
        assert b"content-length" not in no_content.start(204, headers)


def test_set_cookie_lists_are_never_cached() -> None:
    headers = [(b"set-cookie", b"session=secret"), (b"content-length", b"0")]
    for _ in range(2):
        w = ResponseWriter(b"GET", "1.1", True, date_header=False)
        assert b"set-cookie: session=secret\r\n" in w.start(200, headers)
    assert not any(b"session=secret" in fields[0] for fields in _writer._APP_FIELDS.values())


def test_unhashable_or_one_shot_header_sources_still_work() -> None:
    w = ResponseWriter(b"GET", "1.1", True, date_header=False)
    raw = w.start(200, iter([(b"x-a", bytearray(b"1")), (b"content-length", b"0")]))
    assert b"x-a: 1\r\ncontent-length: 0\r\n" in raw
    with pytest.raises(ProtocolError) as info:
        ResponseWriter(b"GET", "1.1", True).start(200, 42)  # type: ignore[arg-type]
    assert info.value.status == 500


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (413, b"HTTP/1.1 413 Content Too Large\r\n"),
        (414, b"HTTP/1.1 414 URI Too Long\r\n"),
        (416, b"HTTP/1.1 416 Range Not Satisfiable\r\n"),
        (200, b"HTTP/1.1 200 OK\r\n"),
        (599, b"HTTP/1.1 599 \r\n"),
    ],
)
def test_status_lines_use_rfc9110_reason_phrases(status: int, line: bytes) -> None:
    writer = ResponseWriter(b"GET", "1.1", True, date_header=False)
    assert writer.start(status, [(b"content-length", b"0")]).startswith(line)
