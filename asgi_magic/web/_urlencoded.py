"""``application/x-www-form-urlencoded`` parsing as browsers define it (WHATWG URL
Standard §5.1, "application/x-www-form-urlencoded parsing").

Decision (documented in docs/framework/body-limits.md): a form body is parsed the way
the browser that produced it expects, not stricter. The body's bytes are split on
``&`` (never ``;``), each name and value has ``+`` turned into a space and is
percent-decoded *as bytes*, and only then decoded with the charset the request
declares (``Content-Type: application/x-www-form-urlencoded; charset=...``, UTF-8 when
absent), invalid sequences becoming U+FFFD. So ``%FF`` or a raw Latin-1 byte never
makes a 400, and ``charset=iso-8859-1`` is honoured. An unknown charset is a 400:
there is no right way to read the body then.

Limits are checked on the bytes, so they give the same verdict however the body was
split on the wire: at most ``max_fields`` pairs (400) and names/values of at most
``max_part_size`` bytes once percent-decoded (413).
"""

from __future__ import annotations

import codecs
from urllib.parse import unquote_to_bytes

__all__ = ["FormError", "form_charset", "parse_urlencoded"]


class FormError(ValueError):
    """A body that cannot be parsed or is over a limit: ``status`` is 400 or 413."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def form_charset(content_type: str) -> str:
    """The ``charset`` parameter of the Content-Type (codec name), UTF-8 by default.

    Raises ``FormError(400)`` for a charset Python does not know.
    """
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            label = value.strip().strip('"')
            try:
                return codecs.lookup(label).name
            except LookupError:
                raise FormError(400, f"Unknown form charset {label[:40]!r}") from None
    return "utf-8"


def _decode(data: bytes, charset: str) -> str:
    if b"+" in data:
        data = data.replace(b"+", b" ")
    if b"%" in data:
        data = unquote_to_bytes(data)
    return data.decode(charset, "replace")


def parse_urlencoded(
    body: bytes, *, charset: str = "utf-8", max_fields: int, max_part_size: int
) -> list[tuple[str, str]]:
    """``b"a=1&b=%C3%A9"`` → ``[("a", "1"), ("b", "é")]`` (WHATWG URL §5.1).

    Empty sequences (``a=1&&b=2``) are skipped; a sequence without ``=`` is a name with
    an empty value. Raises ``FormError``: 400 for more than ``max_fields`` pairs, 413
    for a name or value longer than ``max_part_size`` bytes after percent-decoding.
    """
    pairs: list[tuple[str, str]] = []
    if not body:
        return pairs
    sequences = [s for s in body.split(b"&") if s]
    if len(sequences) > max_fields:
        raise FormError(400, f"Too many form fields (maximum {max_fields})")
    for sequence in sequences:
        name, _, value = sequence.partition(b"=")
        # the raw length bounds the decoded one (percent-decoding only shrinks), so
        # only a long raw sequence needs the exact check
        if len(name) > max_part_size or len(value) > max_part_size:
            raw_name = unquote_to_bytes(name.replace(b"+", b" "))
            raw_value = unquote_to_bytes(value.replace(b"+", b" "))
            if len(raw_name) > max_part_size or len(raw_value) > max_part_size:
                raise FormError(413, f"Form field too large (maximum {max_part_size} bytes)")
        pairs.append((_decode(name, charset), _decode(value, charset)))
    return pairs
