"""Field-section parsing and the meaning of the few fields that frame a message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ._abnf import DIGITS_RE, FIELD_VALUE_BYTES, FIELD_VALUE_RE, TOKEN_RE
from ._errors import ProtocolError

Headers = list[tuple[bytes, bytes]]

# The fields whose values the parser itself must interpret (framing, routing, upgrade).
SPECIAL_FIELDS: Final = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade", b"te")
)

# 19 digits would not fit an int64; no sane body is anywhere near 10**18 bytes.
MAX_CONTENT_LENGTH_DIGITS: Final = 18


# Field names already validated as tokens, mapped to their lower-cased form. Browsers send
# the same few dozen names on every request, so one dict lookup replaces both the token
# check and ``lower()``. Bounded, so a client inventing names cannot grow it.
_NAME_CACHE: Final[dict[bytes, bytes]] = {}
_NAME_CACHE_SIZE: Final = 1024


def new_field_name(name: bytes) -> bytes:
    # RFC 9110 §5.1: field-name = token. This also refuses whitespace between the name
    # and the colon (RFC 9112 §5.1: MUST 400) and obs-fold continuation lines, which
    # start with SP/HTAB (RFC 9112 §5.2: 400 outside message/http).
    if TOKEN_RE.fullmatch(name) is None:
        raise ProtocolError(400, diagnose_fields([name + b":"]))
    lname = name.lower()
    if len(_NAME_CACHE) < _NAME_CACHE_SIZE:
        _NAME_CACHE[name] = lname
    return lname


def check_field_bytes(section: bytes, crlf_count: int) -> None:
    """Refuse controls, NUL, and CR or LF anywhere but in the CRLF line ends.

    RFC 9110 §5.5: field values are VCHAR / obs-text with SP and HTAB inside, and a
    recipient of CR, LF or NUL in one MUST reject the message (or replace them: we
    reject). One ``translate`` pass in C: deleting every allowed byte must leave exactly
    the ``crlf_count`` line ends.
    """
    if section.translate(None, FIELD_VALUE_BYTES) != b"\r\n" * crlf_count:
        raise ProtocolError(400, diagnose_fields(section.split(b"\r\n")))


def parse_fields(lines: list[bytes], start: int, specials: Headers) -> Headers:
    """Parse the field lines ``lines[start:]`` (already split on CRLF, bytes checked).

    Returns ``(lower-cased name, value without OWS)`` pairs in order and appends the
    ones named in ``SPECIAL_FIELDS`` to ``specials``.
    """
    headers: Headers = []
    append = headers.append
    cached = _NAME_CACHE.get
    for i in range(start, len(lines)):
        name, colon, value = lines[i].partition(b":")
        lname = cached(name)
        if lname is None or not colon:
            if not colon:
                raise ProtocolError(400, diagnose_fields([lines[i]]))
            lname = new_field_name(name)
        # RFC 9112 §5: OWS around the value is not part of it.
        value = value.strip(b" \t")
        append((lname, value))
        if lname in SPECIAL_FIELDS:
            specials.append((lname, value))
    return headers


def diagnose_fields(lines: list[bytes]) -> str:
    """Say precisely what is wrong with field lines that failed validation (slow path)."""
    for line in lines:
        if b"\r" in line or b"\n" in line:
            return "bare CR or LF in header section"
        if b"\x00" in line:
            return "NUL in header field"
        if line[:1] in (b" ", b"\t"):
            # RFC 9112 §5.2: obs-fold is refused with 400 outside message/http.
            return "obsolete line folding in header section"
        if not line:
            continue
        name, sep, _ = line.partition(b":")
        if not sep:
            return "header line without a colon"
        if name != name.rstrip(b" \t"):
            # RFC 9112 §5.1: whitespace between field name and colon MUST be rejected (400).
            return "whitespace between header name and colon"
        if TOKEN_RE.fullmatch(name) is None:
            return "invalid header name"
        if FIELD_VALUE_RE.fullmatch(line, len(name) + 1) is None:
            return "invalid character in header value"
    return "malformed header section"


def comma_list(values: Iterable[bytes]) -> list[bytes]:
    """Lower-cased, OWS-stripped, non-empty members of comma-separated field values.

    RFC 9110 §5.6.1: recipients accept empty list elements and ignore them.
    """
    members: list[bytes] = []
    for value in values:
        for member in value.split(b","):
            member = member.strip(b" \t")
            if member:
                members.append(member.lower())
    return members


# Connection values seen before, as token sets: clients send the same one or two values
# ("keep-alive", "close", "Upgrade") on every request. Bounded.
_CONNECTION_CACHE: Final[dict[bytes, frozenset[bytes]]] = {}
_CONNECTION_CACHE_SIZE: Final = 256


def connection_tokens(value: bytes) -> frozenset[bytes]:
    """The lower-cased options of one Connection field value (RFC 9110 §7.6.1)."""
    tokens = _CONNECTION_CACHE.get(value)
    if tokens is None:
        tokens = frozenset(comma_list((value,)))
        if len(_CONNECTION_CACHE) < _CONNECTION_CACHE_SIZE:
            _CONNECTION_CACHE[value] = tokens
    return tokens


def parse_content_length(values: Iterable[bytes]) -> int:
    """The one length that all Content-Length values (fields and list members) state.

    RFC 9110 §8.6: Content-Length = 1*DIGIT. RFC 9112 §6.3 (5): a list of differing
    values, or an invalid value, makes the framing unknowable: respond 400 and close.
    Identical repeats may be merged (RFC 9110 §8.6).
    """
    found: bytes | None = None
    for value in values:
        for member in value.split(b","):
            member = member.strip(b" \t")
            if DIGITS_RE.fullmatch(member) is None:
                raise ProtocolError(400, "invalid Content-Length")
            member = member.lstrip(b"0") or b"0"
            if found is None:
                found = member
            elif member != found:
                raise ProtocolError(400, "conflicting Content-Length values")
    if found is None:
        raise ProtocolError(400, "invalid Content-Length")
    if len(found) > MAX_CONTENT_LENGTH_DIGITS:
        raise ProtocolError(413, "Content-Length too large")
    return int(found)


def check_transfer_encoding(values: Iterable[bytes]) -> None:
    """Accept exactly a final ``chunked`` coding; refuse everything else.

    RFC 9112 §6.3 (4): if chunked is not the final coding of a request, the length
    cannot be determined: the server MUST respond 400 and close. RFC 9112 §6.1: a
    sender MUST NOT apply chunked more than once. We decode no other coding, and RFC
    9112 §6.1 says an unknown coding SHOULD get 501.
    """
    if values == (b"chunked",):  # the everyday case, decided without parsing
        return
    codings: list[bytes] = []
    for value in values:
        for member in value.split(b","):
            member = member.strip(b" \t")
            # An empty member (``chunked,`` or ``, chunked``) or whitespace/parameters
            # inside one are obfuscations other parsers read differently: refuse.
            if TOKEN_RE.fullmatch(member) is None:
                raise ProtocolError(400, "malformed Transfer-Encoding")
            codings.append(member.lower())
    if not codings or codings[-1] != b"chunked":
        raise ProtocolError(400, "Transfer-Encoding must end with chunked")
    if len(codings) > 1:
        if b"chunked" in codings[:-1]:
            raise ProtocolError(400, "chunked applied more than once")
        raise ProtocolError(501, "transfer coding not implemented")
