"""The grammar of RFC 9110/9112 as compiled regexes and byte sets.

Each pattern or byte set validates a whole unit (a field section, a chunk-size line, a
Host value) in one pass in C, so the parser never loops over bytes in Python.
"""

from __future__ import annotations

import re

# RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "."
#                          / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TCHAR_CLASS = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]"

# RFC 9110 §5.5: field-vchar = VCHAR / obs-text, plus SP and HTAB inside a value.
# Everything else (the other controls, DEL, and of course CR, LF, NUL) is refused.
FIELD_VALUE_BYTES = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_FIELD_VALUE_CLASS = rb"[\t\x20-\x7e\x80-\xff]"

TOKEN_RE = re.compile(_TCHAR_CLASS + rb"+")

# RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive. The request
# line itself is checked with split/compare in the parser (faster than a regex); this is
# used only to tell 505 (a well-formed but unsupported version) from 400 (garbage).
ANY_VERSION_RE = re.compile(rb"HTTP/[0-9]\.[0-9]")

# RFC 9110 §5.5: a field value (used only to explain a refusal; the fast path checks
# bytes with ``translate``).
FIELD_VALUE_RE = re.compile(_FIELD_VALUE_CLASS + rb"*")

# RFC 9112 §3.2.2 / RFC 3986 §3: absolute-URI = scheme ":" hier-part; we only accept
# "http"/"https" with an authority, which is all an origin server is asked for.
ABSOLUTE_FORM_RE = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(.*)", re.DOTALL)

# RFC 9110 §7.2: Host = uri-host [ ":" port ]; uri-host = IP-literal / IPv4address /
# reg-name (RFC 3986 §3.2.2). An empty value is allowed (authority without host).
HOST_RE = re.compile(
    rb"(?:\[[0-9A-Za-z:.\-_~!$&'()*+,;=]+\]|(?:[0-9A-Za-z\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)"
    rb"(?::[0-9]*)?"
)

# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF; chunk-size = 1*HEXDIG, and
# chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ). We bound the
# digits (no sign, no "0x", no overflow) and let extensions through unparsed but bounded.
CHUNK_SIZE_RE = re.compile(rb"([0-9A-Fa-f]+)(?:[ \t]*;" + _FIELD_VALUE_CLASS + rb"*)?")

DIGITS_RE = re.compile(rb"[0-9]+")
