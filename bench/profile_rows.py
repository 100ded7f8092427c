"""What limits each ``make bench`` row, measured with instruments the machine's noise
cannot move (a plain script, not a test; findings in docs/benchmarks/limits.md).

Every command runs one server (``--server``: asgi_magic, asgi_magic-pure,
uvicorn-httptools or floor, each serving bench.apps.raw:app) and drives it from a
second process with ``--connections`` keep-alive connections, each with ``--pipeline``
requests in flight (sent in one write, as wrk's pipeline.lua does)::

    .venv/bin/python bench/profile_rows.py instructions --server asgi_magic -c 64
    .venv/bin/python bench/profile_rows.py instructions --server asgi_magic -c 64 --pipeline 16
    .venv/bin/python bench/profile_rows.py instructions --server floor -c 64 --split
    .venv/bin/python bench/profile_rows.py instructions --server asgi_magic -c 256 --gc freeze
    .venv/bin/python bench/profile_rows.py syscalls --server asgi_magic -c 256 --requests 40000
    .venv/bin/python bench/profile_rows.py gc --server asgi_magic -c 64 --requests 40000

* ``instructions``: ``valgrind --tool=callgrind`` over two runs of different lengths;
  the difference per request cancels start-up and shutdown. ``--split`` adds the
  exclusive instructions per request of each object file (the interpreter, uvloop and
  libuv, the mypyc module, httptools, libc) and the inclusive cost of the functions that
  mark a layer, from ``callgrind_annotate``.
* ``syscalls``: ``strace -c -f`` over two runs of different lengths: system calls per
  request, by name (strace slows the server, which changes how many requests one wakeup
  finds; the counts are for this driver, not for wrk).
* ``gc``: collections per generation per 1,000 requests (``gc.callbacks``).

``--gc freeze`` runs ``gc.freeze()`` once the app is imported; ``--gc threshold=N``
sets the generation-0 threshold to N: each is measured like the default.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: profile_rows\r\n\r\n"
ECHO_SIZE = 1 << 20  # the POST body of --path /echo, as bench/lua/echo_1m.lua

# Runs the server in-process after the gc setting and the gc counters; results go to
# the file named by PROFILE_ROWS_GC at exit (SIGINT ends every server here cleanly).
WRAPPER = r"""
import atexit, gc, json, os, runpy, sys
setting = os.environ.get("PROFILE_ROWS_GC_SETTING", "")
counts = [0, 0, 0]
def on_gc(phase, info):
    if phase == "start":
        counts[info["generation"]] += 1
gc.callbacks.append(on_gc)
if setting.startswith("threshold="):
    gc.set_threshold(int(setting.split("=")[1]), *gc.get_threshold()[1:])
def dump():
    path = os.environ.get("PROFILE_ROWS_GC")
    if path:
        with open(path, "w") as out:
            json.dump(counts, out)
atexit.register(dump)
if os.environ.get("PROFILE_ROWS_OPCODES"):  # bytecodes and calls per Python function
    import collections
    ops = collections.Counter()
    calls = collections.Counter()
    def tracer(frame, event, arg):
        code = frame.f_code
        key = code.co_filename + ":" + code.co_name
        calls[key] += 1
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        def local(frame, event, arg):
            if event == "opcode":
                ops[key] += 1
            return local
        return local
    def dump_ops():
        with open(os.environ["PROFILE_ROWS_OPCODES"], "w") as out:
            json.dump({"ops": ops, "calls": calls}, out)
    atexit.register(dump_ops)
    sys.settrace(tracer)
module = sys.argv[1]
if setting == "freeze":  # import the app and the server's modules, then freeze them
    import importlib
    for name in ("bench.apps.raw", "asgi_magic.cli", "asgi_magic.server.server",
                 "asgi_magic.server.http_protocol", "uvicorn.main",
                 "uvicorn.protocols.http.httptools_impl"):
        if name.split(".")[0] in (module.split(".")[0], "bench"):
            importlib.import_module(name)
    gc.freeze()
