"""Files and request bodies shared by the harness and the apps, built one way only.

The harness creates the static files before it starts any server and passes their
directory in ``BENCH_STATIC_DIR``; the apps read that variable at import time.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

STATIC_DIR_ENV = "BENCH_STATIC_DIR"
# name -> size; 1 MiB exercises the large-transfer path (sendfile / chunking), 20 KiB
# the common "one asset of a web page" case.
STATIC_FILES = {"file-1m.bin": 1024 * 1024, "file-20k.bin": 20 * 1024}

UPLOAD_SIZE = 1024 * 1024
UPLOAD_BOUNDARY = "asgimagicbenchboundary7MA4YWxk"
# The form limits both frameworks are given: large enough for the benchmark's one file
# part, so neither side refuses it with 413.
UPLOAD_MAX_PART_SIZE = 4 * UPLOAD_SIZE


def ensure_static_files(directory: Path) -> Path:
    """Create the benchmark's static files in ``directory`` (idempotent)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, size in STATIC_FILES.items():
        path = directory / name
        if not path.exists() or path.stat().st_size != size:
            # Random bytes: nothing in the path can take a shortcut on repetitive data.
            path.write_bytes(os.urandom(size))
    return directory


def static_dir() -> Path:
    configured = os.environ.get(STATIC_DIR_ENV)
    if configured:
        return ensure_static_files(Path(configured))
    return ensure_static_files(Path(tempfile.gettempdir()) / "asgi_magic_bench_static")


def upload_body(size: int = UPLOAD_SIZE) -> tuple[bytes, str]:
    """The multipart/form-data body the upload scenario posts, and its content type.

    ``bench/lua/upload.lua`` builds the same bytes inside wrk; keep the two in step.
    """
    head = (
        f"--{UPLOAD_BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="blob.bin"\r\n'
        "Content-Type: application/octet-stream\r\n"
        "\r\n"
    ).encode("ascii")
    tail = f"\r\n--{UPLOAD_BOUNDARY}--\r\n".encode("ascii")
    body = head + b"x" * size + tail
    return body, f"multipart/form-data; boundary={UPLOAD_BOUNDARY}"
