"""Events the request parser produces (see ``RequestParser.next_event``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

# The events spell out their __init__ (init=False): mypyc compiles a written __init__ to
# C, but leaves the one @dataclass generates as interpreted code, which cost ~10 % of
# parsing a request in the compiled build. tests/test_compiled.py checks that each
# __init__ still takes exactly the dataclass fields, in order.


@dataclass(slots=True, init=False)
class Request:
    """A complete, validated request head (RFC 9112 §3 request-line + §5 fields)."""

    method: bytes
    """Method token, exactly as sent (methods are case-sensitive, RFC 9110 §9.1)."""
    target: bytes
    """The request-target as sent: origin-form, absolute-form or ``*``."""
    path: bytes
    """Raw path of the target, before ``?`` (``b"*"`` for asterisk-form); for
    absolute-form, the path part of the URI (``b"/"`` if empty)."""
    query: bytes
    """Raw query after ``?`` (without it), ``b""`` when there is none."""
    http_version: str
    """``"1.1"`` or ``"1.0"``."""
    headers: list[tuple[bytes, bytes]]
    """Field lines in order, names lower-cased, values with OWS stripped; duplicates kept."""
    host: bytes | None = None
    """Authority to use: from absolute-form if present (RFC 9112 §3.2.2), else ``Host``."""
    keep_alive: bool = True
    """Whether the client allows the connection to persist after this exchange."""
    expect_continue: bool = False
    """``Expect: 100-continue`` was sent (RFC 9110 §10.1.1)."""
    upgrade: bytes | None = None
    """Lower-cased ``Upgrade`` value when ``Connection`` lists ``upgrade``, else None."""
    content_length: int | None = None
    """Declared body length; None for chunked bodies or when no body framing was sent."""
    chunked: bool = False
    """The body uses the chunked transfer coding."""
    te_trailers: bool = False
    """HTTP/1.1 and ``TE`` lists ``trailers`` (RFC 9110 §10.1.4): the client accepts
    trailer fields in a chunked response (pass it to ``ResponseWriter``)."""

    def __init__(
        self,
        method: bytes,
        target: bytes,
        path: bytes,
        query: bytes,
        http_version: str,
        headers: list[tuple[bytes, bytes]],
        host: bytes | None = None,
        keep_alive: bool = True,
        expect_continue: bool = False,
        upgrade: bytes | None = None,
        content_length: int | None = None,
        chunked: bool = False,
        te_trailers: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.http_version = http_version
        self.headers = headers
        self.host = host
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.upgrade = upgrade
        self.content_length = content_length
        self.chunked = chunked
        self.te_trailers = te_trailers


@dataclass(slots=True, init=False)
class Data:
    """A piece of the request body (already de-chunked)."""

    data: bytes

    def __init__(self, data: bytes) -> None:
        self.data = data


@dataclass(slots=True, init=False)
class EndOfMessage:
    """The request body is complete; ``trailers`` from a chunked body, if any."""

    trailers: list[tuple[bytes, bytes]]

    def __init__(self, trailers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.trailers = trailers if trailers is not None else []


class Sentinel(Enum):
    NEED_DATA = "NEED_DATA"
    """Feed more bytes before another event can be produced."""
    PAUSED = "PAUSED"
    """A whole request was parsed: call ``start_next_cycle()`` after the response ends."""


NEED_DATA: Final = Sentinel.NEED_DATA
"""``RequestParser.next_event()`` needs more bytes: ``feed()`` them, then ask again."""
PAUSED: Final = Sentinel.PAUSED
"""A whole request was parsed: answer it, then call ``start_next_cycle()``."""

Event = Request | Data | EndOfMessage
"""What ``RequestParser.next_event()`` returns besides the ``NEED_DATA`` / ``PAUSED``
sentinels: a request head, then its body in ``Data`` pieces, then ``EndOfMessage``."""
