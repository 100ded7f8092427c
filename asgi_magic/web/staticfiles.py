"""``FileResponse`` and the mountable ``StaticFiles`` app.

Both speak HTTP caching and ranges the way RFC 9110 says: strong ``ETag`` and
``Last-Modified`` validators, conditional requests (§13: 304/412), byte ranges (§14:
206 for one range, ``multipart/byteranges`` for several, 416 when none is
satisfiable), ``HEAD`` and ``Accept-Ranges: bytes``. Files are streamed in 64 KiB
chunks read in a worker thread, or handed to the server with the
``http.response.pathsend`` extension (zero copy) when the server offers it.

``StaticFiles`` resolves every request path and checks that it stays under its root
before it ever ``stat`` s it: ``..`` segments, encoded slashes, backslashes, NUL bytes,
and symlinks leading outside (unless ``follow_symlink=True``) are all a 404.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import mimetypes
import os
import re
import secrets
import stat
from collections.abc import Mapping, Sequence
from typing import IO, Any, Final
from urllib.parse import quote

from ._types import Receive, Scope, Send
from .background import BackgroundTask
from .datastructures import Headers
from .responses import PlainTextResponse, Response
from .routing import answer_lifespan, get_route_path

__all__ = ["FileResponse", "NotModifiedResponse", "StaticFiles"]

#: Size of each read when a file is streamed (bounded memory per response).
CHUNK_SIZE: Final = 64 * 1024
# RFC 9110 §14.2: a server may ignore a Range with many ranges (a DoS vector); more than
# this many (before coalescing) and the whole representation is sent instead.
MAX_RANGES: Final = 64

_TEXT_TYPES_WITH_CHARSET: Final = ("application/javascript", "application/xml")
_RANGE_SPEC_RE: Final = re.compile(r"[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*")
# Headers that describe the content and so are absent from a 304 (RFC 9110 §15.4.5).
_CONTENT_HEADERS: Final = frozenset(
    {b"content-length", b"content-type", b"content-disposition", b"accept-ranges", b"content-range"}
)


def _get(scope: Scope, key: str) -> Any:
    return scope.get(key)


def _request_headers(scope: Scope) -> Headers:
    return Headers(raw=list(_get(scope, "headers") or ()))


def guess_media_type(path: str) -> str:
    media_type = mimetypes.guess_type(path, strict=False)[0] or "application/octet-stream"
    if media_type in _TEXT_TYPES_WITH_CHARSET:
        media_type += "; charset=utf-8"
    return media_type


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def _parse_http_date(value: str) -> float | None:
    # RFC 9110 §5.6.7: recipients accept IMF-fixdate, rfc850 and asctime; an invalid
    # date makes the conditional header be ignored (§13.1.3, §13.1.4).
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _etag_list(value: str) -> list[str]:
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def _weak_match(etag: str, header: str) -> bool:
    # RFC 9110 §13.1.2: If-None-Match uses the weak comparison function.
    bare = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == bare for tag in _etag_list(header))


def _strong_match(etag: str, header: str) -> bool:
    # RFC 9110 §13.1.1: If-Match uses the strong comparison (weak tags never match).
    if etag.startswith("W/"):
        return False
    return any(tag == "*" or tag == etag for tag in _etag_list(header))


def parse_range(value: str, size: int) -> list[tuple[int, int]] | None:
    """``Range`` header → inclusive, sorted, coalesced ``(first, last)`` byte ranges.

    None when the header is to be ignored (RFC 9110 §14.2: unknown unit, invalid
    syntax, too many ranges); an empty list when no range is satisfiable (→ 416).
    """
    unit, eq, specs = value.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    ranges: list[tuple[int, int]] = []
    parts = specs.split(",")
    if len(parts) > MAX_RANGES:
        return None
    for part in parts:
        if not part.strip(" \t"):
            continue  # RFC 9110 §5.6.1: empty list elements are allowed
        m = _RANGE_SPEC_RE.fullmatch(part)
        if m is None:
            return None
        first, last = m.group(1), m.group(2)
        if first:
            start = int(first)
            end = int(last) if last else size - 1
            if last and end < start:
                return None  # RFC 9110 §14.1.1: last-pos < first-pos is invalid
            if start >= size:
                continue  # unsatisfiable
            ranges.append((start, min(end, size - 1)))
        elif last:
            suffix = int(last)
            if suffix == 0 or size == 0:
                continue  # RFC 9110 §14.1.3: a zero suffix-length is unsatisfiable
            ranges.append((max(0, size - suffix), size - 1))
        else:
            return None
    if not ranges and not any(p.strip(" \t") for p in parts):
        return None
    # RFC 9110 §14.2: a server MAY coalesce overlapping or adjacent ranges; doing so
    # means "bytes=0-,0-,0-…" costs at most one copy of the file.
    ranges.sort()
    merged = [ranges[0]] if ranges else []
    for start, end in ranges[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


class NotModifiedResponse(Response):
    """A 304 carrying the validators and caching headers of the 200 it replaces."""

    def __init__(self, headers: Sequence[tuple[bytes, bytes]]) -> None:
        super().__init__(status_code=304)
        # RFC 9110 §15.4.5: send ETag, Cache-Control, Vary … as the 200 would, but no
        # content headers.
        self.raw_headers = [(k, v) for k, v in headers if k not in _CONTENT_HEADERS]


class FileResponse(Response):
    """Send a file; GET/HEAD on a 200 honour conditional requests and ranges.

    ``filename`` adds ``Content-Disposition`` (``attachment`` by default) with an
    RFC 6266/8187 ``filename*`` for non-ASCII names. A missing file is answered 404.
    """

    chunk_size = CHUNK_SIZE

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        method: str | None = None,
        content_disposition_type: str = "attachment",
    ) -> None:
        self.path = os.fspath(path)
        self.status_code = status_code
        self.filename = filename
        self.method = method.upper() if method is not None else None
        self.media_type = (
            media_type if media_type is not None else guess_media_type(filename or self.path)
        )
        self.background = background
        self.init_headers(headers)
        self.body = b""
        if filename is not None:
            self.raw_headers.append(
                (b"content-disposition", _content_disposition(content_disposition_type, filename))
            )
        self.stat_result = stat_result
        if stat_result is not None:
            self._set_stat_headers(stat_result)

    def _set_stat_headers(self, st: os.stat_result) -> None:
        present = {k for k, _ in self.raw_headers}
        add = self.raw_headers.append
        if b"content-length" not in present:
            add((b"content-length", str(st.st_size).encode()))
        if b"last-modified" not in present:
            add((b"last-modified", _http_date(st.st_mtime).encode()))
        if b"etag" not in present:
            # A strong validator (so If-Range works): mtime in ns and size change with
            # any edit; a precompressed sibling is a different representation.
            tag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
            encoding = dict(self.raw_headers).get(b"content-encoding")
            if encoding:
                tag += "-" + encoding.decode("latin-1")
            add((b"etag", f'"{tag}"'.encode("latin-1")))
        if b"accept-ranges" not in present:
            add((b"accept-ranges", b"bytes"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = self.method or scope.get("method", "GET")
        if self.stat_result is None:
            try:
                st = await asyncio.to_thread(os.stat, self.path)
            except OSError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode):
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
                return
            self.stat_result = st
            self._set_stat_headers(st)
        size = self.stat_result.st_size
        ranges: list[tuple[int, int]] | None = None
        if self.status_code == 200 and method in ("GET", "HEAD"):
            request_headers = _request_headers(scope)
            verdict = self._evaluate_preconditions(request_headers, method)
            if verdict is not None:
                await self._send_status(verdict, scope, receive, send)
                return
            range_header = request_headers.get("range")
            # RFC 9110 §14.2: Range is defined only for GET; HEAD gets the 200 headers.
            if range_header is not None and method == "GET" and self._if_range_ok(request_headers):
                ranges = parse_range(range_header, size)
                if ranges is not None and not ranges:
                    await self._send_unsatisfiable(size, scope, receive, send)
                    return
        if method == "HEAD":
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            await send({"type": "http.response.body", "body": b""})
        elif ranges is None:
            # A satisfiable range that happens to cover the whole file still gets a 206
            # with Content-Range: the client asked for a range (RFC 9110 §14.2, §15.3.7),
            # and a client resuming a download checks Content-Range.
            await self._send_whole(scope, send, size)
        elif len(ranges) == 1:
            await self._send_single_range(send, ranges[0], size)
        else:
            await self._send_multiple_ranges(send, ranges, size)
        if self.background is not None:
            await self.background()

    # --- conditional requests (RFC 9110 §13.2.2 order of evaluation) --------------------

    def _validators(self) -> tuple[str, float]:
        assert self.stat_result is not None
        headers = dict(self.raw_headers)
        etag = headers.get(b"etag", b"").decode("latin-1")
        return etag, float(int(self.stat_result.st_mtime))

    def _evaluate_preconditions(self, headers: Headers, method: str) -> int | None:
        etag, mtime = self._validators()
        if_match = headers.get("if-match")
        if if_match is not None:
            if not _strong_match(etag, if_match):
                return 412
        else:
            since = headers.get("if-unmodified-since")
            date = _parse_http_date(since) if since is not None else None
            if date is not None and mtime > date:
                return 412
        if_none_match = headers.get("if-none-match")
        if if_none_match is not None:
            if _weak_match(etag, if_none_match):
                return 304  # method is GET or HEAD here
        else:
            since = headers.get("if-modified-since")
            date = _parse_http_date(since) if since is not None else None
            if date is not None and mtime <= date:
                return 304
        return None

    def _if_range_ok(self, headers: Headers) -> bool:
        # RFC 9110 §13.1.5: honour Range only if the validator still matches, compared
        # strongly for an entity-tag and exactly for a date; otherwise send it all.
        value = headers.get("if-range")
        if value is None:
            return True
        etag, mtime = self._validators()
        value = value.strip()
        if value.startswith(('"', "W/")):
            return not value.startswith("W/") and value == etag
        date = _parse_http_date(value)
        return date is not None and date == mtime

    async def _send_status(self, status: int, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if status == 304:
            response = NotModifiedResponse(self.raw_headers)
        else:
            response = Response(status_code=status)
        await response(scope, receive, send)

    async def _send_unsatisfiable(
        self, size: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        # RFC 9110 §15.5.17: a 416 to a byte range request SHOULD carry Content-Range */size.
        response = Response(status_code=416, headers={"content-range": f"bytes */{size}"})
        await response(scope, receive, send)

    # --- sending the bytes ---------------------------------------------------------------

    def _headers_without(self, *names: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in self.raw_headers if k not in names]

    async def _send_whole(self, scope: Scope, send: Send, size: int) -> None:
        start = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        if "http.response.pathsend" in (_get(scope, "extensions") or {}):
            await send(start)
            await send({"type": "http.response.pathsend", "path": os.path.abspath(self.path)})
            return
        await self._send_span(send, start, 0, size)

    async def _send_single_range(self, send: Send, rng: tuple[int, int], size: int) -> None:
        first, last = rng
        headers = self._headers_without(b"content-length")
        headers.append((b"content-range", f"bytes {first}-{last}/{size}".encode()))
        headers.append((b"content-length", str(last - first + 1).encode()))
        start = {"type": "http.response.start", "status": 206, "headers": headers}
        await self._send_span(send, start, first, last - first + 1)

    async def _send_span(self, send: Send, start: dict[str, Any], offset: int, length: int) -> None:
        if length <= self.chunk_size:
            # Small files (the common case for static assets): open, read and close in
            # one worker-thread call instead of three.
            data = await asyncio.to_thread(self._read_span, offset, length)
            await send(start)
            await send({"type": "http.response.body", "body": data})
            return
        file = await self._open()
        try:
            await send(start)
            await self._stream(file, send, offset, length, last=True)
        finally:
            await asyncio.to_thread(file.close)

    def _read_span(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as file:
            if offset:
                file.seek(offset)
            data = file.read(length)
        if len(data) != length:
            raise RuntimeError(f"file {self.path!r} changed while it was being sent")
        return data

    async def _send_multiple_ranges(
        self, send: Send, ranges: list[tuple[int, int]], size: int
    ) -> None:
        # RFC 9110 §14.6: multipart/byteranges, each part with Content-Type and Content-Range.
        boundary = secrets.token_hex(16)
        content_type = dict(self.raw_headers).get(b"content-type", b"application/octet-stream")
        heads = [
            b"--%s\r\ncontent-type: %s\r\ncontent-range: bytes %d-%d/%d\r\n\r\n"
            % (boundary.encode(), content_type, first, last, size)
            for first, last in ranges
        ]
        tail = b"--%s--\r\n" % boundary.encode()
        length = sum(
            len(h) + (last - first + 1) + 2 for h, (first, last) in zip(heads, ranges, strict=True)
        ) + len(tail)
        headers = self._headers_without(b"content-length", b"content-type")
        headers.append((b"content-type", b"multipart/byteranges; boundary=" + boundary.encode()))
        headers.append((b"content-length", str(length).encode()))
        file = await self._open()
        try:
            await send({"type": "http.response.start", "status": 206, "headers": headers})
            for head, (first, last) in zip(heads, ranges, strict=True):
                await send({"type": "http.response.body", "body": head, "more_body": True})
                await self._stream(file, send, first, last - first + 1, last=False)
                await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
            await send({"type": "http.response.body", "body": tail})
        finally:
            await asyncio.to_thread(file.close)

    async def _open(self) -> IO[bytes]:
        return await asyncio.to_thread(open, self.path, "rb")

    async def _stream(
        self, file: IO[bytes], send: Send, offset: int, length: int, *, last: bool
    ) -> None:
        if offset:
            await asyncio.to_thread(file.seek, offset)
        remaining = length
        chunk_size = self.chunk_size
        while remaining > 0:
            chunk = await asyncio.to_thread(file.read, min(chunk_size, remaining))
            if not chunk:
                # The file shrank after it was stat'ed: stop rather than send bytes that
                # were never promised; the server sees the short body and closes.
                raise RuntimeError(f"file {self.path!r} changed while it was being sent")
            remaining -= len(chunk)
            await send(
                {
                    "type": "http.response.body",
                    "body": chunk,
                    "more_body": remaining > 0 or not last,
                }
            )
        if length == 0 and last:
            await send({"type": "http.response.body", "body": b""})


def _content_disposition(kind: str, filename: str) -> bytes:
    # RFC 6266 §4.3: an ASCII quoted ``filename`` for old clients plus ``filename*``
    # (RFC 8187 UTF-8) when the name is not plain ASCII.
    ascii_name = re.sub(r"[\x00-\x1f\x7f]", "_", filename.encode("ascii", "replace").decode())
    quoted = ascii_name.replace("\\", "\\\\").replace('"', '\\"')
    value = f'{kind}; filename="{quoted}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value.encode("latin-1")


# --- StaticFiles -----------------------------------------------------------------------

_ENCODED_SEPARATOR_RE: Final = re.compile(rb"%(?:2f|5c|00)", re.IGNORECASE)
_PRECOMPRESSED: Final = (("br", ".br"), ("gzip", ".gz"))


def _accepted_encodings(value: str) -> dict[str, float]:
    # RFC 9110 §12.5.3: codings with optional weights; "*" matches the others; q=0 refuses.
    result: dict[str, float] = {}
    for item in value.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        params = params.strip()
        if params:
            name, _, qvalue = params.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(qvalue.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:
                    q = 0.0
        result[coding] = q
    return result


class StaticFiles:
    """Serve the files under ``directory`` (and/or packages' ``statics`` folders).

    ``html=True`` serves ``index.html`` for directories (redirecting ``/dir`` to
    ``/dir/``) and ``404.html`` for missing files; ``cache_control`` is sent as the
    ``Cache-Control`` value; ``precompressed=True`` serves ``name.br``/``name.gz``
    siblings to clients that accept them.
    """

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str] | None = None,
        packages: Sequence[str | tuple[str, str]] | None = None,
        html: bool = False,
        check_dir: bool = True,
        follow_symlink: bool = False,
        cache_control: str | None = None,
        precompressed: bool = False,
    ) -> None:
        self.directory = os.fspath(directory) if directory is not None else None
        self.packages = packages
        self.html = html
        self.follow_symlink = follow_symlink
        self.cache_control = cache_control
        self.precompressed = precompressed
        self.all_directories = self._directories(self.directory, packages)
        if check_dir and self.directory is not None and not os.path.isdir(self.directory):
            raise RuntimeError(f"Directory '{self.directory}' does not exist")
        # Roots resolved once: containment is checked against these.
        self._roots = [
            os.path.abspath(d) if follow_symlink else os.path.realpath(d)
            for d in self.all_directories
        ]

    @staticmethod
    def _directories(
        directory: str | None, packages: Sequence[str | tuple[str, str]] | None
    ) -> list[str]:
        directories = [directory] if directory is not None else []
        for package in packages or []:
            name, folder = (package, "statics") if isinstance(package, str) else package
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise RuntimeError(f"Package {name!r} not found")
            path = os.path.join(os.path.dirname(spec.origin), folder)
            if not os.path.isdir(path):
                raise RuntimeError(f"Directory '{folder}' in package {name!r} could not be found")
            directories.append(path)
        return directories

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            response = await self.get_response(scope)
            await response(scope, receive, send)
        elif kind == "lifespan":
            # served on its own (not mounted), it still answers the lifespan protocol
            await answer_lifespan(receive, send)
        else:  # websocket: nothing to serve; RFC 6455 §7.4.1 1008 policy violation
            await receive()
            await send({"type": "websocket.close", "code": 1008, "reason": "static files only"})

    async def get_response(self, scope: Scope) -> Response:
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            return PlainTextResponse(
                "Method Not Allowed", status_code=405, headers={"allow": "GET, HEAD"}
            )
        relative = self._relative_path(scope)
        found = None if relative is None else await asyncio.to_thread(self._lookup, relative)
        if found is not None:
            full, st = found
            if stat.S_ISREG(st.st_mode):
                return await self._file_response(full, st, scope)
            if stat.S_ISDIR(st.st_mode) and self.html:
                index = await asyncio.to_thread(
                    self._lookup, os.path.join(relative or "", "index.html")
                )
                if index is not None and stat.S_ISREG(index[1].st_mode):
                    if not get_route_path(scope).endswith("/"):
                        return self._redirect_to_slash(scope)
                    return await self._file_response(index[0], index[1], scope)
        if self.html:
            page = await asyncio.to_thread(self._lookup, "404.html")
            if page is not None and stat.S_ISREG(page[1].st_mode):
                return FileResponse(page[0], status_code=404, stat_result=page[1], method=method)
        return PlainTextResponse("Not Found", status_code=404)

    def _relative_path(self, scope: Scope) -> str | None:
        """The request path as a safe relative path, or None (→ 404) if it is not one."""
        raw: bytes | None = _get(scope, "raw_path")
        # The server percent-decodes ``path``; an encoded "/", "\" or NUL in the raw
        # target would have been decoded into a separator the client did not type.
        if raw and _ENCODED_SEPARATOR_RE.search(raw):
            return None
        path = get_route_path(scope)
        if "\x00" in path or "\\" in path:
            return None
        segments = []
        for segment in path.split("/"):
            if segment in ("", "."):
                continue
            if segment == "..":
                return None
            segments.append(segment)
        return os.path.join(*segments) if segments else ""

    def _lookup(self, relative: str) -> tuple[str, os.stat_result] | None:
        for root in self._roots:
            joined = os.path.join(root, relative)
            # Resolve first, check containment, and only then stat (CWE-22).
            full = os.path.abspath(joined) if self.follow_symlink else os.path.realpath(joined)
            if os.path.commonpath([root, full]) != root:
                continue
            try:
                st = os.stat(full)
            except (OSError, ValueError):
                continue
            return full, st
        return None

    def _redirect_to_slash(self, scope: Scope) -> Response:
        raw: bytes = _get(scope, "raw_path") or _get(scope, "path").encode("utf-8")
        location = raw.decode("latin-1") + "/"
        # "//host/x" or "/\host/x" would be read by browsers as another origin: keep a
        # single leading slash so the redirect can only stay on this site.
        location = "/" + location.lstrip("/\\")
        query: bytes = _get(scope, "query_string") or b""
        if query:
            location += "?" + query.decode("latin-1")
        return Response(status_code=307, headers={"location": location})

    async def _file_response(self, full: str, st: os.stat_result, scope: Scope) -> Response:
        headers: dict[str, str] = {}
        if self.cache_control is not None:
            headers["cache-control"] = self.cache_control
        media_type = guess_media_type(full)
        path, file_stat = full, st
        if self.precompressed:
            headers["vary"] = "Accept-Encoding"
            request_headers = _request_headers(scope)
            accepted = _accepted_encodings(request_headers.get("accept-encoding", ""))
            default = accepted.get("*", 0.0)
            best = 0.0
            for coding, suffix in _PRECOMPRESSED:
                q = accepted.get(coding, default)
                if q <= best:
                    continue
                sibling = await asyncio.to_thread(self._sibling, full, suffix)
                if sibling is not None:
                    path, file_stat = sibling
                    headers["content-encoding"] = coding
                    best = q
        return FileResponse(path, headers=headers, media_type=media_type, stat_result=file_stat)

    def _sibling(self, full: str, suffix: str) -> tuple[str, os.stat_result] | None:
        candidate = full + suffix
        resolved = (
            os.path.abspath(candidate) if self.follow_symlink else os.path.realpath(candidate)
        )
        if not any(os.path.commonpath([root, resolved]) == root for root in self._roots):
            return None
        try:
            st = os.stat(resolved)
        except OSError:
            return None
        return (resolved, st) if stat.S_ISREG(st.st_mode) else None