sys.argv = sys.argv[1:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def server_argv(
    server: str, port: int, app: str = "bench.apps.raw:app"
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    env.pop("ASGI_MAGIC_NO_EXTENSIONS", None)
    env["PYTHONHASHSEED"] = "0"  # the same dict layouts in every run
    common = ["--host", HOST, "--port", str(port)]
    if server in ("asgi_magic", "asgi_magic-pure"):
        if server == "asgi_magic-pure":
            env["ASGI_MAGIC_NO_EXTENSIONS"] = "1"
        args = ["asgi_magic", app, *common]
        args += ["--no-access-log", "--log-level", "warning"]
    elif server == "uvicorn-httptools":
        args = ["uvicorn", app, *common, "--http", "httptools"]
        args += ["--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    elif server == "granian":  # a worker process: syscalls only (strace -f follows it)
        args = ["granian", "--interface", "asgi", *common, "--workers", "1"]
        args += ["--runtime-threads", "1", "--loop", "uvloop", "--no-access-log"]
        args += ["--log-level", "warning", app]
    elif server in ("floor", "floor-write-each"):
        args = ["bench.apps.floor", *common]
        if server == "floor-write-each":
            args.append("--write-each")
        if app != "bench.apps.raw:app":
            args.append("--cases")
    else:
        raise SystemExit(f"unknown server {server!r}")
    return [PYTHON, "-c", WRAPPER, *args], env


# --- the load: a second process, never under valgrind or strace --------------------


def request_bytes(path: str) -> bytes:
    """One request for ``path``: a GET, or for ``/echo`` a POST of a 1 MiB body."""
    if path == "/echo":
        body = b"e" * ECHO_SIZE
        head = f"POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body
    return REQUEST.replace(b"GET / ", b"GET " + path.encode() + b" ")


def _responses(state: list[Any], received: bytes) -> int:
    """How many responses ``received`` completes on one connection. ``state`` is
    [responses owed, unparsed bytes, what comes next ("head", "length", "size", "data"
    or "crlf"), bytes left of the body or chunk]; no trailers (the apps send none)."""
    buf = state[1] + received
    finished = 0
    while True:
        mode = state[2]
        if mode == "head" or mode == "size":
            end = buf.find(b"\r\n\r\n" if mode == "head" else b"\r\n")
            if end == -1:
                break
            line, buf = buf[:end], buf[end + (4 if mode == "head" else 2) :]
            if mode == "head":
                head = line.lower()
                at = head.find(b"content-length:")
                if at == -1:
                    state[2] = "size"  # chunked (RFC 9112 §7.1)
                    continue
                state[2], state[3] = "length", int(head[at + 15 :].split(b"\r\n", 1)[0])
            else:
                size = int(line.split(b";", 1)[0], 16)
                state[2], state[3] = ("data", size) if size else ("crlf", 0)
                continue
        if mode in ("length", "data") or state[2] == "length":
            if len(buf) < state[3]:
                state[3] -= len(buf)
                buf = b""
                break
            buf = buf[state[3] :]
            if state[2] == "data":  # the CRLF after the chunk's data, then a size line
                state[2], state[3] = "chunk-crlf", 0
                continue
        elif mode == "chunk-crlf" or mode == "crlf":
            if len(buf) < 2:
                break
            buf = buf[2:]
            if mode == "chunk-crlf":
                state[2] = "size"
                continue
        state[2] = "head"
        finished += 1
    state[1] = buf
    return finished


def drive(port: int, connections: int, pipeline: int, requests: int, path: str = "/") -> None:
    """Keep ``pipeline`` requests in flight on each of ``connections`` connections until
    ``requests`` (a multiple of ``pipeline``) have been sent and every response read to
    its end, so the server has served exactly that many."""
    selector = selectors.DefaultSelector()
    batch = request_bytes(path) * pipeline
    sent = done = 0
    for _ in range(connections):
        sock = socket.create_connection((HOST, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state: list[Any] = [0, b"", "head", 0]
        selector.register(sock, selectors.EVENT_READ, state)
        if sent + pipeline <= requests:
            sock.sendall(batch)
            state[0] = pipeline
            sent += pipeline
    while done < sent:
        for key, _ in selector.select(timeout=60):
            sock = key.fileobj  # type: ignore[assignment]
            state = key.data
            received = sock.recv(1 << 20)
            if not received:
                raise SystemExit("the server closed a connection")
            finished = _responses(state, received)
            state[0] -= finished
            done += finished
            if state[0] == 0 and sent + pipeline <= requests:
                sock.sendall(batch)  # blocking: a 1 MiB body goes out whole
                state[0] = pipeline
                sent += pipeline
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]


def _lengths(args: argparse.Namespace, ratio: int) -> tuple[int, int]:
    """The short and long run lengths: multiples of the pipeline depth."""
    depth = args.pipeline
    return args.requests // ratio // depth * depth, args.requests // depth * depth


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def run_once(
    args: argparse.Namespace,
    requests: int,
    tool: list[str],
    extra_env: dict[str, str] | None = None,
) -> dict[str, object]:
    """Start the server under ``tool``, drive ``requests`` through it, stop it with
    SIGINT; the gc counts it wrote."""
    port = _free_port()
    app = "bench.apps.raw:app" if args.path == "/" else "bench.apps.cases:app"
    argv, env = server_argv(args.server, port, app)
    env.update(extra_env or {})
    with tempfile.NamedTemporaryFile(suffix=".json") as gc_file:
        env["PROFILE_ROWS_GC"] = gc_file.name
        env["PROFILE_ROWS_GC_SETTING"] = args.gc
        proc = subprocess.Popen(
            [*tool, *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    socket.create_connection((HOST, port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                        raise SystemExit(f"the server did not start:\n{err}") from None
                    time.sleep(0.3)
            code = (
                f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                "from bench.profile_rows import drive; "
                f"drive({port}, {args.connections}, {args.pipeline}, {requests}, {args.path!r})"
            )
            subprocess.run([PYTHON, "-c", code], check=True, timeout=1800)
            # To the process group: strace -o blocks SIGINT itself, the server gets it.
            os.killpg(proc.pid, signal.SIGINT)
            _, stderr = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        text = Path(gc_file.name).read_text() or "[0, 0, 0]"
        return {"gc": json.loads(text), "stderr": stderr.decode(errors="replace")}


# --- instructions ------------------------------------------------------------------

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
# callgrind_annotate: "   1,234 (12.3%)  file:function [object]" (object only without
# debug info) or "   1,234  file:function [object]".
_ANNOTATE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)(?:\s+\[(.+)\])?\s*$")

# Functions whose inclusive cost marks a layer (substring of the callgrind name).
MARKERS = {
    "epoll_wait + read (uvloop/libuv loop iteration)": "uv__io_poll",
    "uvloop: run ready handles": "uv__run_idle",
    "parser feed (mypyc)": "RequestParser___feed",
    "parser next_event (mypyc)": "RequestParser___next_event",
    "writer start (mypyc)": "ResponseWriter___start",
    "writer body (mypyc)": "ResponseWriter___body",
    "transport.write (uvloop)": "UVStream_write",
    "task step (_asyncio)": "task_step",
    "httptools feed_data": "HttpParser_feed_data",
    "libc send/write": "__libc_send",
    "libc recv/read": "__libc_recv",
    "gc collect": "gc_collect_main",
}


def _object_group(source: str, obj: str) -> str:
    """The layer of one callgrind_annotate row: by its object file, or, for code
    inlined from another file (no object shown), by its source path."""
    where = obj or source
    for key, group in (
        ("asgi_magic__mypyc", "asgi_magic compiled (mypyc)"),
        ("_cmask", "asgi_magic compiled (mypyc)"),
        ("/uvloop/", "uvloop + libuv"),
        ("libuv", "uvloop + libuv"),
        ("httptools", "httptools"),
        ("_asyncio", "_asyncio (tasks, futures)"),
        ("libc", "libc"),
        ("csu/", "libc"),
        ("sysdeps/", "libc"),
        ("ld-linux", "ld.so"),
        ("python", "CPython interpreter"),
        ("Python-3", "CPython interpreter"),
    ):
        if key in where:
            return group
    return Path(where).name or "other"


def _annotate(out: Path, inclusive: bool) -> list[tuple[int, str, str]]:
    text = subprocess.run(
        [
            "callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
            "--threshold=100", "--auto=no", str(out),
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = []
    # Only the function table: after its "file:function" heading, before the next rule.
    table = text.split("file:function", 1)[-1].split("\n--------", 2)[1]
    for line in table.splitlines():
        match = _ANNOTATE.match(line)
        if match and ":" in match.group(2) and "=>" not in line:
            rows.append(
                (int(match.group(1).replace(",", "")), match.group(2), match.group(3) or "")
            )
    return rows


def instructions(args: argparse.Namespace) -> None:
    short, long = _lengths(args, 6)
    totals: dict[int, int] = {}
    files: dict[int, Path] = {}
    tmp = Path(tempfile.mkdtemp(prefix="profile_rows."))
    for n in (short, long):
        out, log = tmp / f"callgrind.{n}.out", tmp / f"valgrind.{n}.log"
        tool = [
            "valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={out}",
            f"--log-file={log}",
        ]  # fmt: skip
        run_once(args, n, tool)
        match = _COLLECTED.search(log.read_text())
        if match is None:
            raise SystemExit(f"no instruction count in {log}")
        totals[n], files[n] = int(match.group(1)), out
    short, long = sorted(totals)
    per_request = (totals[long] - totals[short]) / (long - short)
    label = f"{args.server}, {args.connections} connections, pipeline {args.pipeline}"
    if args.gc:
        label += f", gc {args.gc}"
    print(f"{label}: {per_request:,.0f} instructions per request (callgrind, {short} vs {long})")
    if args.split:
        print_split(files[short], files[long], long - short)
        print(f"  callgrind files kept in {tmp} (callgrind_annotate --inclusive=yes FILE)")


def print_split(short_file: Path, long_file: Path, requests: int) -> None:
    """Per request: exclusive instructions by object file, and the inclusive cost of
    each marker function, from two callgrind files whose runs differ by ``requests``."""
    by_object: dict[Path, Counter[str]] = {}
    marked: dict[Path, Counter[str]] = {}
    for path in (short_file, long_file):
        by_object[path] = Counter()
        for cost, source, obj in _annotate(path, inclusive=False):
            by_object[path][_object_group(source, obj)] += cost
        marked[path] = Counter()
        for cost, name, _ in _annotate(path, inclusive=True):
            for title, marker in MARKERS.items():
                if marker in name and "'" not in name:  # not a recursion level (f'2)
                    marked[path][title] = max(marked[path][title], cost)
    print("  exclusive, per object file:")
    objects = by_object[long_file]
    for group in sorted(objects, key=lambda g: -objects[g]):
        value = (objects[group] - by_object[short_file][group]) / requests
        if abs(value) >= 50:
            print(f"    {value:>10,.0f}  {group}")
    print("  inclusive, per marker function (nested: do not add up):")
    for title in MARKERS:
        if marked[long_file][title]:
            value = (marked[long_file][title] - marked[short_file][title]) / requests
            print(f"    {value:>10,.0f}  {title}")


# --- syscalls ------------------------------------------------------------------------

_STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def syscalls(args: argparse.Namespace) -> None:
    short, long = _lengths(args, 4)
    counts: dict[int, Counter[str]] = {}
    for n in (short, long):
        with tempfile.NamedTemporaryFile(suffix=".strace") as out:
            run_once(args, n, ["strace", "-c", "-f", "-o", out.name])
            counts[n] = Counter()
            for line in Path(out.name).read_text().splitlines():
                match = _STRACE_ROW.match(line)
                if match and match.group(2) != "total":
                    counts[n][match.group(2)] = int(match.group(1))
    label = f"{args.server}, {args.connections} connections, pipeline {args.pipeline}"
    total = sum(counts[long].values()) - sum(counts[short].values())
    print(f"{label}: {total / (long - short):.3f} system calls per request (strace -c -f)")
    for name in sorted(counts[long], key=lambda k: counts[short][k] - counts[long][k]):
        value = (counts[long][name] - counts[short][name]) / (long - short)
        if value >= 0.001:
            print(f"    {value:8.3f}  {name}")


def gc_counts(args: argparse.Namespace) -> None:
    short, long = _lengths(args, 4)
    results = {n: run_once(args, n, [])["gc"] for n in (short, long)}
    per_k = [
        (b - a) * 1000 / (long - short)
        for a, b in zip(results[short], results[long], strict=True)  # type: ignore[call-overload]
    ]
    label = f"{args.server}, {args.connections} connections, pipeline {args.pipeline}"
    if args.gc:
        label += f", gc {args.gc}"
    print(f"{label}: collections per 1,000 requests: gen0 {per_k[0]:.2f}, "
          f"gen1 {per_k[1]:.2f}, gen2 {per_k[2]:.2f}")  # fmt: skip


# Python source files by layer, for the opcode split (first match wins).
LAYERS = (
    ("/http11/", "parser + writer (http11, interpreted)"),
    ("/server/http_protocol.py", "protocol (server/http_protocol.py)"),
    ("/server/http_cycle.py", "cycle: ASGI receive/send (server/http_cycle.py)"),
    ("/server/scope.py", "scope (server/scope.py)"),
    ("/server/", "other server/ modules"),
    ("/bench/apps/", "the app (bench/apps/raw.py)"),
    ("/uvicorn/", "uvicorn"),
    ("/asyncio/", "asyncio (Python-level)"),
)


def _layer(key: str) -> str:
    for part, layer in LAYERS:
        if part in key:
            return layer
    return "other Python"


def opcodes(args: argparse.Namespace) -> None:
    short, long = _lengths(args, 4)
    found: dict[int, dict[str, Counter[str]]] = {}
    for n in (short, long):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            run_once(args, n, [], {"PROFILE_ROWS_OPCODES": out.name})
            data = json.loads(Path(out.name).read_text())
            found[n] = {kind: Counter(data[kind]) for kind in ("ops", "calls")}
    label = f"{args.server}, {args.connections} connections, pipeline {args.pipeline}"
    per = {
        kind: {
            key: (found[long][kind][key] - found[short][kind][key]) / (long - short)
            for key in found[long][kind]
        }
        for kind in ("ops", "calls")
    }
    print(
        f"{label}: {sum(per['ops'].values()):,.0f} Python bytecodes and "
        f"{sum(per['calls'].values()):,.1f} Python-level calls per request (sys.settrace)"
    )
    layers: dict[str, float] = {}
    layer_calls: dict[str, float] = {}
    for key, value in per["ops"].items():
        layers[_layer(key)] = layers.get(_layer(key), 0.0) + value
    for key, value in per["calls"].items():
        layer_calls[_layer(key)] = layer_calls.get(_layer(key), 0.0) + value
    for layer, value in sorted(layers.items(), key=lambda kv: -kv[1]):
        if value >= 0.5:
            print(f"    {value:8,.0f} bytecodes {layer_calls.get(layer, 0):6.1f} calls  {layer}")
    print("  top functions (bytecodes per request):")
    for key, value in sorted(per["ops"].items(), key=lambda kv: -kv[1])[: args.top]:
        if value >= 0.5:
            where = key.replace(str(ROOT) + "/", "")
            print(f"    {value:8,.1f} {per['calls'].get(key, 0):6.2f} calls  {where[-90:]}")


# --- CPU time per request under wrk ------------------------------------------------


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def _group_cpu_split(pgid: int) -> tuple[int, int]:
    user = system = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            user += int(fields[11])
            system += int(fields[12])
    return user, system


def cpu(args: argparse.Namespace) -> None:
    """The server pinned to CPU 0, wrk to CPU 1: user and system CPU time per request
    (from /proc, so it counts the server's own work, whatever else runs), how busy the
    server was, and wrk's latency percentiles. Rounds interleave the given servers."""
    sys.path.insert(0, str(ROOT))
    from bench.run import LUA, parse_wrk  # the harness's own wrk parser

    tick = os.sysconf("SC_CLK_TCK")
    servers = args.server.split(",")
    app = "bench.apps.raw:app" if args.path == "/" else "bench.apps.cases:app"
    started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for server in servers:
            port = _free_port()
            argv, env = server_argv(server, port, app)
            proc = subprocess.Popen(
                ["taskset", "-c", "0", *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection((HOST, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{server} did not start") from None
                    time.sleep(0.2)
            started[server] = (proc, port)
        lua = ["-s", str(LUA / "pipeline.lua")] if args.pipeline > 1 else []
        if args.lua:
            lua = ["-s", str(LUA / args.lua)]
        for round_ in range(args.rounds):
            for server in servers[round_ % len(servers) :] + servers[: round_ % len(servers)]:
                proc, port = started[server]
                wrk = [
                    "taskset", "-c", "1", "wrk", "-t1", f"-c{args.connections}",
                    f"-d{args.duration}", "--latency", *lua, f"http://{HOST}:{port}{args.path}",
                ]  # fmt: skip
                subprocess.run([*wrk[:5], "-d1", *wrk[6:]], capture_output=True, check=True)
                tracer = None
                if args.strace:  # attached to every thread of the server's processes
                    pids = _group_pids(proc.pid)
                    trace_out = Path(tempfile.mkstemp(suffix=".strace")[1])
                    attach = [a for pid in pids for a in ("-p", str(pid))]
                    tracer = subprocess.Popen(
                        ["strace", "-c", "-f", "-o", str(trace_out), *attach],
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(1)
                user0, sys0 = _group_cpu_split(proc.pid)
                start = time.monotonic()
                out = subprocess.run(wrk, capture_output=True, text=True, check=True).stdout
                elapsed = time.monotonic() - start
                user1, sys1 = _group_cpu_split(proc.pid)
                stats = parse_wrk(out)
                n = stats.requests
                if tracer is not None:
                    tracer.send_signal(signal.SIGINT)
                    tracer.wait(timeout=30)
                    calls: Counter[str] = Counter()
                    for line in trace_out.read_text().splitlines():
                        match = _STRACE_ROW.match(line)
                        if match and match.group(2) != "total":
                            calls[match.group(2)] = int(match.group(1))
                    trace_out.unlink()
                    mib = stats.read_bytes / (1 << 20)
                    print(
                        "    strace, per request: "
                        + ", ".join(f"{k} {v / n:.2f}" for k, v in calls.most_common(6))
                        + "; per MiB read by wrk: "
                        + ", ".join(f"{k} {v / mib:.1f}" for k, v in calls.most_common(3))
                    )
                user_us = (user1 - user0) / tick / n * 1e6
                sys_us = (sys1 - sys0) / tick / n * 1e6
                busy = ((user1 - user0) + (sys1 - sys0)) / tick / elapsed
                lat = stats.latency_ms
                print(
                    f"{server:18s} c{args.connections:<4d} p{args.pipeline:<3d} "
                    f"{stats.requests_per_s:>10,.0f} req/s  user {user_us:5.2f} µs  "
                    f"sys {sys_us:5.2f} µs per request  busy {busy:4.0%}  "
                    f"p50 {lat.get(50, 0):.2f} p99 {lat.get(99, 0):.2f} ms",
                    flush=True,
                )
    finally:
        for proc, _ in started.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("instructions", "syscalls", "gc", "opcodes", "cpu"))
    parser.add_argument("--server", default="asgi_magic", help="cpu: a comma-separated list")
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--requests", type=int, default=6000, help="the longer run's count")
    parser.add_argument("--split", action="store_true", help="instructions by object file")
    parser.add_argument("--gc", default="", help="'freeze' or 'threshold=N'")
    parser.add_argument("--top", type=int, default=15, help="functions listed by opcodes")
    parser.add_argument("--rounds", type=int, default=3, help="cpu: interleaved rounds")
    parser.add_argument("--path", default="/", help="/ (hello), /json, /echo (1 MiB), /stream")
    parser.add_argument("--lua", help="cpu: a script in bench/lua/, e.g. echo_1m.lua")
    parser.add_argument("--strace", action="store_true", help="cpu: count system calls too")
    parser.add_argument("--duration", type=int, default=4, help="cpu: seconds per wrk run")
    args = parser.parse_args(argv)
    commands = {"instructions": instructions, "syscalls": syscalls, "gc": gc_counts}
    commands["opcodes"] = opcodes
    commands["cpu"] = cpu
    commands[args.command](args)


if __name__ == "__main__":
    main()
