"""A sans-IO, incremental ``multipart/form-data`` parser (RFC 7578 over RFC 2046 §5.1).

Bytes in, events out, no I/O: ``MultipartParser.feed(data)`` returns the events the
new bytes complete — ``PartStart`` (the part's header fields), ``PartData`` (a slice of
the part's content) and ``PartEnd`` — and ``close()`` checks the body was terminated.

Why it is linear time: the delimiter is searched with ``bytes.find`` over the new bytes
plus a carry-over shorter than the delimiter (only a tail that may begin a delimiter is
kept), so no byte is scanned more than about ``len(delimiter)`` times whatever the
input — no regular expressions over the body, no rescans from the start of a part (the
CVE history of python-multipart and Werkzeug is ReDoS and quadratic rescans).

Strictness (documented in the README):

- line breaks must be CRLF; a bare LF or bare CR in a boundary line or a part header
  block is a 400 (RFC 2046 §5.1.1 and RFC 5322 §2.2 define lines by CRLF; accepting
  bare LF is how request-smuggling-style ambiguities between parsers start);
- the preamble before the first boundary and the epilogue after the last are ignored
  (RFC 2046 §5.1.1); transport padding (spaces/tabs) after a boundary is allowed;
- a boundary delimiter followed by anything else than ``--``, padding or CRLF is a
  400 (RFC 2046 §5.1.1: the delimiter MUST NOT appear inside an encapsulated part);
- part header fields are ``token ":" value`` with no obsolete line folding and no
  control characters other than HTAB (no header injection); the header block is
  bounded by ``max_header_size`` (413 when exceeded).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "MultipartError",
    "MultipartParser",
    "PartData",
    "PartEnd",
    "PartStart",
    "parse_boundary",
    "parse_content_disposition",
    "parse_options_header",
]

# Part header blocks are small in practice (Content-Disposition, Content-Type, maybe
# Content-Transfer-Encoding); 16 KiB leaves room for long UTF-8 filenames.
DEFAULT_MAX_HEADER_SIZE: Final = 16 * 1024
# Transport padding after a boundary (RFC 2046 §5.1.1 ``transport-padding := *LWSP-char``)
# is unbounded in the grammar; we bound it so a line of spaces cannot grow the buffer.
_MAX_PADDING: Final = 1024

# RFC 2046 §5.1.1: bchars := bcharsnospace / " "; boundary := 0*69<bchars> bcharsnospace
_BOUNDARY_RE: Final = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# RFC 9110 §5.6.2: token = 1*tchar
_TOKEN_RE: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: field values carry no CTL except HTAB (this is the header-injection check).
_BAD_VALUE_RE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# A LF not preceded by CR (used on the part of a header block received so far).
_BARE_LF_RE: Final = re.compile(rb"(?<!\r)\n")
# Parameters in Content-Type / Content-Disposition (RFC 9110 §5.6.6): token or quoted-string.
_PARAM_RE: Final = re.compile(
    r';[ \t]*([!#$%&\'*+\-.^_`|~0-9A-Za-z]+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^;"]*)',
    re.DOTALL,
)


class MultipartError(ValueError):
    """A malformed or over-limit body: ``status`` is what to answer (400 or 413)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class PartStart:
    """A part's header block: ``headers`` are ``(lower-case name, value)`` byte pairs."""

    __slots__ = ("headers",)

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers

    def __repr__(self) -> str:
        return f"PartStart({self.headers!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartStart) and other.headers == self.headers

    __hash__ = None  # type: ignore[assignment]


class PartData:
    """Some of the current part's content, in order; a part may yield many of these."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"PartData({self.data!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartData) and other.data == self.data

    __hash__ = None  # type: ignore[assignment]


class PartEnd:
    """The current part is complete."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PartEnd()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartEnd)

    __hash__ = None  # type: ignore[assignment]


Event = PartStart | PartData | PartEnd

_PREAMBLE: Final = 0  # before the first delimiter (content discarded)
_DELIMITER_LINE: Final = 1  # just after "--boundary": "--", or padding + CRLF
_HEADERS: Final = 2  # a part's header block, up to the empty line
_BODY: Final = 3  # a part's content, up to the next delimiter
_DONE: Final = 4  # after the close delimiter (the epilogue is discarded)


