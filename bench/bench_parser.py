"""Micro-benchmark of the sans-IO HTTP/1.1 layer (a plain script, not a test).

    .venv/bin/python bench/bench_parser.py

Prints µs per request for parsing a small GET, a browser-like GET (~500 bytes, 12
header fields), a POST with a Content-Length body and a chunked POST, and for writing
a small response (``start`` + ``body``).
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

# Run from a checkout without installing: the package sits next to bench/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asgi_magic.http11 import NEED_DATA, PAUSED, RequestParser, ResponseWriter

SMALL_GET = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

BROWSER_GET = (
    b"GET /articles/2024/asgi-servers?page=2&sort=recent HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"Connection: keep-alive\r\n"
    b"Cache-Control: max-age=0\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/120.0.0.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    b"image/webp,*/*;q=0.8\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Referer: https://www.example.com/articles/2024\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-GB,en;q=0.9\r\n"
    b"\r\n"
)

POST_CL = (
    b"POST /api/items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Content-Length: 27\r\n\r\n" + b'{"name": "widget", "n": 42}'
)

POST_CHUNKED = (
    b"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
)


def parse_all(data: bytes) -> None:
    """One request on a fresh parser (a new connection)."""
    parser = RequestParser()
    parser.feed(data)
    next_event = parser.next_event
    while True:
        event = next_event()
        if event is PAUSED or event is NEED_DATA:
            return


def keep_alive(data: bytes) -> object:
    """One request on a kept-alive connection: the parser is reused (the common case)."""
    parser = RequestParser()

    def one() -> None:
        parser.feed(data)
        next_event = parser.next_event
        while next_event() is not PAUSED:
            pass
        parser.start_next_cycle()

    return one


def httptools_reference(data: bytes) -> object | None:
    """The same head through httptools (C, what uvicorn uses), for scale; None if absent."""
    try:
        import httptools  # type: ignore[import-not-found]
    except ImportError:
        return None

    class Callbacks:
        def on_url(self, url: bytes) -> None:
            pass

        def on_header(self, name: bytes, value: bytes) -> None:
            pass

        def on_message_complete(self) -> None:
            pass

    parser = httptools.HttpRequestParser(Callbacks())
    return lambda: parser.feed_data(data)


def write_small() -> None:
    writer = ResponseWriter(b"GET", "1.1", True, [(b"server", b"asgi-magic")])
    writer.start(200, [(b"content-type", b"text/plain"), (b"content-length", b"13")])
    writer.body(b"Hello, world!", False)


def report(name: str, func: object, number: int) -> None:
    timer = timeit.Timer(func)  # type: ignore[arg-type]
    best = min(timer.repeat(repeat=9, number=number)) / number
    print(f"{name:<56} {best * 1e6:8.2f} µs")


def main() -> None:
    assert len(BROWSER_GET) > 450, len(BROWSER_GET)
    cases = [
        (f"small GET ({len(SMALL_GET)} B)", SMALL_GET),
        (f"browser GET ({len(BROWSER_GET)} B, 12 fields)", BROWSER_GET),
        (f"POST Content-Length ({len(POST_CL)} B)", POST_CL),
        (f"POST chunked ({len(POST_CHUNKED)} B)", POST_CHUNKED),
    ]
    for name, data in cases:
        report("parse " + name + ", kept-alive", keep_alive(data), 20000)
    report("parse browser GET, new parser each time", lambda: parse_all(BROWSER_GET), 20000)
    reference = httptools_reference(BROWSER_GET)
    if reference is not None:
        report("  reference: httptools, browser GET", reference, 20000)
    report("write small response (start + body)", write_small, 20000)


if __name__ == "__main__":
    main()
