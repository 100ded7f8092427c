"""Events the request parser produces (see ``RequestParser.next_event``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(slots=True)
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


@dataclass(slots=True)
class Data:
    """A piece of the request body (already de-chunked)."""

    data: bytes


@dataclass(slots=True)
class EndOfMessage:
    """The request body is complete; ``trailers`` from a chunked body, if any."""

    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)


class Sentinel(Enum):
    NEED_DATA = "NEED_DATA"
    """Feed more bytes before another event can be produced."""
    PAUSED = "PAUSED"
    """A whole request was parsed: call ``start_next_cycle()`` after the response ends."""


NEED_DATA = Sentinel.NEED_DATA
"""``RequestParser.next_event()`` needs more bytes: ``feed()`` them, then ask again."""
PAUSED = Sentinel.PAUSED
"""A whole request was parsed: answer it, then call ``start_next_cycle()``."""

Event = Request | Data | EndOfMessage
"""What ``RequestParser.next_event()`` returns besides the ``NEED_DATA`` / ``PAUSED``
sentinels: a request head, then its body in ``Data`` pieces, then ``EndOfMessage``."""