class MultipartParser:
    """Feed the body of a ``multipart/*`` message; get ``PartStart/PartData/PartEnd``.

    ``boundary`` is the raw boundary parameter (see ``parse_boundary``). The parser
    holds at most one part header block (bounded by ``max_header_size``) or a
    delimiter-sized tail between feeds; part content is handed out as it arrives.
    """

    __slots__ = ("_buf", "_delim", "_hscan", "_max_header_size", "_state")

    def __init__(self, boundary: bytes, *, max_header_size: int = DEFAULT_MAX_HEADER_SIZE) -> None:
        if not _BOUNDARY_RE.fullmatch(boundary.decode("latin-1")):
            raise MultipartError(400, "invalid multipart boundary")
        # RFC 2046 §5.1.1: the delimiter is CRLF "--" boundary; the CRLF belongs to the
        # delimiter, not to the preceding part. The body may begin with the delimiter
        # directly, so the buffer starts with a virtual CRLF to use one search for both.
        self._delim = b"\r\n--" + boundary
        self._buf = b"\r\n"
        self._state = _PREAMBLE
        self._max_header_size = max_header_size
        self._hscan = 0  # how much of the pending header block was already scanned

    @property
    def finished(self) -> bool:
        """True once the close delimiter (``--boundary--``) has been seen."""
        return self._state == _DONE

    def feed(self, data: bytes) -> list[Event]:
        """Consume ``data``; return the events it completes (possibly none)."""
        state = self._state
        if state == _DONE:
            return []  # RFC 2046 §5.1.1: the epilogue is to be ignored
        buf = self._buf + data if self._buf else data
        events: list[Event] = []
        pos = 0
        delim = self._delim
        while True:
            if state in (_BODY, _PREAMBLE):
                i = buf.find(delim, pos)
                if i == -1:
                    # Keep only a tail that may be the start of a delimiter: it begins
                    # with the delimiter's only CR and is shorter than the delimiter.
                    cut = len(buf)
                    r = buf.rfind(b"\r", max(pos, cut - len(delim) + 1))
                    if r != -1 and delim.startswith(buf[r:]):
                        cut = r
                    if state == _BODY and cut > pos:
                        events.append(PartData(buf[pos:cut]))
                    self._buf = buf[cut:]
                    self._state = state
                    return events
                if state == _BODY:
                    if i > pos:
                        events.append(PartData(buf[pos:i]))
                    events.append(PartEnd())
                pos = i + len(delim)
                state = _DELIMITER_LINE
            elif state == _DELIMITER_LINE:
                if len(buf) - pos < 2:
                    break
                if buf[pos] == 0x2D:  # "-"
                    if buf[pos + 1] != 0x2D:
                        raise MultipartError(400, "malformed multipart boundary line")
                    # close-delimiter: whatever follows is the epilogue.
                    self._state = _DONE
                    self._buf = b""
                    return events
                j = buf.find(b"\n", pos, pos + _MAX_PADDING)
                if j == -1:
                    if buf[pos:].strip(b" \t\r") or len(buf) - pos >= _MAX_PADDING:
                        raise MultipartError(400, "malformed multipart boundary line")
                    break
                # RFC 2046 §5.1.1: delimiter transport-padding CRLF
                if buf[j - 1] != 0x0D or buf[pos : j - 1].strip(b" \t"):
                    raise MultipartError(
                        400, "malformed multipart boundary line (line breaks must be CRLF)"
                    )
                pos = j + 1
                state = _HEADERS
                self._hscan = 0
            elif state == _HEADERS:
                if buf.startswith(b"\r\n", pos):  # a part with no header fields
                    events.append(PartStart([]))
                    pos += 2
                    state = _BODY
                    continue
                start = pos + max(0, self._hscan - 3)
                end = buf.find(b"\r\n\r\n", start)
                if end == -1:
                    if _BARE_LF_RE.search(buf, max(pos, start - 1)):
                        raise MultipartError(400, "bare LF in multipart part headers")
                    # The bytes held may end with the start of the "\r\n\r\n" that
                    # closes the block; they are not part of it, so they must not
                    # count (else the verdict would depend on where the body split).
                    trailing = 0
                    for tail in (b"\r\n\r", b"\r\n", b"\r"):
                        if buf.endswith(tail, pos):
                            trailing = len(tail)
                            break
                    if len(buf) - pos - trailing > self._max_header_size:
                        raise MultipartError(413, "multipart part headers too large")
                    self._hscan = len(buf) - pos
                    break
                if end - pos > self._max_header_size:
                    raise MultipartError(413, "multipart part headers too large")
                events.append(PartStart(_parse_header_block(buf[pos:end])))
                pos = end + 4
                state = _BODY
        self._buf = buf[pos:]
        self._state = state
        return events

    def close(self) -> None:
        """Call at the end of the body: raises ``MultipartError(400)`` if it was cut short."""
        if self._state != _DONE:
            raise MultipartError(400, "multipart body is not terminated by its close boundary")


