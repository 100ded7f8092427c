"""File uploads: ``multipart/form-data`` parsing into ``FormData`` with ``UploadFile`` s.

``Request.form()`` calls ``parse_multipart`` for ``multipart/form-data`` bodies. The body
is parsed as it arrives by the sans-IO ``MultipartParser`` (linear time, bounded
memory); text fields become ``str``, parts with a ``filename`` become ``UploadFile`` s
spooled to a temporary file once larger than ``spool_max_size``. Every limit and every
malformed body ends in ``HTTPException`` (400 for malformed input and too many parts,
413 for anything too large), with every temporary file already closed.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import re
import shutil
import unicodedata
from collections.abc import AsyncIterable
from tempfile import SpooledTemporaryFile
from typing import IO, Any, Final

from ._multipart_parser import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    parse_boundary,
    parse_content_disposition,
    parse_options_header,
)
from .datastructures import FormData, Headers
from .exceptions import HTTPException

__all__ = [
    "MultipartError",
    "MultipartParser",
    "PartData",
    "PartEnd",
    "PartStart",
    "UploadFile",
    "parse_multipart",
    "safe_filename",
]

logger = logging.getLogger("asgi_magic.web")

#: In-memory size of an upload before it is spooled to a temporary file on disk.
DEFAULT_SPOOL_MAX_SIZE: Final = 1024 * 1024
# File content is written to disk in batches of about this size, one thread hop per
# batch instead of one per received chunk.
_WRITE_BATCH: Final = 1024 * 1024


class UploadFile:
    """An uploaded file: its metadata and its content in a spooled temporary file.

    ``filename`` is kept exactly as the client sent it — use ``safe_filename()`` before
    building a path from it. The async methods run file operations in a worker thread
    once the content lives on disk, so they never block the event loop.
    """

    __slots__ = ("_max_spool_size", "file", "filename", "headers", "size")

    def __init__(
        self,
        file: IO[bytes] | None = None,
        *,
        size: int | None = None,
        filename: str | None = None,
        headers: Headers | None = None,
        max_spool_size: int = DEFAULT_SPOOL_MAX_SIZE,
    ) -> None:
        self._max_spool_size = max_spool_size
        self.file: IO[bytes] = (
            file if file is not None else SpooledTemporaryFile(max_size=max_spool_size)  # noqa: SIM115
        )
        self.size = size or 0
        self.filename = filename
        self.headers = headers if headers is not None else Headers()

    @property
    def content_type(self) -> str:
        """The part's media type, ``text/plain`` when it sent none."""
        # RFC 7578 §4.4: a part without Content-Type defaults to text/plain.
        value: str = self.headers.get("content-type", "text/plain")
        return value

    @property
    def _in_memory(self) -> bool:
        return not getattr(self.file, "_rolled", True)

    async def write(self, data: bytes) -> None:
        """Append ``data``; the file moves from memory to disk past the spool size."""
        if self._in_memory and self.size + len(data) <= self._max_spool_size:
            self.file.write(data)
        else:
            await asyncio.to_thread(self.file.write, data)
        self.size += len(data)

    async def _write_chunks(self, chunks: list[bytes], total: int) -> None:
        if self._in_memory and self.size + total <= self._max_spool_size:
            self.file.writelines(chunks)
        else:
            await asyncio.to_thread(self.file.writelines, chunks)
        self.size += total

    async def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the current position (all of the rest with -1);
        run in a worker thread once the file is on disk."""
        if self._in_memory:
            return self.file.read(size)
        return await asyncio.to_thread(self.file.read, size)

    async def seek(self, offset: int) -> None:
        """Move to byte ``offset`` from the start."""
        if self._in_memory:
            self.file.seek(offset)
        else:
            await asyncio.to_thread(self.file.seek, offset)

    async def close(self) -> None:
        """Close the file (a temporary file on disk is deleted); done for you after
        the response."""
        if self._in_memory:
            self.file.close()
        else:
            await asyncio.to_thread(self.file.close)

    async def save(self, path: str | os.PathLike[str]) -> None:
        """Copy the whole content to ``path`` (created or truncated), in a thread.

        ``path`` is used as given: build it from ``safe_filename(upload.filename)``,
        never from the raw client-supplied ``filename``.
        """
        await asyncio.to_thread(self._save, path)

    def _save(self, path: str | os.PathLike[str]) -> None:
        position = self.file.tell()
        self.file.seek(0)
        try:
            with open(path, "wb") as out:
                shutil.copyfileobj(self.file, out, 1024 * 1024)
        finally:
            self.file.seek(position)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(filename={self.filename!r}, size={self.size!r}, "
            f"content_type={self.content_type!r})"
        )


# --- safe_filename ---------------------------------------------------------------------

_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)


def safe_filename(filename: str | None, default: str = "upload") -> str:
    """A version of a client-supplied file name that is safe as one path component.

    Keeps only the last component of either ``/`` or ``\\`` separated paths, removes
    control and invisible formatting characters (NUL, CR/LF, the right-to-left
    override used to disguise extensions), drops leading dots and spaces (no ``..``,
    no hidden files), replaces characters Windows forbids, prefixes Windows device
    names (``CON``, ``NUL``, ``COM1`` …) and caps the name at 255 UTF-8 bytes keeping
    its extension. Returns ``default`` when nothing usable is left.
    """
    if not filename:
        return default
    name = unicodedata.normalize("NFC", filename)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Unicode category C*: controls, format characters (bidi overrides), surrogates …
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _WINDOWS_FORBIDDEN.sub("_", name)
    name = name.strip().lstrip(".").strip()
    # Windows silently drops trailing dots and spaces, which could turn "a.php." into "a.php".
    name = name.rstrip(". ")
    if not name:
        return default
    if name.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    encoded = name.encode("utf-8")
    if len(encoded) > 255:
        stem, dot, ext = name.rpartition(".")
        suffix = (dot + ext) if dot and len(ext.encode("utf-8")) <= 16 else ""
        budget = 255 - len(suffix.encode("utf-8"))
        head = (stem if suffix else name).encode("utf-8")[:budget].decode("utf-8", "ignore")
        name = head + suffix
    return name


# --- parse_multipart ---------------------------------------------------------------------


def _field_charset(content_type: bytes | None) -> str:
    if content_type is None:
        return "utf-8"
    _, params = parse_options_header(content_type.decode("latin-1"))
    charset = params.get("charset", "utf-8")
    try:
        return codecs.lookup(charset).name
    except LookupError:
        raise MultipartError(400, f"unknown charset {charset!r} in form field") from None


async def parse_multipart(
    stream: AsyncIterable[bytes],
    content_type: str,
    *,
    max_files: int = 1000,
    max_fields: int = 1000,
    max_part_size: int = 1024 * 1024,
    max_file_size: int | None = None,
    max_body_size: int | None = None,
    max_part_header_size: int = 16 * 1024,
    spool_max_size: int = DEFAULT_SPOOL_MAX_SIZE,
) -> FormData:
    """Parse a ``multipart/form-data`` body from ``stream`` into a ``FormData``.

    ``content_type`` is the request's Content-Type header value (it carries the
    boundary). Limits: ``max_files`` / ``max_fields`` parts (400 beyond), text fields
    of at most ``max_part_size`` bytes (413), files of at most ``max_file_size`` bytes
    (413, None = unbounded), a whole body of at most ``max_body_size`` bytes (413),
    part header blocks of at most ``max_part_header_size`` bytes (413). Malformed
    bodies are a 400. On any error every ``UploadFile`` created so far is closed.
    Files come back rewound (``await upload.read()`` gives the whole content).
    """
    try:
        parser = MultipartParser(parse_boundary(content_type), max_header_size=max_part_header_size)
    except MultipartError as exc:
        _log_rejection(exc)
        raise HTTPException(exc.status, exc.detail) from None

    items: list[tuple[str, Any]] = []
    uploads: list[UploadFile] = []
    n_fields = n_files = 0
    received = 0
    # The part in progress: a text field (name, charset, bytes so far) or a file.
    field_name = ""
    field_charset = "utf-8"
    field_data = bytearray()
    upload: UploadFile | None = None
    pending: list[bytes] = []
    pending_size = 0
    try:
        async for chunk in stream:
            if not chunk:
                continue
            received += len(chunk)
            if max_body_size is not None and received > max_body_size:
                raise MultipartError(413, f"Request body larger than {max_body_size} bytes")
            for event in parser.feed(chunk):
                kind = type(event)
                if kind is PartData:
                    data = event.data  # type: ignore[union-attr]
                    if upload is not None:
                        pending.append(data)
                        pending_size += len(data)
                        if max_file_size is not None and upload.size + pending_size > max_file_size:
                            raise MultipartError(
                                413, f"Uploaded file larger than {max_file_size} bytes"
                            )
                        if pending_size >= _WRITE_BATCH:
                            await upload._write_chunks(pending, pending_size)
                            pending = []
                            pending_size = 0
                    else:
                        field_data += data
                        if len(field_data) > max_part_size:
                            raise MultipartError(
                                413,
                                f"Form field {field_name!r} larger than {max_part_size} bytes",
                            )
                elif kind is PartStart:
                    headers = event.headers  # type: ignore[union-attr]
                    dispositions = [v for k, v in headers if k == b"content-disposition"]
                    if len(dispositions) != 1:
                        # RFC 7578 §4.2: each part has exactly one Content-Disposition.
                        raise MultipartError(400, "multipart part needs one Content-Disposition")
                    name, filename = parse_content_disposition(dispositions[0])
                    if filename is not None:
                        n_files += 1
                        if n_files > max_files:
                            raise MultipartError(400, f"Too many files (maximum {max_files})")
                        upload = UploadFile(
                            filename=filename,
                            headers=Headers(raw=headers),
                            max_spool_size=spool_max_size,
                        )
                        uploads.append(upload)
                        field_name = name
                    else:
                        n_fields += 1
                        if n_fields > max_fields:
                            raise MultipartError(
                                400, f"Too many form fields (maximum {max_fields})"
                            )
                        upload = None
                        field_name = name
                        ctypes = [v for k, v in headers if k == b"content-type"]
                        field_charset = _field_charset(ctypes[0] if ctypes else None)
                        field_data = bytearray()
                else:  # PartEnd
                    if upload is not None:
                        if pending:
                            await upload._write_chunks(pending, pending_size)
                            pending = []
                            pending_size = 0
                        items.append((field_name, upload))
                        upload = None
                    else:
                        try:
                            value = field_data.decode(field_charset)
                        except UnicodeDecodeError:
                            raise MultipartError(
                                400, f"Form field {field_name!r} is not valid {field_charset}"
                            ) from None
                        items.append((field_name, value))
        parser.close()
        for item in uploads:
            await item.seek(0)
    except MultipartError as exc:
        await _close_all(uploads)
        _log_rejection(exc)
        raise HTTPException(exc.status, exc.detail) from None
    except BaseException:
        await _close_all(uploads)
        raise
    return FormData(items)


async def _close_all(uploads: list[UploadFile]) -> None:
    for item in uploads:
        try:
            await item.close()
        except Exception:  # pragma: no cover - closing a temp file does not fail in practice
            logger.exception("could not close an upload's temporary file")


def _log_rejection(exc: MultipartError) -> None:
    if logger.isEnabledFor(logging.INFO):
        logger.info("multipart/form-data body rejected: %d %s", exc.status, exc.detail)
