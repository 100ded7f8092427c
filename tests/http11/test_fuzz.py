"""Hypothesis: valid requests round-trip; mutated or random bytes only raise ProtocolError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_magic.http11 import Data, EndOfMessage, Limits, Request
from asgi_magic.http11._abnf import TCHAR

from .helpers import collect

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPECIAL = {
    b"host",
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"expect",
    b"upgrade",
    b"te",
}

tokens = st.binary(min_size=1, max_size=12).map(lambda b: bytes(TCHAR[x % len(TCHAR)] for x in b))
field_names = tokens.filter(lambda n: n.lower() not in SPECIAL)
# field-vchar / obs-text inside, SP/HTAB only between visible bytes (values are OWS-trimmed).
_VCHAR = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
field_values = st.lists(
    st.tuples(st.sampled_from([b"", b" ", b"\t", b"  "]), st.binary(min_size=1, max_size=6)),
    max_size=4,
).map(
    lambda parts: b"".join(
        ws + bytes(_VCHAR[x % len(_VCHAR)] for x in vis) for ws, vis in parts
    ).strip(b" \t")
)
path_chars = b"abcXYZ019-._~!$&'()*+,;=:@%/"
paths = st.binary(max_size=20).map(
    lambda b: b"/" + bytes(path_chars[x % len(path_chars)] for x in b)
)
queries = st.one_of(st.none(), paths.map(lambda p: p[1:] + b"=?/"))
ows = st.sampled_from([b"", b" ", b"\t", b" \t "])


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH"]) | tokens)
    path = draw(paths)
    query = draw(queries)
    target = path if query is None else path + b"?" + query
    host = draw(st.sampled_from([b"example.com", b"127.0.0.1:8000", b"[::1]", b"a-b.c"]))
    fields = draw(st.lists(st.tuples(field_names, field_values), max_size=8))
    framing = draw(st.sampled_from(["none", "length", "chunked"]))
    body = draw(st.binary(max_size=64)) if framing != "none" else b""
    lines = [(b"Host", host), *fields]
    if framing == "length":
        lines.append((b"Content-Length", b"%d" % len(body)))
    elif framing == "chunked":
        lines.append((b"Transfer-Encoding", b"chunked"))
    close = draw(st.booleans())
    if close:
        lines.append((b"Connection", b"close"))
    order = draw(st.permutations(range(len(lines))))
    lines = [lines[i] for i in order]
    raw = b"%s %s HTTP/1.1\r\n" % (method, target)
    for name, value in lines:
        raw += name + b":" + draw(ows) + value + draw(ows) + b"\r\n"
    raw += b"\r\n"
    if framing == "length":
        raw += body
    elif framing == "chunked":
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=False) if b > a]
        for piece in pieces:
            # RFC 9112 §7.1.1 chunk-ext: tokens, quoted-strings with escapes, BWS.
            ext = draw(
                st.sampled_from(
                    [b"", b";a=b", b" ; x", b';n="q \\" ;="', b'\t;\tx\t=\t""', b";a;b=c"]
                )
            )
            raw += b"%x%s\r\n%s\r\n" % (len(piece), ext, piece)
        raw += b"0\r\n\r\n"
    expected = {
        "method": method,
        "target": target,
        "path": path,
        "query": query or b"",
        "headers": [(n.lower(), v) for n, v in lines],
        "host": host,
        "keep_alive": not close,
        "body": body,
        "chunked": framing == "chunked",
    }
    return raw, expected


def cut(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=False)]


@FUZZ
@given(requests(), st.lists(st.integers(min_value=0), max_size=6))
def test_valid_requests_round_trip(
    case: tuple[bytes, dict[str, object]], points: list[int]
) -> None:
    raw, expected = case
    for pieces in ([raw], cut(raw, points)):
        events = collect(pieces)
        request = events[0]
        assert isinstance(request, Request), events
        for name in (
            "method",
            "target",
            "path",
            "query",
            "headers",
            "host",
            "keep_alive",
            "chunked",
        ):
            assert getattr(request, name) == expected[name], name
        body = b"".join(e.data for e in events if isinstance(e, Data))
        assert body == expected["body"]
        assert isinstance(events[-2], EndOfMessage) and events[-1] == "NEED_DATA"


def _check_only_protocol_errors(pieces: list[bytes], limits: Limits | None = None) -> None:
    # collect() turns ProtocolError into a final ("error", status); anything else
    # (IndexError, ValueError, UnicodeDecodeError …) propagates and fails the test.
    events = collect(pieces, limits, eof=True)
    last = events[-1]
    if isinstance(last, tuple):
        assert last[0] == "error" and last[1] in {400, 413, 414, 431, 501, 505}


mutations = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace"]),
        st.integers(min_value=0),
        st.sampled_from(
            [
                b"\r",
                b"\n",
                b"\r\n",
                b" ",
                b"\t",
                b"\x00",
                b":",
                b",",
                b"\xff",
                b"0",
                b"f",
                b";",
                b"-",
            ]
        )
        | st.binary(min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(requests(), mutations, st.lists(st.integers(min_value=0), max_size=4))
def test_mutated_requests_only_raise_protocol_error(
    case: tuple[bytes, dict[str, object]],
    edits: list[tuple[str, int, bytes]],
    points: list[int],
) -> None:
    data = bytearray(case[0])
    for kind, where, what in edits:
        i = where % (len(data) + 1)
        if kind == "insert":
            data[i:i] = what
        elif kind == "delete":
            del data[i : i + len(what)]
        else:
            data[i : i + len(what)] = what
    raw = bytes(data)
    _check_only_protocol_errors([raw])
    _check_only_protocol_errors(cut(raw, points), Limits(max_body=32, max_fields=4, max_head=200))


@FUZZ
@given(st.binary(max_size=200), st.lists(st.integers(min_value=0), max_size=4))
def test_random_bytes_only_raise_protocol_error(data: bytes, points: list[int]) -> None:
    _check_only_protocol_errors(cut(data, points))
    _check_only_protocol_errors(cut(b"GET / HTTP/1.1\r\nHost: a\r\n" + data, points))
    chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    _check_only_protocol_errors(cut(chunked + data, points))


@pytest.mark.parametrize("size", [10_000, 200_000])
def test_pathological_inputs_finish_quickly(size: int) -> None:
    # Long runs of the characters that the head search and checks look for.
    for filler in (b"\r", b"\n", b"\r\n", b" ", b":", b"a"):
        data = b"GET / HTTP/1.1\r\nX: " + filler * (size // len(filler))
        _check_only_protocol_errors([data[i : i + 4096] for i in range(0, len(data), 4096)])