def _parse_header_block(block: bytes) -> list[tuple[bytes, bytes]]:
    # RFC 2046 §5.1.1 / RFC 5322 §2.2: header lines end with CRLF; a bare CR or LF
    # inside the block would let two parsers disagree on where a field ends.
    if block.count(b"\n") != block.count(b"\r\n") or block.count(b"\r") != block.count(b"\r\n"):
        raise MultipartError(400, "bare CR or LF in multipart part headers")
    headers: list[tuple[bytes, bytes]] = []
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            # RFC 9112 §5.2: obs-fold is obsolete; RFC 7578 senders never fold.
            raise MultipartError(400, "folded multipart part header")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN_RE.fullmatch(name):
            raise MultipartError(400, "malformed multipart part header")
        value = value.strip(b" \t")
        if _BAD_VALUE_RE.search(value):
            raise MultipartError(400, "control character in multipart part header")
        headers.append((name.lower(), value))
    return headers


# --- header parameters ----------------------------------------------------------------


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        if "\\" in value:
            # RFC 9110 §5.6.4 quoted-pair, but only for the two characters that need it:
            # browsers send file names with raw backslashes (WHATWG HTML percent-encodes
            # only '"', CR and LF), so "a\b.txt" must not lose its backslash.
            value = value.replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_options_header(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"'`` → ``("form-data", {"name": "a"})`` (names lower-cased).

    Raises ``MultipartError(400)`` on a malformed parameter list or a repeated
    parameter (a repeated ``name`` is how two parsers come to disagree).
    """
    main, sep, rest = value.partition(";")
    params: dict[str, str] = {}
    if sep:
        rest = ";" + rest
        pos = 0
        for m in _PARAM_RE.finditer(rest):
            if rest[pos : m.start()].strip(" \t"):
                raise MultipartError(400, "malformed header parameters")
            key = m.group(1).lower()
            if key in params:
                raise MultipartError(400, f"duplicate header parameter {key!r}")
            params[key] = _unquote(m.group(2).strip(" \t"))
            pos = m.end()
        if rest[pos:].strip(" \t;"):
            raise MultipartError(400, "malformed header parameters")
    return main.strip(" \t").lower(), params


def parse_boundary(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type, validated (400 if bad)."""
    media_type, params = parse_options_header(content_type)
    if media_type != "multipart/form-data":
        raise MultipartError(400, "Content-Type is not multipart/form-data")
    boundary = params.get("boundary")
    if not boundary:
        raise MultipartError(400, "multipart boundary missing")
    # RFC 2046 §5.1.1: 1 to 70 characters from bchars, not ending with a space.
    if len(boundary) > 70:
        raise MultipartError(400, "multipart boundary longer than 70 characters")
    if not _BOUNDARY_RE.fullmatch(boundary):
        raise MultipartError(400, "invalid multipart boundary")
    return boundary.encode("ascii")


def _decode_ext_value(value: str) -> str | None:
    # RFC 8187 §3.2.1 ext-value: charset "'" [ language ] "'" value-chars
    charset, q1, rest = value.partition("'")
    _lang, q2, encoded = rest.partition("'")
    if not (q1 and q2) or charset.lower() not in ("utf-8", "iso-8859-1"):
        return None
    from urllib.parse import unquote_to_bytes

    try:
        return unquote_to_bytes(encoded).decode(charset.lower())
    except UnicodeDecodeError:
        return None


def parse_content_disposition(value: bytes) -> tuple[str, str | None]:
    """A part's Content-Disposition → ``(name, filename or None)``.

    RFC 7578 §4.2: each part MUST have ``Content-Disposition: form-data`` with a
    ``name`` parameter; a ``filename`` marks a file. ``filename*`` (RFC 8187, UTF-8 or
    ISO-8859-1) wins over ``filename`` when both are present (RFC 6266 §4.3). Values
    are decoded as UTF-8 (what browsers send, RFC 7578 §5.1.3), else ISO-8859-1.
    """
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = value.decode("latin-1")
    kind, params = parse_options_header(text)
    if kind != "form-data":
        raise MultipartError(400, "multipart part Content-Disposition is not form-data")
    name = params.get("name")
    if name is None:
        raise MultipartError(400, "multipart part has no name")
    filename = params.get("filename")
    ext = params.get("filename*")
    if ext is not None:
        decoded = _decode_ext_value(ext)
        if decoded is None:
            raise MultipartError(400, "malformed filename* parameter")
        filename = decoded
    return name, filename
