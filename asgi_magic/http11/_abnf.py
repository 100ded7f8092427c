"""The grammar of RFC 9110/9112 as compiled regexes and byte sets.

Each pattern or byte set validates a whole unit (a field section, a chunk-size line, a
Host value) in one pass in C, so the parser never loops over bytes in Python.
"""

from __future__ import annotations

import re
from typing import Final

# RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "."
#                          / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TCHAR: Final = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TCHAR_CLASS: Final = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]"

# RFC 9110 §5.5: field-vchar = VCHAR / obs-text, plus SP and HTAB inside a value.
# Everything else (the other controls, DEL, and of course CR, LF, NUL) is refused.
FIELD_VALUE_BYTES: Final = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_FIELD_VALUE_CLASS: Final = rb"[\t\x20-\x7e\x80-\xff]"


def _check_table(allowed: bytes) -> bytes:
    """A ``bytes.translate`` table that keeps every byte in ``allowed`` and changes every
    other byte, so ``data.translate(table) == data`` exactly when all of ``data`` is
    allowed. A table without deletions is CPython's fast loop (one lookup per byte, no
    256-entry table built per call, and the input itself returned when nothing changed):
    cheaper than ``translate(None, allowed)`` by the table set-up and the copy."""
    return bytes(c if c in allowed else (c + 1) % 256 for c in range(256))


# FIELD_VALUE_BYTES as a check table: one field line (no CR or LF at all) is valid bytes
# when ``line.translate(FIELD_LINE_TABLE) == line``.
FIELD_LINE_TABLE: Final = _check_table(FIELD_VALUE_BYTES)
# RFC 9112 §3.2 / RFC 3986 §2: a request target is VCHARs only (no SP, HTAB, controls,
# DEL or obs-text). This table also stops at "#", which no request target may carry
# (RFC 9112 §3.2: the fragment is not sent), so the usual target is judged in one pass.
TARGET_TABLE: Final = _check_table(bytes(range(0x21, 0x7F)).replace(b"#", b""))

TOKEN_RE: Final = re.compile(_TCHAR_CLASS + rb"+")

# RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive. The request
# line itself is checked with split/compare in the parser (faster than a regex); this is
# used only to tell 505 (a well-formed but unsupported version) from 400 (garbage).
ANY_VERSION_RE: Final = re.compile(rb"HTTP/[0-9]\.[0-9]")

# RFC 9110 §5.5: a field value (used only to explain a refusal; the fast path checks
# bytes with ``translate``).
FIELD_VALUE_RE: Final = re.compile(_FIELD_VALUE_CLASS + rb"*")

# RFC 9112 §3.2.2 / RFC 3986 §3: absolute-URI = scheme ":" hier-part; we only accept
# "http"/"https" with an authority, which is all an origin server is asked for.
ABSOLUTE_FORM_RE: Final = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(.*)", re.DOTALL)

# RFC 9110 §7.2: Host = uri-host [ ":" port ]; uri-host = IP-literal / IPv4address /
# reg-name (RFC 3986 §3.2.2). An empty value is allowed (authority without host).
HOST_RE: Final = re.compile(
    rb"(?:\[[0-9A-Za-z:.\-_~!$&'()*+,;=]+\]|(?:[0-9A-Za-z\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)"
    rb"(?::[0-9]*)?"
)

# RFC 9110 §5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, where
# qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text and
# quoted-pair = "\\" ( HTAB / SP / VCHAR / obs-text ). No alternative overlaps another,
# so matching never backtracks.
_QUOTED_STRING: Final = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'

# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF; chunk-size = 1*HEXDIG, and
# RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
# with chunk-ext-name = token and chunk-ext-val = token / quoted-string. BWS (RFC 9110
# §5.6.3) is whitespace a recipient must accept and remove; nothing else may follow the
# size (no trailing whitespace, no empty name: ``2;\r\n`` is refused). Extensions
# are checked and then ignored (§7.1.1: a recipient MUST ignore unrecognised ones);
# their length is bounded by the parser. One regex, one C pass per chunk line; a
# token stops at the ``;``, ``=``, ``"`` or whitespace that may follow it, so this never
# backtracks either.
_BWS: Final = rb"[ \t]*"
CHUNK_EXT: Final = (
    rb"(?:" + _BWS + rb";" + _BWS + _TCHAR_CLASS + rb"+"
    rb"(?:" + _BWS + rb"=" + _BWS + rb"(?:" + _TCHAR_CLASS + rb"+|" + _QUOTED_STRING + rb"))?)*"
)
CHUNK_SIZE_RE: Final = re.compile(rb"([0-9A-Fa-f]+)" + CHUNK_EXT)
CHUNK_EXT_RE: Final = re.compile(CHUNK_EXT)

DIGITS_RE: Final = re.compile(rb"[0-9]+")
