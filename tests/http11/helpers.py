"""Feed bytes to a RequestParser in any split and collect normalised events."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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

Normalised = list[object]


def collect(
    pieces: Iterable[bytes], limits: Limits | None = None, *, eof: bool = False
) -> Normalised:
    """Feed ``pieces`` one by one, draining events after each; consecutive ``Data`` are
    joined, ``start_next_cycle()`` is called at each PAUSED, so pipelined requests all
    come out. The final element is ``"NEED_DATA"`` or the raised ``ProtocolError``."""
    parser = RequestParser(limits)
    out: list[object] = []

    def add(event: object) -> None:
        if isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)

    def drain() -> None:
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                return
            if event is PAUSED:
                parser.start_next_cycle()
                continue
            assert isinstance(event, (Request, Data, EndOfMessage)), event
            if isinstance(event, Data):
                assert type(event.data) is bytes and event.data
            add(event)

    try:
        for piece in pieces:
            parser.feed(piece)
            drain()
        if eof:
            parser.feed_eof()
            drain()
    except ProtocolError as exc:
        out.append(("error", exc.status))
        return out
    out.append("NEED_DATA")
    return out


def splits(data: bytes) -> Iterator[list[bytes]]:
    """The whole, byte by byte, and split in two at every offset."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]


def same_in_every_split(data: bytes, limits: Limits | None = None) -> Normalised:
    """Events of ``data`` fed whole; asserts every other split gives the same."""
    expected = collect([data], limits)
    for pieces in splits(data):
        assert collect(pieces, limits) == expected, pieces
    return expected


def parse_one(data: bytes, limits: Limits | None = None) -> Request:
    events = same_in_every_split(data, limits)
    request = events[0]
    assert isinstance(request, Request), events
    return request


def error_of(data: bytes, limits: Limits | None = None, *, every_split: bool = True) -> int:
    """The status of the ProtocolError ``data`` causes (the same in every split)."""
    events = same_in_every_split(data, limits) if every_split else collect([data], limits)
    last = events[-1]
    assert isinstance(last, tuple) and last[0] == "error", events
    status = last[1]
    assert isinstance(status, int)
    return status
