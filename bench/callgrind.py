"""Instructions per operation under ``valgrind --tool=callgrind`` (``make bench-instructions``).

Wall-clock figures move with the machine's load; executed instructions do not. Each
figure is measured by two runs that differ only in how many operations they do: the
difference in instructions, divided by the difference in operations, cancels start-up,
imports and shutdown::

    per_op = (instructions(n_long) - instructions(n_short)) / (n_long - n_short)

Cases, for the compiled and the pure-Python build (``ASGI_MAGIC_NO_EXTENSIONS=1``):

* ``parse``: the browser-sized head of bench/bench_parser.py, on a kept-alive parser
  (reference: httptools, the C parser uvicorn uses);
* ``write``: a small response head and body from ``ResponseWriter``;
* ``unmask-64k``: unmasking one 64 KiB WebSocket payload (reference: the C speedups of
  the ``websockets`` package);
* ``hello``: a whole request on the real server (``python -m asgi_magic`` serving
  bench.apps.raw:app, under valgrind), driven over one kept-alive connection by a
  request loop in a second process (not under valgrind); the server's instructions only.

    .venv/bin/python bench/callgrind.py                 # everything
    .venv/bin/python bench/callgrind.py --cases parse,unmask-64k --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"

# One operation per loop iteration; {n} is the count. Each runs with cwd = ROOT.
MICRO: dict[str, str] = {
    "parse": """
from bench.bench_parser import BROWSER_GET
from asgi_magic.http11 import PAUSED, RequestParser
parser = RequestParser()
for _ in range({n}):
    parser.feed(BROWSER_GET)
    while parser.next_event() is not PAUSED:
        pass
    parser.start_next_cycle()
""",
    "write": """
from asgi_magic.http11 import ResponseWriter
headers = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
defaults = [(b"server", b"asgi-magic")]
for _ in range({n}):
    writer = ResponseWriter(b"GET", "1.1", True, defaults)
    writer.start(200, headers)
    writer.body(b"Hello, world!", False)
""",
    "unmask-64k": """
from asgi_magic.websocket import apply_mask
data = bytes(range(256)) * 256
for _ in range({n}):
    apply_mask(data, b"\\x01\\x02\\x03\\x04")
""",
}
REFERENCES: dict[str, tuple[str, str]] = {
    "parse": (
        "httptools",
        """
import httptools
from bench.bench_parser import BROWSER_GET
class Callbacks:
    def on_url(self, url): pass
    def on_header(self, name, value): pass
    def on_message_complete(self): pass
parser = httptools.HttpRequestParser(Callbacks())
for _ in range({n}):
    parser.feed_data(BROWSER_GET)
""",
    ),
    "unmask-64k": (
        "websockets.speedups",
        """
from websockets.speedups import apply_mask
data = bytes(range(256)) * 256
for _ in range({n}):
    apply_mask(data, b"\\x01\\x02\\x03\\x04")
""",
    ),
}
# (short, long) operation counts per case: enough that the difference dominates noise
# from hash randomisation and allocator state, small enough to finish under valgrind.
COUNTS: dict[str, tuple[int, int]] = {
    "parse": (2000, 12000),
    "write": (2000, 12000),
    "unmask-64k": (50, 250),
    "hello": (500, 2500),
}

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: callgrind\r\n\r\n"


def _valgrind(log: Path) -> list[str]:
    return [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        f"--log-file={log}",
    ]


def _instructions(log: Path) -> int:
    match = _COLLECTED.search(log.read_text())
    if match is None:
        raise RuntimeError(f"no instruction count in {log}:\n{log.read_text()[-2000:]}")
    return int(match.group(1))


def _env(pure: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ASGI_MAGIC_NO_EXTENSIONS", None)
    if pure:
        env["ASGI_MAGIC_NO_EXTENSIONS"] = "1"
    env["PYTHONHASHSEED"] = "0"  # the same dict layouts in both runs
    return env


def count_script(code: str, n: int, pure: bool) -> int:
    """Instructions executed by ``python -c code`` with ``{n}`` = n."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "valgrind.log"
        subprocess.run(
            [*_valgrind(log), PYTHON, "-c", code.format(n=n)],
            cwd=ROOT,
            env=_env(pure),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return _instructions(log)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _drive(port: int, requests: int) -> None:
    """The request loop, run in a second process: one keep-alive connection, one request
    in flight, each response read to its end (Content-Length of the hello app)."""
    code = f"""
import socket
sock = socket.create_connection(({HOST!r}, {port}))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
request = {REQUEST!r}
for _ in range({requests}):
    sock.sendall(request)
    data = b""
    while True:
        data += sock.recv(65536)
        end = data.find(b"\\r\\n\\r\\n")
        if end != -1:
            head = data[:end].lower()
            length = int(head.split(b"content-length:")[1].split(b"\\r\\n")[0])
            if len(data) >= end + 4 + length:
                break
sock.close()
"""
    subprocess.run([PYTHON, "-c", code], check=True, timeout=600)


def count_server(requests: int, pure: bool) -> int:
    """Instructions the real server executes to start, serve ``requests`` hello
    requests on one connection, and shut down on SIGINT."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "valgrind.log"
        argv = [
            *_valgrind(log), PYTHON, "-m", "asgi_magic", "bench.apps.raw:app",
            "--host", HOST, "--port", str(port), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        server = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_env(pure),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    socket.create_connection((HOST, port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the server under valgrind did not start") from None
                    time.sleep(0.5)
            _drive(port, requests)
            server.send_signal(signal.SIGINT)
            server.wait(timeout=300)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        return _instructions(log)


def per_operation(measure: object, counts: tuple[int, int]) -> float:
    short, long = counts
    first = measure(short)  # type: ignore[operator]
    second = measure(long)  # type: ignore[operator]
    return float(second - first) / (long - short)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="parse,write,unmask-64k,hello")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the operation counts (smoke: 0.05)"
    )
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    build = subprocess.run(
        [PYTHON, "-c", "import asgi_magic; print(asgi_magic.build_info())"],
        cwd=ROOT, env=_env(False), capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"installed build: {build}; pure runs set ASGI_MAGIC_NO_EXTENSIONS=1", flush=True)
    results: dict[str, dict[str, float]] = {}
    for case in args.cases.split(","):
        short, long = COUNTS[case]
        counts = (max(2, int(short * args.scale)), max(4, int(long * args.scale)))
        row: dict[str, float] = {}
        for build, pure in (("compiled", False), ("pure", True)):
            if case == "hello":
                row[build] = per_operation(lambda n, p=pure: count_server(n, p), counts)
            else:
                code = MICRO[case]
                row[build] = per_operation(lambda n, c=code, p=pure: count_script(c, n, p), counts)
        if case in REFERENCES:
            name, code = REFERENCES[case]
            try:
                row[name] = per_operation(lambda n, c=code: count_script(c, n, pure=False), counts)
            except subprocess.CalledProcessError:
                pass  # the reference package is not installed
        results[case] = row
        cells = "  ".join(f"{name} {value:>10,.0f}" for name, value in row.items())
        print(f"{case:<12} instructions per operation: {cells}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
