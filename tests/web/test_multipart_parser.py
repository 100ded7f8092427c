"""The sans-IO multipart parser: events, every split of the input, strictness, linear time."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_magic.web._multipart_parser import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    parse_boundary,
    parse_content_disposition,
    parse_options_header,
)

B = b"xYzZY"

BODY = (
    b"preamble to ignore\r\n"
    b"--xYzZY\r\n"
    b'Content-Disposition: form-data; name="a"\r\n'
    b"\r\n"
    b"hello\r\n"
    b"--xYzZY  \t\r\n"  # transport padding is allowed (RFC 2046 §5.1.1)
    b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"line1\r\nline2\r\n--xYz not a boundary\r\n\r\n"
    b"\r\n"
    b"--xYzZY--\r\n"
    b"epilogue to ignore --xYzZY garbage"
)

EXPECTED = [
    ("start", [(b"content-disposition", b'form-data; name="a"')]),
    ("data", b"hello"),
    ("end", None),
    (
        "start",
        [
            (b"content-disposition", b'form-data; name="f"; filename="a.txt"'),
            (b"content-type", b"text/plain"),
        ],
    ),
    ("data", b"line1\r\nline2\r\n--xYz not a boundary\r\n\r\n"),
    ("end", None),
]


def collect(chunks: list[bytes], boundary: bytes = B) -> list[tuple[str, object]]:
    parser = MultipartParser(boundary)
    out: list[tuple[str, object]] = []
    for chunk in chunks:
        for ev in parser.feed(chunk):
            if isinstance(ev, PartStart):
                out.append(("start", ev.headers))
            elif isinstance(ev, PartData):
                if out and out[-1][0] == "data":
                    out[-1] = ("data", out[-1][1] + ev.data)  # type: ignore[operator]
                else:
                    out.append(("data", ev.data))
            else:
                assert isinstance(ev, PartEnd)
                out.append(("end", None))
    parser.close()
    return out


def test_whole_body() -> None:
    assert collect([BODY]) == EXPECTED


def test_byte_by_byte() -> None:
    assert collect([BODY[i : i + 1] for i in range(len(BODY))]) == EXPECTED


def test_every_split_point() -> None:
    for i in range(len(BODY) + 1):
        assert collect([BODY[:i], BODY[i:]]) == EXPECTED, i


def test_three_way_splits_around_delimiters() -> None:
    for i in range(0, len(BODY), 3):
        for j in range(i, min(len(BODY), i + 40)):
            assert collect([BODY[:i], BODY[i:j], BODY[j:]]) == EXPECTED


def test_body_starting_with_delimiter_and_empty_parts() -> None:
    body = (
        b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n\r\n--b\r\n\r\nno headers\r\n--b--"
    )
    assert collect([body], b"b") == [
        ("start", [(b"content-disposition", b"form-data; name=x")]),
        ("end", None),
        ("start", []),
        ("data", b"no headers"),
        ("end", None),
    ]


def test_zero_parts() -> None:
    assert collect([b"--b--\r\n"], b"b") == []


def test_large_part_data_is_not_copied_needlessly() -> None:
    parser = MultipartParser(b"b")
    parser.feed(b"--b\r\nContent-Disposition: form-data; name=f\r\n\r\n")
    chunk = b"x" * 65536
    events = parser.feed(chunk)
    # no CR at the end: nothing is carried over and the chunk itself is handed out
    assert len(events) == 1 and events[0].data is chunk  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body, status",
    [
        (b"--b\nContent-Disposition: form-data; name=a\n\nx\n--b--", 400),  # bare LF everywhere
        (
            b"--b\r\nContent-Disposition: form-data; name=a\n\r\n\r\nx\r\n--b--",
            400,
        ),  # bare LF in headers
        (b"--b\r\nContent-Disposition: form-data; name=a\rX: y\r\n\r\nx\r\n--b--", 400),  # bare CR
        (b"--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b--", 400),  # obs-fold
        (b"--b\r\nBad Header: x\r\n\r\nx\r\n--b--", 400),  # space in name
        (b"--b\r\nno colon\r\n\r\nx\r\n--b--", 400),
        (b"--b\r\nX: a\x00b\r\n\r\nx\r\n--b--", 400),  # NUL in value
        (b"--b\r\nX: a\x1bb\r\n\r\nx\r\n--b--", 400),  # ESC in value
        (b"--bX\r\n\r\nx\r\n--b--", 400),  # delimiter followed by junk
        (b"--b-x\r\n\r\nx\r\n--b--", 400),
        (b"--b\r\n\r\nx\r\n--b" + b" " * 2000 + b"\r\n", 400),  # endless padding
        (b"--b\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n", 413),  # part headers too large
    ],
)
def test_malformed(body: bytes, status: int) -> None:
    for chunks in ([body], [body[i : i + 7] for i in range(0, len(body), 7)]):
        parser = MultipartParser(b"b")
        with pytest.raises(MultipartError) as info:
            for chunk in chunks:
                parser.feed(chunk)
            parser.close()
        assert info.value.status == status


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"--b\r\n",
        b"--b\r\nContent-Disposition: form-data; name=a\r\n",
        b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\npartial data",
        b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b",
        b"no boundary at all",
    ],
)
def test_unterminated(body: bytes) -> None:
    parser = MultipartParser(b"b")
    parser.feed(body)
    with pytest.raises(MultipartError) as info:
        parser.close()
    assert info.value.status == 400


def test_header_limit_is_checked_incrementally() -> None:
    parser = MultipartParser(b"b", max_header_size=100)
    parser.feed(b"--b\r\n")
    with pytest.raises(MultipartError) as info:
        for _ in range(200):
            parser.feed(b"a")
    assert info.value.status == 413


@pytest.mark.parametrize(
    "content_type, boundary",
    [
        ("multipart/form-data; boundary=abc", b"abc"),
        ('multipart/form-data; boundary="a b:c"', b"a b:c"),
        (
            "Multipart/Form-Data;boundary=----WebKitFormBoundary7MA4YWxk",
            b"----WebKitFormBoundary7MA4YWxk",
        ),
        ("multipart/form-data; charset=utf-8; boundary=" + "x" * 70, b"x" * 70),
    ],
)
def test_parse_boundary(content_type: str, boundary: bytes) -> None:
    assert parse_boundary(content_type) == boundary


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "x" * 71,
        'multipart/form-data; boundary="ends with space "',
        "multipart/form-data; boundary=a\rb",
        'multipart/form-data; boundary="a\\"b"',
        "multipart/form-data; boundary=é",
        "multipart/form-data; boundary=a; boundary=b",
        "text/plain; boundary=abc",
        'multipart/form-data; boundary="unterminated',
    ],
)
def test_bad_boundary(content_type: str) -> None:
    with pytest.raises(MultipartError) as info:
        parse_boundary(content_type)
    assert info.value.status == 400


def test_parser_rejects_bad_boundary() -> None:
    with pytest.raises(MultipartError):
        MultipartParser(b"x" * 71)
    with pytest.raises(MultipartError):
        MultipartParser(b"")


@pytest.mark.parametrize(
    "value, expected",
    [
        (b'form-data; name="a"', ("a", None)),
        (b"form-data; name=a; filename=b.txt", ("a", "b.txt")),
        (b'form-data; name="a"; filename=""', ("a", "")),
        (
            b'form-data; name="q\\"uote"; filename="C:\\\\dir\\\\f.txt"',
            ('q"uote', "C:\\dir\\f.txt"),
        ),
        (b'form-data; name="a"; filename="raw\\back.txt"', ("a", "raw\\back.txt")),
        (b'form-data; name="a;b"; filename="x; y.txt"', ("a;b", "x; y.txt")),
        ('form-data; name="é"; filename="résumé.pdf"'.encode(), ("é", "résumé.pdf")),
        (
            b"form-data; name=a; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt",
            ("a", "\u20ac rates.txt"),
        ),
        (b'FORM-DATA; NAME="a"', ("a", None)),
    ],
)
def test_content_disposition(value: bytes, expected: tuple[str, str | None]) -> None:
    assert parse_content_disposition(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        b'attachment; name="a"',
        b"form-data",
        b'form-data; filename="a"',
        b'form-data; name="a"; name="b"',
        b'form-data; name="a" junk',
        b"form-data; name=a; filename*=bogus",
        b"form-data; name=a; filename*=UTF-8''%FF",
        b'form-data; name="a',
    ],
)
def test_bad_content_disposition(value: bytes) -> None:
    with pytest.raises(MultipartError) as info:
        parse_content_disposition(value)
    assert info.value.status == 400


def test_options_header() -> None:
    assert parse_options_header("text/plain; charset=UTF-8") == ("text/plain", {"charset": "UTF-8"})
    assert parse_options_header("text/plain") == ("text/plain", {})


# --- linear time -----------------------------------------------------------------------


def _adversarial_body(size: int, boundary: bytes) -> bytes:
    near = b"\r\n--" + boundary[:-1]  # every position almost matches the delimiter
    head = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'
    return head + near * (size // len(near)) + b"\r\n--" + boundary + b"--\r\n"


def _parse_time(body: bytes, boundary: bytes, chunk: int) -> float:
    best = float("inf")
    for _ in range(3):
        parser = MultipartParser(boundary)
        carried = 0
        t0 = time.perf_counter()
        for i in range(0, len(body), chunk):
            parser.feed(body[i : i + chunk])
            if i > 200:  # past the part's header block
                carried = max(carried, len(parser._buf))
        parser.close()
        best = min(best, time.perf_counter() - t0)
        # what is kept between feeds is shorter than the delimiter: nothing is rescanned
        assert carried < len(boundary) + 4
    return best


@pytest.mark.parametrize("boundary", [b"bounda", b"-" * 60 + b"WebKitFor"])
def test_boundary_search_is_linear(boundary: bytes) -> None:
    small = _adversarial_body(2_500_000, boundary)
    large = _adversarial_body(10_000_000, boundary)
    t_small = _parse_time(small, boundary, 65536)
    t_large = _parse_time(large, boundary, 65536)
    # linear: ~4x; a quadratic scan would be ~16x. Generous bound for a loaded machine.
    assert t_large < 9 * t_small + 0.05, (t_small, t_large)


def test_small_chunks_are_linear() -> None:
    boundary = b"bounda"
    small = _adversarial_body(100_000, boundary)
    large = _adversarial_body(400_000, boundary)
    t_small = _parse_time(small, boundary, 7)
    t_large = _parse_time(large, boundary, 7)
    assert t_large < 9 * t_small + 0.05, (t_small, t_large)


def test_header_search_is_linear_when_fed_byte_by_byte() -> None:
    def run(n: int) -> float:
        parser = MultipartParser(b"b", max_header_size=10 * n)
        block = b"--b\r\n" + b"X: " + b"\r" * 0 + b"a" * n
        t0 = time.perf_counter()
        for i in range(len(block)):
            parser.feed(block[i : i + 1])
        return time.perf_counter() - t0

    t_small = min(run(20_000) for _ in range(2))
    t_large = min(run(80_000) for _ in range(2))
    assert t_large < 9 * t_small + 0.05, (t_small, t_large)


# --- property tests ------------------------------------------------------------------


_content = st.binary(max_size=300).map(
    # sprinkle delimiter look-alikes into the content (never the real delimiter)
    lambda b: b.replace(b"Q", b"\r\n--bound").replace(b"Z", b"\r\n--")
)


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.tuples(st.sampled_from(["a", "b", "f"]), _content), max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_round_trip_at_random_splits(parts: list[tuple[str, bytes]], cuts: list[int]) -> None:
    boundary = b"boundary"
    body = b"".join(
        b"--boundary\r\nContent-Disposition: form-data; name=%s\r\n\r\n%s\r\n"
        % (name.encode(), data)
        for name, data in parts
    )
    body += b"--boundary--\r\n"
    points = sorted({min(c, len(body)) for c in cuts})
    chunks = [body[i:j] for i, j in zip([0, *points], [*points, len(body)], strict=True)]
    events = collect(chunks, boundary)
    expected: list[tuple[str, object]] = []
    for name, data in parts:
        expected.append(("start", [(b"content-disposition", b"form-data; name=" + name.encode())]))
        if data:
            expected.append(("data", data))
        expected.append(("end", None))
    assert events == expected


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=400),
    position=st.integers(min_value=0, max_value=400),
)
def test_mutated_bodies_raise_only_multipart_error(data: bytes, position: int) -> None:
    position = min(position, len(BODY))
    mutated = BODY[:position] + data + BODY[position + len(data) // 2 :]
    parser = MultipartParser(B, max_header_size=512)
    try:
        for i in range(0, len(mutated), 13):
            for event in parser.feed(mutated[i : i + 13]):
                assert isinstance(event, (PartStart, PartData, PartEnd))
        parser.close()
    except MultipartError as exc:
        assert exc.status in (400, 413)
