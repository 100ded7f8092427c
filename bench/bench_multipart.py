"""Multipart parser throughput: asgi_magic's sans-IO parser vs python-multipart.

    .venv/bin/python bench/bench_multipart.py [--size-mb 100] [--chunk-kb 64] [--repeat 3]

Builds one ~100 MB multipart/form-data body (a few text fields and three file parts
of random bytes), feeds it to each parser in ``--chunk-kb`` chunks (as a server would
hand it over) and prints the best MB/s of ``--repeat`` runs. Only parsing is timed:
the callbacks/events just count bytes, so the first and third lines compare the parsers
themselves; ``bytes.find floor`` is one C search for the delimiter per chunk and nothing
else, the least any boundary scan can cost. ``parse_multipart`` and ``starlette form``
are the whole upload path of each framework on the same body (parser + UploadFile
spooling to temporary files).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from asgi_magic.web._multipart_parser import MultipartParser, PartData

BOUNDARY = b"----asgimagicbench7MA4YWxkTrZu0gW"


def build_body(size: int) -> bytes:
    block = os.urandom(1024 * 1024)
    parts = []
    for i in range(5):
        parts.append(
            b"--" + BOUNDARY + b"\r\n"
            b'Content-Disposition: form-data; name="field%d"\r\n\r\nvalue %d\r\n' % (i, i)
        )
    per_file = size // 3
    for i in range(3):
        content = (block * (per_file // len(block) + 1))[:per_file]
        parts.append(
            b"--" + BOUNDARY + b"\r\n"
            b'Content-Disposition: form-data; name="file%d"; filename="f%d.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" % (i, i) + content + b"\r\n"
        )
    parts.append(b"--" + BOUNDARY + b"--\r\n")
    return b"".join(parts)


def run_asgi_magic(chunks: list[bytes]) -> int:
    parser = MultipartParser(BOUNDARY)
    total = 0
    for chunk in chunks:
        for event in parser.feed(chunk):
            if type(event) is PartData:
                total += len(event.data)
    parser.close()
    return total


def run_find_floor(chunks: list[bytes]) -> int:
    """The floor: one C ``bytes.find`` of the delimiter over every chunk, nothing else."""
    delim = b"\r\n--" + BOUNDARY
    found = 0
    for chunk in chunks:
        if chunk.find(delim) != -1:
            found += 1
    return found


def run_python_multipart(chunks: list[bytes]) -> int:
    from python_multipart.multipart import MultipartParser as PMParser

    total = 0

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal total
        total += end - start

    parser = PMParser(BOUNDARY, callbacks={"on_part_data": on_part_data})  # type: ignore[arg-type]
    for chunk in chunks:
        parser.write(chunk)
    parser.finalize()
    return total


def run_parse_multipart(chunks: list[bytes]) -> int:
    """The whole upload path: parser + UploadFile spooling to temporary files."""
    import asyncio

    from asgi_magic.web.multipart import parse_multipart

    async def stream():  # type: ignore[no-untyped-def]
        for chunk in chunks:
            yield chunk

    async def go() -> int:
        form = await parse_multipart(
            stream(), "multipart/form-data; boundary=" + BOUNDARY.decode(), max_files=10
        )
        total = sum(v.size for _, v in form.multi_items() if not isinstance(v, str))
        await form.close()
        return total

    return asyncio.run(go())


def run_starlette(chunks: list[bytes]) -> int:
    """Starlette's form parser (python-multipart underneath) with its UploadFile spooling."""
    import asyncio
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.datastructures import Headers
        from starlette.formparsers import MultiPartParser

    async def stream():  # type: ignore[no-untyped-def]
        for chunk in chunks:
            yield chunk

    async def go() -> int:
        headers = Headers({"content-type": "multipart/form-data; boundary=" + BOUNDARY.decode()})
        form = await MultiPartParser(headers, stream(), max_files=10).parse()
        total = sum(v.size or 0 for _, v in form.multi_items() if not isinstance(v, str))
        await form.close()
        return total

    return asyncio.run(go())


def measure(name: str, fn: Callable[[list[bytes]], int], chunks: list[bytes], repeat: int) -> float:
    size = sum(map(len, chunks))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(chunks)
        best = min(best, time.perf_counter() - t0)
    rate = size / best / 1e6
    print(f"{name:<18} {rate:9.1f} MB/s  ({best * 1000:.0f} ms for {size / 1e6:.0f} MB)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--chunk-kb", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    body = build_body(args.size_mb * 1024 * 1024)
    step = args.chunk_kb * 1024
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    assert run_asgi_magic(chunks) == run_python_multipart(chunks)
    floor = measure("bytes.find floor", run_find_floor, chunks, args.repeat)
    ours = measure("asgi_magic", run_asgi_magic, chunks, args.repeat)
    print(f"parser: asgi_magic / bytes.find floor = {ours / floor:.2f}x")
    measure("parse_multipart", run_parse_multipart, chunks, args.repeat)
    try:
        theirs = measure("python-multipart", run_python_multipart, chunks, args.repeat)
        measure("starlette form", run_starlette, chunks, args.repeat)
    except ImportError:
        print("python-multipart not installed: no comparison")
        return
    print(f"parser: asgi_magic / python-multipart = {ours / theirs:.1f}x")


if __name__ == "__main__":
    main()
