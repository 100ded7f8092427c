"""Hypothesis: responses we write are read back intact by httptools (llhttp, a C parser
we did not write), whatever the framing the writer chose."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_magic.http11 import ResponseWriter
from asgi_magic.http11._abnf import TCHAR

httptools = pytest.importorskip("httptools")

FRAMING_NAMES = {b"content-length", b"transfer-encoding", b"connection", b"date", b"server"}
names = (
    st.binary(min_size=1, max_size=10)
    .map(lambda b: bytes(TCHAR[x % len(TCHAR)] for x in b))
    .filter(lambda n: n.lower() not in FRAMING_NAMES)
)
values = st.binary(max_size=20).map(
    lambda b: bytes(0x21 + x % 0x5E for x in b)  # VCHAR only: what llhttp accepts strictly
)


class Collector:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([200, 201, 404, 500, 299]),
    headers=st.lists(st.tuples(names, values), max_size=6),
    pieces=st.lists(st.binary(max_size=40), max_size=5),
    with_length=st.booleans(),
    version=st.sampled_from(["1.1", "1.0"]),
)
def test_written_responses_parse_back(
    status: int,
    headers: list[tuple[bytes, bytes]],
    pieces: list[bytes],
    with_length: bool,
    version: str,
) -> None:
    body = b"".join(pieces)
    app_headers = list(headers)
    if with_length:
        app_headers.append((b"Content-Length", b"%d" % len(body)))
    writer = ResponseWriter(b"GET", version, True, [(b"server", b"asgi-magic")])
    wire = writer.start(status, app_headers)
    for i, piece in enumerate(pieces):
        wire += writer.body(piece, i < len(pieces) - 1)
    if not pieces:
        wire += writer.body(b"", False)
    assert writer.finished

    collector = Collector()
    parser = httptools.HttpResponseParser(collector)
    parser.feed_data(wire)
    if not with_length and version == "1.0":
        # Close-delimited: only the connection close ends this body.
        assert not collector.complete
    else:
        assert collector.complete
    assert parser.get_status_code() == status
    assert collector.body == body
    for pair in headers:
        assert (pair[0].lower(), pair[1]) in collector.headers
    assert (b"server", b"asgi-magic") in collector.headers
    assert writer.keep_alive is (with_length or version == "1.1")
