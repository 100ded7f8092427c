"""Chunk extensions follow their grammar (RFC 9112 §7.1.1), bounded as before.

chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
chunk-ext-name = token, chunk-ext-val = token / quoted-string.
Every case is fed whole, byte by byte and split at every offset.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_magic.http11 import Data, EndOfMessage, Limits, ProtocolError, RequestParser
from asgi_magic.http11._abnf import TCHAR

from .helpers import collect, error_of, same_in_every_split

CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


def body_with(ext: bytes) -> bytes:
    return CHUNKED + b"5" + ext + b"\r\nhello\r\n0" + ext + b"\r\n\r\n"


@pytest.mark.parametrize(
    "ext",
    [
        b"",
        b";a",
        b";a=b",
        b";name=value;flag;n2=v2",
        b" ;a",  # BWS before ";" (RFC 9110 §5.6.3: recipients accept and remove it)
        b"\t; \ta \t= \tb",
        b';a=""',
        b';a="quoted value; with = signs"',
        b';a="esc\\"aped\\\\"',
        b';a="\\\t tab"',
        b';a="obs-text \x80\xff"',
        b";!#$%&'*+-.^_`|~09AZaz=!#$%&'*+-.^_`|~",
    ],
)
def test_valid_extensions_are_accepted_and_ignored(ext: bytes) -> None:
    events = same_in_every_split(body_with(ext))
    assert events[1:] == [Data(b"hello"), EndOfMessage(), "NEED_DATA"]


@pytest.mark.parametrize(
    "ext",
    [
        b";",  # empty name: the input of issue 10 item 16
        b";;a",
        b";a;",
        b";=b",
        b";a=",
        b";a =",
        b";a==b",
        b";a=b=c",
        b";a b",
        b";a=b c",
        b";a=b,c",
        b";a,b",
        b' ;"a"',  # a quoted name
        b';a="unterminated',
        b';a="x"y',
        b';a="x\\"',  # the escape swallows the closing quote
        b';a="\x7f"',  # DEL is not qdtext
        b';a="\x01"',
        b";a=\x80",  # obs-text only inside quotes
        b" ",  # whitespace after the size, no extension
        b"\t",
        b"; ",  # BWS after ";" needs a name
        b";a ",  # no BWS at the end of the line
        b"x",
        b"=a",
    ],
)
def test_malformed_extensions_are_a_400(ext: bytes) -> None:
    assert error_of(body_with(ext)) == 400


def test_the_issue_input_is_refused_with_a_clear_reason() -> None:
    raw = CHUNKED + b"2;\r\naa\r\n0\r\n\r\n"
    assert error_of(raw) == 400
    parser = RequestParser()
    parser.feed(raw)
    parser.next_event()
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.reason == "invalid chunk extension"


def test_extensions_are_still_bounded() -> None:
    limits = Limits(max_chunk_ext=20)
    ok = CHUNKED + b"5;" + b"a" * 19 + b"\r\nhello\r\n0\r\n\r\n"
    assert same_in_every_split(ok, limits)[1] == Data(b"hello")
    long = CHUNKED + b"5;" + b"a" * 20 + b"\r\nhello\r\n0\r\n\r\n"
    assert error_of(long, limits) == 400
    quoted = CHUNKED + b'5;a="' + b" " * 30 + b'"\r\nhello\r\n0\r\n\r\n'
    assert error_of(quoted, limits) == 400


@pytest.mark.parametrize(
    "ext",
    [
        b";a" * 2000,
        b";a=" + b"b" * 4000,
        b";a" + b" " * 4000 + b"x",
        b";a=" + b" " * 4000,
        b';a="' + b'\\"' * 2000,  # never closed
        b';a="' + b"\\" * 4000,
        b"; a = b " * 500,
    ],
)
def test_long_extension_lines_are_decided_quickly(ext: bytes) -> None:
    raw = CHUNKED + b"1" + ext[:4090] + b"\r\nx\r\n0\r\n\r\n"
    started = time.perf_counter()
    collect([raw])
    assert time.perf_counter() - started < 0.2


# -- differential test against the grammar, written out by hand -----------------------

_TCHARS = frozenset(TCHAR)
_QDTEXT = frozenset(b"\t \x21" + bytes(range(0x23, 0x5C)) + bytes(range(0x5D, 0x7F))) | frozenset(
    range(0x80, 0x100)
)
_PAIRED = frozenset(b"\t ") | frozenset(range(0x21, 0x7F)) | frozenset(range(0x80, 0x100))


def reference_accepts(ext: bytes) -> bool:
    """RFC 9112 §7.1.1 chunk-ext, one byte at a time (slow and obviously right)."""
    i, n = 0, len(ext)

    def bws(i: int) -> int:
        while i < n and ext[i] in b" \t":
            i += 1
        return i

    def token(i: int) -> int:
        start = i
        while i < n and ext[i] in _TCHARS:
            i += 1
        return i if i > start else -1

    def quoted(i: int) -> int:
        if i >= n or ext[i] != 0x22:
            return -1
        i += 1
        while i < n:
            c = ext[i]
            if c == 0x22:
                return i + 1
            if c == 0x5C:
                if i + 1 >= n or ext[i + 1] not in _PAIRED:
                    return -1
                i += 2
            elif c in _QDTEXT:
                i += 1
            else:
                return -1
        return -1

    while i < n:
        i = bws(i)
        if i >= n or ext[i] != 0x3B:
            return False
        i = token(bws(i + 1))
        if i < 0:
            return False
        j = bws(i)
        if j < n and ext[j] == 0x3D:
            k = bws(j + 1)
            end = token(k)
            if end < 0:
                end = quoted(k)
            if end < 0:
                return False
            i = end
    return True


# No hex digit: right after the size it would be read as part of the size.
_ALPHABET = b';= \t"\\x-,\x01\x7f\x80'


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(list(_ALPHABET)), max_size=14).map(bytes))
def test_parser_agrees_with_the_grammar(ext: bytes) -> None:
    raw = CHUNKED + b"5" + ext + b"\r\nhello\r\n0\r\n\r\n"
    events = collect([raw])
    accepted = events[1:] == [Data(b"hello"), EndOfMessage(), "NEED_DATA"]
    assert accepted is reference_accepts(ext), (ext, events)
    if not accepted:
        assert events[-1] == ("error", 400)


def test_the_reference_is_not_vacuous() -> None:
    assert reference_accepts(b';a="b\\"c";d')
    assert not reference_accepts(b";")
    assert not reference_accepts(b";a=")
