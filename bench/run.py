"""``make bench``: asgi_magic against uvicorn, hypercorn and granian, in one run.

    .venv/bin/python bench/run.py                       # every scenario, 3 rounds of 4 s
    .venv/bin/python bench/run.py --quick               # 1 round of 2 s: a smoke run
    .venv/bin/python bench/run.py --scenario hello --scenario websocket --rounds 5

Method (the machine is small and noisy, so the method is what makes figures comparable):

* every server runs as one process (one worker) pinned to CPU 0 (``taskset -c 0``), the
  load generator (wrk, or ``bench/ws_load.py`` for WebSocket) is pinned to CPU 1;
* all servers of a scenario start first, each answers one correctness check (status,
  body) and gets a 1 s warm-up, then the rows are measured round-robin for R rounds (the
  order rotates every round) so drift in machine load hits every row alike;
* the figure is the median over rounds; p99 latency comes from ``wrk --latency``;
* HTTP/2 rows use h2load (Debian's ``nghttp2-client``) in cleartext with prior
  knowledge, ``-c`` connections of ``-m`` concurrent streams each;
* a round with any non-2xx/3xx answer, too many socket errors or a dead server fails the
  row: a server that answers errors fast must not win;
* ratios are asgi_magic (or asgi_magic.web) divided by the row's figure, taken round by
  round and then the median: above 1.00 means asgi_magic is faster.

Results are printed as Markdown tables and written to ``bench/results/latest.md``, and
as JSON (``results_json``) beside it, ``bench/results/latest.json``, which
``bench/chart.py`` draws.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import http.client
import importlib
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` puts bench/, not the repo, first
    sys.path.insert(0, str(ROOT))

from bench.apps._data import (  # noqa: E402  (needs the sys.path line above)
    STATIC_DIR_ENV,
    STATIC_FILES,
    UPLOAD_SIZE,
    ensure_static_files,
    upload_body,
)
from bench.apps.cases import JSON_BODY as CASES_JSON  # noqa: E402
from bench.apps.cases import STREAM_SIZE as CASES_STREAM_SIZE  # noqa: E402

HOST = "127.0.0.1"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
RESULTS = ROOT / "bench" / "results"
LUA = ROOT / "bench" / "lua"
CASES_APP = "bench.apps.cases:app"  # the payload scenario's app (the floor serves it too)
SERVER_CPU = "0"
LOAD_CPU = "1"
WARMUP_SECONDS = 1.0
START_TIMEOUT = 20.0
# wrk counts connect/read/write/timeout errors; a handful can happen at the edges of a
# run, more means the server drops connections. Non-2xx answers have no allowance.
MAX_SOCKET_ERROR_RATIO = 0.001
# Idle keep-alive connections opened for the memory row (enough that the allocator's
# granularity, an arena of 256 KiB or 1 MiB, is small beside the growth).
IDLE_CONNECTIONS = 2000


# --- wrk output -> numbers (pure; tested in tests/test_bench_harness.py) -----------------

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # -> milliseconds
# wrk prints sizes with binary prefixes (format_binary in wrk's units.c).
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}

_RE_SUMMARY = re.compile(
    r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)([KMGT]?B) read", re.M
)
_RE_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_RE_TRANSFER = re.compile(r"^Transfer/sec:\s+([\d.]+)([KMGT]?B)", re.M)
_RE_P = re.compile(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_RE_SOCKET = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.M
)
_RE_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)", re.M)


class WrkParseError(ValueError):
    """wrk's output lacks the summary lines (it crashed, or printed only an error)."""


@dataclass(frozen=True)
class WrkStats:
    requests: int
    seconds: float
    requests_per_s: float
    read_bytes: int
    transfer_per_s: float  # bytes/s, as wrk counts them (heads included)
    latency_ms: dict[int, float]  # percentile -> ms (from --latency)
    non2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def p99_ms(self) -> float | None:
        return self.latency_ms.get(99)

    @property
    def total_socket_errors(self) -> int:
        return sum(self.socket_errors.values())


def parse_wrk(text: str) -> WrkStats:
    summary = _RE_SUMMARY.search(text)
    rps = _RE_RPS.search(text)
    if summary is None or rps is None:
        tail = text.strip().splitlines()[-1:] or ["(no output)"]
        raise WrkParseError(f"no summary in wrk output: {tail[0]}")
    transfer = _RE_TRANSFER.search(text)
    socket_errors: dict[str, int] = {}
    sock = _RE_SOCKET.search(text)
    if sock is not None:
        socket_errors = dict(
            zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True)
        )
    non2xx = _RE_NON2XX.search(text)
    return WrkStats(
        requests=int(summary.group(1)),
        seconds=float(summary.group(2)) * _TIME_UNITS[summary.group(3)] / 1e3,
        requests_per_s=float(rps.group(1)),
        read_bytes=round(float(summary.group(4)) * _SIZE_UNITS[summary.group(5)]),
        transfer_per_s=(
            float(transfer.group(1)) * _SIZE_UNITS[transfer.group(2)] if transfer else 0.0
        ),
        latency_ms={int(p): float(v) * _TIME_UNITS[u] for p, v, u in _RE_P.findall(text)},
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=socket_errors,
    )


def wrk_failure(stats: WrkStats) -> str | None:
    """Why this wrk run must not count, or None when it is a clean run."""
    if stats.requests == 0:
        return "no request completed"
    if stats.non2xx:
        return f"{stats.non2xx} non-2xx/3xx responses"
    errors = stats.total_socket_errors
    if errors > max(1, stats.requests * MAX_SOCKET_ERROR_RATIO):
        detail = ", ".join(f"{k} {v}" for k, v in stats.socket_errors.items() if v)
        return f"{errors} socket errors ({detail})"
    return None


# --- h2load output -> numbers (pure; tested) ------------------------------------------

_RE_H2_FINISHED = re.compile(
    r"^finished in ([\d.]+)(us|ms|s|m|h), ([\d.]+) req/s, ([\d.]+)([KMGT]?B)/s", re.M
)
_RE_H2_REQUESTS = re.compile(
    r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
    r"(\d+) errored, (\d+) timeout",
    re.M,
)
_RE_H2_STATUS = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.M)


@dataclass(frozen=True)
class H2LoadStats:
    requests_per_s: float
    succeeded: int
    failed: int  # failed + errored + timeout, as h2load counts them
    bad_status: int  # 4xx and 5xx


def parse_h2load(text: str) -> H2LoadStats:
    finished = _RE_H2_FINISHED.search(text)
    requests = _RE_H2_REQUESTS.search(text)
    if finished is None or requests is None:
        tail = text.strip().splitlines()[-1:] or ["(no output)"]
        raise WrkParseError(f"no summary in h2load output: {tail[0]}")
    status = _RE_H2_STATUS.search(text)
    counts = [int(v) for v in requests.groups()]
    return H2LoadStats(
        requests_per_s=float(finished.group(3)),
        succeeded=counts[3],
        failed=counts[4] + counts[5] + counts[6],
        bad_status=int(status.group(3)) + int(status.group(4)) if status else 0,
    )


def h2load_failure(stats: H2LoadStats) -> str | None:
    """Why this h2load run must not count, or None when it is a clean run."""
    if stats.succeeded == 0:
        return "no request completed"
    if stats.bad_status:
        return f"{stats.bad_status} 4xx/5xx responses"
    if stats.failed > max(1, stats.succeeded * MAX_SOCKET_ERROR_RATIO):
        return f"{stats.failed} failed requests"
    return None


# --- results: medians, ratios, tables (pure; tested) -----------------------------------


@dataclass
class Measurement:
    rate: float  # requests/s or messages/s
    mb_per_s: float | None = None  # 10**6 bytes/s of payload
    p99_ms: float | None = None


@dataclass
class RowResult:
    label: str  # e.g. "uvicorn (httptools, uvloop)"
    group: str  # rows in one group are compared with each other (e.g. an endpoint)
    reference: bool = False  # the asgi_magic row of its group
    note: str = ""
    runs: list[Measurement] = field(default_factory=list)
    failure: str | None = None  # "skipped: ..." or "failed: ..."

    @property
    def ok(self) -> bool:
        return self.failure is None and bool(self.runs)

    def median(self) -> Measurement | None:
        if not self.ok:
            return None
        return Measurement(
            rate=statistics.median(m.rate for m in self.runs),
            mb_per_s=_median_or_none([m.mb_per_s for m in self.runs]),
            p99_ms=_median_or_none([m.p99_ms for m in self.runs]),
        )


def _median_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio_to_reference(rows: Sequence[RowResult], row: RowResult) -> float | None:
    """The median over rounds of reference rate ÷ ``row``'s rate (> 1: asgi_magic faster).

    Paired by round: the rows of one round run back to back, so a machine that slows
    down during the run (a shared VM does) weighs on both sides of each pair alike,
    where a ratio of two medians could pair a fast round with a slow one.
    """
    if not row.ok:
        return None
    for other in rows:
        if other.reference and other.group == row.group:
            if not other.ok:
                return None
            pairs = [
                ref.rate / mine.rate
                for ref, mine in zip(other.runs, row.runs, strict=False)  # a failed row stops early
                if mine.rate > 0
            ]
            return statistics.median(pairs) if pairs else None
    return None


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _fmt_mb(value: float) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def render_table(title: str, unit: str, rows: Sequence[RowResult], intro: str = "") -> str:
    """One Markdown table: a row per server/app, failures shown in place of figures."""
    lines = [f"### {title}", ""]
    if intro:
        lines += [intro, ""]
    lines += [
        f"| case | server / app | {unit} (median) | MB/s | p99 ms | asgi_magic ÷ this | runs | notes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        med = row.median()
        if med is None:
            reason = row.failure or "no runs"
            lines.append(f"| {row.group} | {row.label} | - | - | - | - | 0 | {reason} |")
            continue
        ratio = ratio_to_reference(rows, row)
        ratio_text = "-" if ratio is None else f"{ratio:.2f}"
        if row.reference:
            ratio_text = "1.00 (ref)"
        mb = "-" if med.mb_per_s is None else _fmt_mb(med.mb_per_s)
        p99 = "-" if med.p99_ms is None else f"{med.p99_ms:.2f}"
        lines.append(
            f"| {row.group} | {row.label} | {_fmt_rate(med.rate)} | {mb} | {p99} "
            f"| {ratio_text} | {len(row.runs)} | {row.note} |"
        )
    return "\n".join(lines) + "\n"


def scenario_json(name: str, title: str, unit: str, rows: Sequence[RowResult]) -> dict[str, object]:
    """One scenario's results as plain data: medians, ratios, every run, failures."""
    out_rows: list[dict[str, object]] = []
    for row in rows:
        med = row.median()
        out_rows.append(
            {
                "group": row.group,
                "label": row.label,
                "reference": row.reference,
                "note": row.note,
                "rate": None if med is None else med.rate,
                "mb_per_s": None if med is None else med.mb_per_s,
                "p99_ms": None if med is None else med.p99_ms,
                "ratio": 1.0 if row.reference and row.ok else ratio_to_reference(rows, row),
                "n_runs": len(row.runs),
                "runs": [m.rate for m in row.runs],
                "failure": row.failure,
            }
        )
    return {"name": name, "title": title, "unit": unit, "rows": out_rows}


def results_json(date: str, machine: str, command: str, scenarios: list[dict[str, object]]) -> str:
    """The whole run as JSON (schema 1): what ``bench/chart.py`` reads."""
    document = {
        "schema": 1,
        "date": date,
        "machine": machine,
        "command": command,
        "scenarios": scenarios,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- servers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerKind:
    key: str
    label: str
    argv: Callable[[str, int], list[str]]
    needs: str  # importable module that must exist, e.g. "uvicorn"
    note: str = ""


def _uvicorn(http: str, ws: str) -> Callable[[str, int], list[str]]:
    def argv(app: str, port: int) -> list[str]:
        return [
            PYTHON, "-m", "uvicorn", app, "--host", HOST, "--port", str(port),
            "--http", http, "--loop", "uvloop", "--ws", ws,
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip

    return argv


def _asgi_magic(app: str, port: int) -> list[str]:
    # The installed build (compiled where it was built: docs/compiled.md), whatever the
    # caller's environment says.
    return [
        "env", "-u", "ASGI_MAGIC_NO_EXTENSIONS",
        PYTHON, "-m", "asgi_magic", app, "--host", HOST, "--port", str(port),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def _asgi_magic_wsgi(app: str, port: int) -> list[str]:
    return [*_asgi_magic(app, port), "--interface", "wsgi"]


def _uvicorn_wsgi(app: str, port: int) -> list[str]:
    return [
        PYTHON, "-m", "uvicorn", app, "--host", HOST, "--port", str(port),
        "--interface", "wsgi", "--http", "httptools", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def _gunicorn(worker: str) -> Callable[[str, int], list[str]]:
    def argv(app: str, port: int) -> list[str]:
        # gunicorn's access log is off unless --access-logfile is given.
        extra = ["--threads", "40"] if worker == "gthread" else []
        return [
            str(BIN / "gunicorn"), app, "-b", f"{HOST}:{port}", "-w", "1", "-k", worker,
            *extra, "--log-level", "warning",
        ]  # fmt: skip

    return argv


def _asgi_magic_pure(app: str, port: int) -> list[str]:
    # The same server with the pure-Python protocol modules (no compiled code).
    return ["env", "ASGI_MAGIC_NO_EXTENSIONS=1", *_asgi_magic(app, port)[3:]]


def _floor(app: str, port: int) -> list[str]:
    # The app is not imported: the floor answers with fixed bytes. For the payload app it
    # serves the same endpoints (bench/apps/floor.py's CasesFloorProtocol).
    cases = ["--cases"] if app == CASES_APP else []
    return [PYTHON, "-m", "bench.apps.floor", "--host", HOST, "--port", str(port), *cases]


def _hypercorn(app: str, port: int) -> list[str]:
    # Hypercorn's access log is off unless --access-logfile is given.
    return [
        str(BIN / "hypercorn"), app, "-b", f"{HOST}:{port}", "-k", "uvloop", "-w", "1",
        "--log-level", "warning",
    ]  # fmt: skip


def _granian(app: str, port: int) -> list[str]:
    return [
        str(BIN / "granian"), "--interface", "asgi", "--host", HOST, "--port", str(port),
        "--workers", "1", "--runtime-threads", "1", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning", app,
    ]  # fmt: skip


def _granian_h2(app: str, port: int) -> list[str]:
    # --http 2: HTTP/2 only (cleartext prior knowledge), as h2load speaks it.
    return [*_granian(app, port)[:-1], "--http", "2", app]


SERVERS: dict[str, ServerKind] = {
    k.key: k
    for k in (
        ServerKind("asgi_magic", "asgi_magic", _asgi_magic, "asgi_magic.__main__"),
        ServerKind(
            "asgi_magic-pure", "asgi_magic (pure Python)", _asgi_magic_pure,
            "asgi_magic.__main__", note="ASGI_MAGIC_NO_EXTENSIONS=1",
        ),
        ServerKind(
            "uvicorn-httptools", "uvicorn (httptools, uvloop)",
            _uvicorn("httptools", "none"), "httptools",
        ),
        ServerKind("uvicorn-h11", "uvicorn (h11, uvloop)", _uvicorn("h11", "none"), "h11"),
        ServerKind(
            "uvicorn-websockets", "uvicorn (httptools, websockets)",
            _uvicorn("httptools", "websockets"), "websockets",
        ),
        ServerKind(
            "uvicorn-wsproto", "uvicorn (httptools, wsproto)",
            _uvicorn("httptools", "wsproto"), "wsproto",
        ),
        ServerKind("hypercorn", "hypercorn (uvloop)", _hypercorn, "hypercorn"),
        ServerKind(
            "asgi_magic-wsgi", "asgi_magic --interface wsgi", _asgi_magic_wsgi,
            "asgi_magic.__main__", note="40 threads",
        ),
        ServerKind(
            "uvicorn-wsgi", "uvicorn --interface wsgi (httptools)", _uvicorn_wsgi, "httptools",
        ),
        ServerKind(
            "gunicorn-sync", "gunicorn (sync worker)", _gunicorn("sync"), "gunicorn",
            note="no keep-alive: a connection per request",
        ),
        ServerKind(
            "gunicorn-gthread", "gunicorn (gthread, 40 threads)", _gunicorn("gthread"),
            "gunicorn",
        ),
        ServerKind(
            "granian", "granian (asgi)", _granian, "granian",
            note="Rust server, not a Python one",
        ),
        ServerKind(
            "granian-h2", "granian (asgi, --http 2)", _granian_h2, "granian",
            note="Rust server, not a Python one",
        ),
        ServerKind(
            "floor", "raw uvloop floor", _floor, "uvloop",
            note="not a server: fixed bytes, parses only what each case needs, no ASGI",
        ),
    )
}  # fmt: skip


def _access_log_on(kind: ServerKind) -> ServerKind:
    """The same server with its access log on (one line per request, to its log file):
    real deployments keep it, so the bench shows what it costs each server."""

    def argv(app: str, port: int) -> list[str]:
        args = kind.argv(app, port)
        if "--no-access-log" in args:
            index = args.index("--no-access-log")
            args[index : index + 1] = ["--access-log"] if kind.key == "granian" else []
        if "--log-level" in args:  # access lines are logged at INFO
            args[args.index("--log-level") + 1] = "info"
        if kind.key == "hypercorn":
            args += ["--access-logfile", "-"]
        return args

    return ServerKind(
        f"{kind.key}+log", f"{kind.label}, access log on", argv, kind.needs, kind.note
    )


ACCESS_LOG_SERVERS = ["asgi_magic", "asgi_magic-pure", "uvicorn-httptools", "hypercorn", "granian"]
SERVERS.update((f"{k}+log", _access_log_on(SERVERS[k])) for k in ACCESS_LOG_SERVERS)


# --- scenarios ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One request whose answer proves the server runs the app correctly."""

    method: str
    path: str
    expect: Callable[[bytes], bool]
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    http2: bool = False  # ask over HTTP/2 (prior knowledge), for HTTP/2-only servers


@dataclass(frozen=True)
class Target:
    """One server process: a server kind running one app."""

    key: str
    server: str
    app: str  # import string
    app_module_needs: tuple[str, ...]  # modules the app imports (checked up front)
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Row:
    target: str  # Target.key
    label: str
    group: str
    load: str  # "wrk", "ws", "h2load" or "idle" (memory per idle connection)
    path: str = "/"
    reference: bool = False
    connections: int | None = None  # None: the --connections value
    lua: str | None = None
    payload_bytes: int | None = None  # per request/message, for MB/s
    ws_size: int = 16
    ws_connections: int = 50
    h2_streams: int = 10  # h2load -m: concurrent streams per connection
    note: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    unit: str
    intro: str
    targets: tuple[Target, ...]
    rows: tuple[Row, ...]


HELLO_BODY = b"Hello, world!"


def _is(expected: bytes) -> Callable[[bytes], bool]:
    return lambda body: body == expected


def _user_json(body: bytes) -> bool:
    try:
        return bool(json.loads(body) == {"id": 42, "name": "user42"})
    except ValueError:
        return False


def _sized(n: int) -> Callable[[bytes], bool]:
    return lambda body: len(body) == n


def build_scenarios(app_server: str = "asgi_magic", connections: int = 64) -> dict[str, Scenario]:
    """Every scenario; ``app_server`` runs the framework, static and upload apps;
    ``connections`` is the wrk default (``--connections``), named in group labels."""
    hello_check = Check("GET", "/", _is(HELLO_BODY))
    ws_check = Check("GET", "/", _is(b"websocket echo\n"))
    fw_check = Check("GET", "/users/42", _user_json)
    static_checks = tuple(
        Check("GET", f"/static/{name}", _sized(size)) for name, size in STATIC_FILES.items()
    )
    upload, upload_type = upload_body()
    upload_check = Check(
        "POST", "/upload", _is(str(UPLOAD_SIZE).encode()), upload,
        (("Content-Type", upload_type),),
    )  # fmt: skip

    hello_servers = [
        "asgi_magic", "asgi_magic-pure", "uvicorn-httptools", "uvicorn-h11", "hypercorn",
        "granian", "floor",
    ]  # fmt: skip
    log_servers = [f"{k}+log" for k in ACCESS_LOG_SERVERS]
    hello = Scenario(
        "hello",
        "hello — raw ASGI hello world",
        "req/s",
        "`GET /` → 200 `Hello, world!` (text/plain), keep-alive, wrk -t1, at 1, "
        "{connections} and 256 connections, and pipelined 16 deep (`bench/lua/pipeline.lua`, "
        "{connections} connections); then with each server's access log on. "
        "Headline: asgi_magic ÷ uvicorn (httptools).",
        tuple(
            Target(f"hello:{s}", s, "bench.apps.raw:app", (), (hello_check,))
            for s in (*hello_servers, *log_servers)
        ),
        tuple(
            Row(
                f"hello:{s}", SERVERS[s].label, group, "wrk",
                reference=s == "asgi_magic", note=SERVERS[s].note, connections=conns, lua=lua,
            )
            for group, conns, lua in (
                ("1 connection", 1, None),
                (f"{connections} connections", None, None),
                ("256 connections", 256, None),
                ("pipelined x16", None, str(LUA / "pipeline.lua")),
            )
            for s in hello_servers
        ) + tuple(
            Row(
                f"hello:{s}", SERVERS[s].label, f"access log on, {connections} connections",
                "wrk", reference=s == "asgi_magic+log", note=SERVERS[s].note,
            )
            for s in log_servers
        ),
    )  # fmt: skip

    # The protocol beyond hello: bench.apps.cases on every server, and the floor serving
    # the same endpoints from a bare protocol (the "within 20 % of the floor" targets).
    payload_servers = hello_servers
    payload_checks = (
        Check("GET", "/json", _is(CASES_JSON)),
        Check("POST", "/echo", _is(b"e" * 4096), b"e" * 4096),
        Check("GET", "/stream", _sized(CASES_STREAM_SIZE)),
    )
    payload = Scenario(
        "payload",
        "payload — JSON, POST echo and a streamed response (raw ASGI)",
        "req/s",
        "`GET /json` (1 KB JSON, {connections} connections); `POST /echo` of 4 KiB "
        "({connections} connections) and of 1 MiB (16 connections), the body read whole "
        "and sent back; `GET /stream`: 10 MiB in 64 KiB `more_body` pieces (4 connections, "
        "MB/s is the figure to compare). App: `bench/apps/cases.py`.",
        tuple(
            Target(f"payload:{s}", s, CASES_APP, (), payload_checks)
            for s in payload_servers
        ),
        tuple(
            Row(
                f"payload:{s}", SERVERS[s].label, group, "wrk", path=path,
                reference=s == "asgi_magic", connections=conns, lua=lua, payload_bytes=size,
            )
            for group, path, conns, lua, size in (
                ("JSON 1 KB", "/json", None, None, len(CASES_JSON)),
                ("POST echo 4 KiB", "/echo", None, str(LUA / "echo_4k.lua"), 4096),
                ("POST echo 1 MiB", "/echo", 16, str(LUA / "echo_1m.lua"), 1 << 20),
                ("stream 10 MiB", "/stream", 4, None, CASES_STREAM_SIZE),
            )
            for s in payload_servers
        ),
    )  # fmt: skip

    frameworks = [
        ("magic", "asgi_magic.web", "bench.apps.fw_magic:app", ("asgi_magic.web",)),
        ("starlette", "Starlette", "bench.apps.fw_starlette:app", ("starlette",)),
        ("fastapi", "FastAPI", "bench.apps.fw_fastapi:app", ("fastapi",)),
    ]
    framework = Scenario(
        "framework",
        f"framework — asgi_magic.web vs Starlette vs FastAPI, all on {SERVERS[app_server].label}",
        "req/s",
        '`GET /` → text; `GET /users/42` → JSON `{"id": 42, "name": "user42"}` through '
        "a typed `{user_id:int}` route. Target: asgi_magic.web ≥ 1.2 x Starlette.",
        tuple(
            Target(f"fw:{k}", app_server, app, needs, (hello_check, fw_check))
            for k, _, app, needs in frameworks
        ),
        tuple(
            Row(f"fw:{k}", label, group, "wrk", path=path, reference=k == "magic")
            for group, path in (("text /", "/"), ("json /users/42", "/users/42"))
            for k, label, _, _ in frameworks
        ),
    )

    ws_servers = [
        "asgi_magic", "asgi_magic-pure", "uvicorn-websockets", "uvicorn-wsproto", "hypercorn",
    ]  # fmt: skip
    websocket = Scenario(
        "websocket",
        "websocket — raw ASGI echo",
        "msg/s",
        "`small`: 50 connections, 16 B text messages, one in flight per connection. "
        "`64 KiB`: 4 connections, 64 KiB binary messages. Load: `bench/ws_load.py` (uvloop, "
        "pre-masked frames), no permessage-deflate.",
        tuple(
            Target(f"ws:{s}", s, "bench.apps.ws_echo:app", (), (ws_check,)) for s in ws_servers
        ),
        tuple(
            Row(
                f"ws:{s}", SERVERS[s].label, group, "ws", reference=s == "asgi_magic",
                ws_size=size, ws_connections=conns, payload_bytes=size,
            )
            for group, size, conns in (("small 16 B", 16, 50), ("64 KiB", 65536, 4))
            for s in ws_servers
        ),
    )  # fmt: skip

    static_apps = [
        ("magic", "asgi_magic.web StaticFiles", "bench.apps.static_magic:app",
         ("asgi_magic.web.staticfiles",)),
        ("starlette", "Starlette StaticFiles", "bench.apps.static_starlette:app",
         ("starlette.staticfiles",)),
    ]  # fmt: skip
    static = Scenario(
        "static",
        f"static — StaticFiles on {SERVERS[app_server].label}",
        "req/s",
        "`GET /static/file-20k.bin` (20 KiB) and `/static/file-1m.bin` (1 MiB), 16 connections; "
        "MB/s counts file bytes.",
        tuple(
            Target(f"static:{k}", app_server, app, needs, static_checks)
            for k, _, app, needs in static_apps
        ),
        tuple(
            Row(
                f"static:{k}", label, group, "wrk", path=f"/static/{name}",
                reference=k == "magic", connections=16, payload_bytes=STATIC_FILES[name],
            )
            for group, name in (("20 KiB", "file-20k.bin"), ("1 MiB", "file-1m.bin"))
            for k, label, _, _ in static_apps
        ),
    )  # fmt: skip

    upload_apps = [
        ("magic", "asgi_magic.web request.form()", "bench.apps.upload_magic:app",
         ("asgi_magic.web.multipart",)),
        ("starlette", "Starlette request.form() (python-multipart)",
         "bench.apps.upload_starlette:app", ("python_multipart",)),
    ]  # fmt: skip
    upload_scenario = Scenario(
        "upload",
        f"upload — 1 MiB multipart/form-data POST on {SERVERS[app_server].label}",
        "req/s",
        "One file part of 1 MiB per request (`bench/lua/upload.lua`), the app parses the form "
        "and answers the file size; 16 connections; MB/s counts uploaded bytes.",
        tuple(
            Target(f"upload:{k}", app_server, app, needs, (upload_check,))
            for k, _, app, needs in upload_apps
        ),
        tuple(
            Row(
                f"upload:{k}", label, "1 MiB", "wrk", path="/upload", reference=k == "magic",
                connections=16, lua=str(LUA / "upload.lua"), payload_bytes=len(upload),
            )
            for k, label, _, _ in upload_apps
        ),
    )  # fmt: skip
    idle_servers = [s for s in hello_servers if s != "floor"]
    idle = Scenario(
        "idle",
        "idle — memory per idle keep-alive connection",
        "idle conns/MiB",
        f"{IDLE_CONNECTIONS} connections each make one hello request and stay open; the figure "
        "is connections per MiB of the server's RSS growth (its whole process group), higher "
        "is leaner: 1024 ÷ it is KiB per idle connection. Measured once per server (freed "
        "memory would be reused by a second batch); later rounds repeat it.",
        tuple(
            Target(f"idle:{s}", s, "bench.apps.raw:app", (), (hello_check,)) for s in idle_servers
        ),
        tuple(
            Row(
                f"idle:{s}", SERVERS[s].label, "idle keep-alive", "idle",
                reference=s == "asgi_magic", note=SERVERS[s].note,
            )
            for s in idle_servers
        ),
    )  # fmt: skip
    wsgi_servers = ["asgi_magic-wsgi", "uvicorn-wsgi", "gunicorn-sync", "gunicorn-gthread"]
    wsgi_apps = [
        ("plain", "plain WSGI callable", "bench.apps.wsgi_hello:app", ()),
        ("flask", "Flask", "bench.apps.wsgi_hello:flask_app", ("flask",)),
    ]
    wsgi = Scenario(
        "wsgi",
        "wsgi — one WSGI app on WSGI-capable servers",
        "req/s",
        "`GET /` → 200 `Hello, world!` from a plain WSGI callable and from Flask, one worker "
        "each, wrk -t1, {connections} connections. Reference: asgi_magic --interface wsgi.",
        tuple(
            Target(f"wsgi:{a}:{s}", s, app, needs, (hello_check,))
            for a, _, app, needs in wsgi_apps
            for s in wsgi_servers
        ),
        tuple(
            Row(
                f"wsgi:{a}:{s}", SERVERS[s].label, group, "wrk",
                reference=s == "asgi_magic-wsgi", note=SERVERS[s].note,
            )
            for a, group, _, _ in wsgi_apps
            for s in wsgi_servers
        ),
    )  # fmt: skip
    h2_servers = ["asgi_magic", "hypercorn", "granian-h2"]
    h2_check = Check("GET", "/", _is(HELLO_BODY), http2=True)
    http2 = Scenario(
        "http2",
        "http2 — raw ASGI hello world over HTTP/2",
        "req/s",
        "`GET /` → 200 `Hello, world!` over cleartext HTTP/2 (prior knowledge), h2load -t1, "
        "16 connections x 10 concurrent streams. Same app as `hello`.",
        tuple(
            Target(f"h2:{s}", s, "bench.apps.raw:app", ("h2",), (h2_check,)) for s in h2_servers
        ),
        tuple(
            Row(
                f"h2:{s}", SERVERS[s].label, "hello h2c", "h2load", connections=16,
                reference=s == "asgi_magic", note=SERVERS[s].note,
            )
            for s in h2_servers
        ),
    )  # fmt: skip
    return {
        s.name: s
        for s in (hello, payload, idle, framework, websocket, static, upload_scenario, wsgi, http2)
    }


# --- processes ----------------------------------------------------------------------------

_LIVE: dict[int, subprocess.Popen[bytes]] = {}


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a server and everything it spawned (its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    # Workers (granian, hypercorn) may outlive the leader: always sweep the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _LIVE.pop(proc.pid, None)


def _kill_all() -> None:
    for proc in list(_LIVE.values()):
        _kill_group(proc, grace=2.0)


atexit.register(_kill_all)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    useful = [line.strip() for line in text if line.strip()][-lines:]
    return " / ".join(useful)[-300:]


@dataclass
class RunningServer:
    target: Target
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def death_reason(self) -> str:
        return f"server exited with code {self.proc.returncode}: {_log_tail(self.log, 1)}"


def start_server(target: Target, env: dict[str, str], logs: Path) -> RunningServer | str:
    """Start ``target`` pinned to the server CPU; a RunningServer, or why it can't run."""
    kind = SERVERS[target.server]
    for module in (kind.needs, *target.app_module_needs):
        # find_spec, not import: it runs no __main__ and loads nothing heavy in the
        # harness; an app that is present but broken shows up as a failed start instead.
        try:
            found = importlib.util.find_spec(module) is not None
        except Exception as exc:  # a parent package that fails to import
            return f"skipped: cannot import {module} ({type(exc).__name__}: {exc})"
        if not found:
            return f"skipped: {module} is not installed / not written yet"
    port = free_port()
    log = logs / (target.key.replace(":", "-") + ".log")
    argv = ["taskset", "-c", SERVER_CPU, *kind.argv(target.app, port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    _LIVE[proc.pid] = proc
    server = RunningServer(target, port, proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if not server.alive():
            _kill_group(proc)
            return f"skipped: {server.death_reason()}"
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                _kill_group(proc)
                return f"skipped: no listener on port {port} after {START_TIMEOUT:.0f} s"
            time.sleep(0.1)
    for check in target.checks:
        problem = check_answer(server, check)
        if problem is not None:
            _kill_group(proc)
            return f"skipped: correctness check failed: {problem}"
    return server


def check_answer(server: RunningServer, check: Check) -> str | None:
    if check.http2:
        return _check_answer_h2(server, check)
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        conn.request(check.method, check.path, body=check.body, headers=dict(check.headers))
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"{check.method} {check.path}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if response.status != 200:
        return f"{check.method} {check.path} answered {response.status}: {body[:80]!r}"
    if not check.expect(body):
        return f"{check.method} {check.path}: unexpected body {body[:80]!r}"
    return None


def _check_answer_h2(server: RunningServer, check: Check) -> str | None:
    import httpx  # with the h2 package: both are in the test extra

    try:
        with httpx.Client(http1=False, http2=True, timeout=10) as client:
            response = client.request(
                check.method, f"http://{HOST}:{server.port}{check.path}", content=check.body
            )
    except httpx.HTTPError as exc:
        return f"{check.method} {check.path}: {type(exc).__name__}: {exc}"
    if response.http_version != "HTTP/2" or response.status_code != 200:
        return (
            f"{check.method} {check.path} answered {response.status_code} {response.http_version}"
        )
    if not check.expect(response.content):
        return f"{check.method} {check.path}: unexpected body {response.content[:80]!r}"
    return None


# --- load generators ----------------------------------------------------------------------


def run_h2load(url: str, seconds: float, connections: int, streams: int) -> H2LoadStats | str:
    argv = [
        "taskset", "-c", LOAD_CPU, "h2load", "-t1", "-c", str(connections),
        "-m", str(streams), "-D", f"{seconds:g}", url,
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return "h2load did not finish"
    try:
        return parse_h2load(done.stdout)
    except WrkParseError as exc:
        return f"{exc} {done.stderr.strip()[:200]}"


def run_wrk(url: str, seconds: float, connections: int, lua: str | None) -> WrkStats | str:
    argv = [
        "taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c", str(connections),
        "-d", f"{seconds:g}s", "--latency", "--timeout", "5s",
    ]  # fmt: skip
    if lua:
        argv += ["-s", lua]
    argv.append(url)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return "wrk did not finish"
    try:
        return parse_wrk(done.stdout)
    except WrkParseError as exc:
        return f"{exc} {done.stderr.strip()[:200]}"


def run_ws(url: str, seconds: float, warmup: float, row: Row) -> Measurement | str:
    argv = [
        "taskset", "-c", LOAD_CPU, PYTHON, str(ROOT / "bench" / "ws_load.py"), "--url", url,
        "--connections", str(row.ws_connections), "--size", str(row.ws_size),
        "--duration", f"{seconds:g}", "--warmup", f"{warmup:g}",
    ]  # fmt: skip
    if row.ws_size > 1024:
        argv.append("--binary")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + warmup + 30)
    except subprocess.TimeoutExpired:
        return "ws_load did not finish"
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"ws_load failed: {done.stderr.strip()[-200:]}"
    if result["errors"] or not result["messages"]:
        return f"{result['errors']} errors: {result['first_error'] or 'no messages echoed'}"
    return Measurement(rate=float(result["messages_per_s"]), mb_per_s=float(result["mb_per_s"]))


def process_group_rss_kib(pgid: int) -> int:
    """Resident memory of every process in a process group (a server and its workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # Fields after the parenthesised command: state ppid pgrp ...
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    return total


# Memory freed by one round of idle connections is reused by the next (the allocator
# keeps it), so a later round would measure almost nothing: each server is measured
# once, in its first round, and later rounds repeat that figure.
_IDLE_MEASURED: dict[int, Measurement | str] = {}


def run_idle(port: int, pgid: int, count: int) -> Measurement | str:
    """Open ``count`` keep-alive connections, one hello request each, and leave them
    idle; the figure is idle connections per MiB of server RSS growth (higher: leaner)."""
    if port in _IDLE_MEASURED:
        return _IDLE_MEASURED[port]
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    socks: list[socket.socket] = []
    before = process_group_rss_kib(pgid)
    result: Measurement | str
    try:
        for _ in range(count):
            sock = socket.create_connection((HOST, port), timeout=30)
            socks.append(sock)
            sock.sendall(request)
        for sock in socks:
            data = b""
            while HELLO_BODY not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    raise OSError("a connection closed before its response")
                data += chunk
        time.sleep(0.5)  # let the server settle (buffers shrink, tasks end)
        grown_kib = max(process_group_rss_kib(pgid) - before, 1)
        result = Measurement(rate=count * 1024 / grown_kib)
    except OSError as exc:
        result = f"idle connections failed: {exc}"
    finally:
        for sock in socks:
            sock.close()
    _IDLE_MEASURED[port] = result
    return result


def measure(server: RunningServer, row: Row, seconds: float, connections: int) -> Measurement | str:
    if not server.alive():
        return server.death_reason()
    if row.load == "idle":
        return run_idle(server.port, server.proc.pid, row.connections or IDLE_CONNECTIONS)
    if row.load == "ws":
        # ws_load has its own unmeasured warm-up before each window.
        return run_ws(f"ws://{HOST}:{server.port}{row.path}", seconds, 0.5, row)
    if row.load == "h2load":
        h2stats = run_h2load(
            f"http://{HOST}:{server.port}{row.path}",
            seconds,
            row.connections or connections,
            row.h2_streams,
        )
        if isinstance(h2stats, str):
            return h2stats if server.alive() else server.death_reason()
        return h2load_failure(h2stats) or Measurement(rate=h2stats.requests_per_s)
    stats = run_wrk(
        f"http://{HOST}:{server.port}{row.path}", seconds, row.connections or connections, row.lua
    )
    if isinstance(stats, str):
        return stats if server.alive() else server.death_reason()
    failure = wrk_failure(stats)
    if failure is not None:
        return failure
    mb = None
    if row.payload_bytes is not None:
        mb = stats.requests_per_s * row.payload_bytes / 1e6
    return Measurement(rate=stats.requests_per_s, mb_per_s=mb, p99_ms=stats.p99_ms)


def warm_up(server: RunningServer, row: Row, connections: int) -> None:
    if row.load == "wrk":
        run_wrk(
            f"http://{HOST}:{server.port}{row.path}", WARMUP_SECONDS,
            row.connections or connections, row.lua,
        )  # fmt: skip
    elif row.load == "h2load":
        run_h2load(
            f"http://{HOST}:{server.port}{row.path}", WARMUP_SECONDS,
            row.connections or connections, row.h2_streams,
        )  # fmt: skip
    # WebSocket rows warm up inside ws_load.py.


# --- the run ------------------------------------------------------------------------------


def rotate(items: Sequence[Row], by: int) -> list[Row]:
    """Round ``r`` starts at a different row so no row is always measured first/last."""
    if not items:
        return []
    k = by % len(items)
    return [*items[k:], *items[:k]]


@contextlib.contextmanager
def running(
    scenario: Scenario, env: dict[str, str], logs: Path
) -> Iterator[tuple[dict[str, RunningServer], dict[str, str]]]:
    servers: dict[str, RunningServer] = {}
    failures: dict[str, str] = {}
    try:
        for target in scenario.targets:
            started = start_server(target, env, logs)
            if isinstance(started, str):
                failures[target.key] = started
                print(f"  {target.key}: {started}", flush=True)
            else:
                servers[target.key] = started
                print(f"  {target.key}: up on port {started.port}", flush=True)
        yield servers, failures
    finally:
        for server in servers.values():
            _kill_group(server.proc)


def run_scenario(
    scenario: Scenario, args: argparse.Namespace, env: dict[str, str]
) -> tuple[str, dict[str, object]]:
    print(f"\n== {scenario.name}: {scenario.title}", flush=True)
    results = [
        RowResult(r.label, r.group, reference=r.reference, note=r.note) for r in scenario.rows
    ]
    by_row = dict(zip(scenario.rows, results, strict=True))
    with running(scenario, env, RESULTS / "logs") as (servers, failures):
        for row, result in by_row.items():
            if row.target in failures:
                result.failure = failures[row.target]
        live_rows = [r for r in scenario.rows if r.target in servers]
        for row in live_rows:
            warm_up(servers[row.target], row, args.connections)
        for round_no in range(args.rounds):
            for row in rotate(live_rows, round_no):
                result = by_row[row]
                if result.failure is not None:
                    continue  # a failed row stays failed; don't spend time on it
                got = measure(servers[row.target], row, args.duration, args.connections)
                if isinstance(got, str):
                    result.failure = f"failed: {got}"
                    print(f"  [{round_no + 1}] {row.group} / {row.label}: {got}", flush=True)
                    continue
                result.runs.append(got)
                print(
                    f"  [{round_no + 1}/{args.rounds}] {row.group} / {row.label}: "
                    f"{_fmt_rate(got.rate)} {scenario.unit}",
                    flush=True,
                )
    intro = scenario.intro.replace("{connections}", str(args.connections))
    table = render_table(scenario.title, scenario.unit, results, intro)
    return table, scenario_json(scenario.name, scenario.title, scenario.unit, results)


def _versions() -> str:
    names = [
        "uvicorn", "httptools", "hypercorn", "granian", "starlette", "fastapi", "uvloop", "h2",
    ]  # fmt: skip
    found = []
    from importlib import metadata

    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _machine() -> str:
    return (
        f"{os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}, {_versions()}"
    )


def _command() -> str:
    return " ".join(["bench/run.py", *sys.argv[1:]])


def header(args: argparse.Namespace) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"## asgi_magic benchmark — {stamp}\n\n"
        f"{_machine()}.\n"
        f"Servers pinned to CPU {SERVER_CPU}, load generator to CPU {LOAD_CPU}; one worker "
        f"each; {args.rounds} round(s) of {args.duration:g} s, interleaved; medians shown. "
        f"Command: `{_command()}`.\n"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    scenarios = list(build_scenarios())
    parser = argparse.ArgumentParser(
        description="Benchmark asgi_magic against uvicorn, hypercorn and granian.",
        epilog=f"scenarios: {', '.join(scenarios)}",
    )
    parser.add_argument(
        "--scenario", action="append", choices=scenarios, metavar="NAME",
        help="run only this scenario (repeatable); default: all",
    )  # fmt: skip
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 4)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--connections", type=int, default=64, help="wrk connections for hello/framework"
    )
    parser.add_argument(
        "--app-server", choices=sorted(SERVERS), default="asgi_magic",
        help="server that runs the framework, static and upload scenarios (default asgi_magic)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 2 s")
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "latest.md", help="Markdown file to write"
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 4.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.duration <= 0 or args.rounds < 1 or args.connections < 1:
        parser.error("--duration must be > 0, --rounds and --connections >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = build_scenarios(args.app_server, args.connections)
    tools = ["wrk", "taskset"]
    if any(
        row.load == "h2load"
        for name in (args.scenario or scenarios)
        for row in scenarios[name].rows
    ):
        tools.append("h2load")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        print(
            f"bench: {' and '.join(missing)} not found on PATH. Install it "
            "(Debian/Ubuntu: `apt-get install wrk util-linux nghttp2-client`) and run again.",
            file=sys.stderr,
        )
        return 2
    if (os.cpu_count() or 1) < 2:
        print("bench: warning: fewer than 2 CPUs; server and load share one.", file=sys.stderr)
    selected = [scenarios[name] for name in (args.scenario or scenarios)]
    rows = sum(len(s.rows) for s in selected)
    # Per measurement: wrk/ws_load start-up and ws_load's own warm-up; per target: start-up.
    targets = sum(len(s.targets) for s in selected)
    estimate = rows * (args.rounds * (args.duration + 1.0) + WARMUP_SECONDS) + 2 * targets
    print(
        f"bench: {len(selected)} scenario(s), {rows} rows x {args.rounds} round(s) x "
        f"{args.duration:g} s ≈ {estimate / 60:.1f} min",
        flush=True,
    )
    (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env[STATIC_DIR_ENV] = str(ensure_static_files(RESULTS / "static"))
    env["BENCH_UPLOAD_SIZE"] = str(UPLOAD_SIZE)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONASYNCIODEBUG", None)  # debug mode would measure asyncio's checks

    previous = signal.signal(signal.SIGTERM, _on_signal)
    started = time.monotonic()
    tables: list[str] = []
    data: list[dict[str, object]] = []
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for scenario in selected:
            table, scenario_data = run_scenario(scenario, args, env)
            tables.append(table)
            data.append(scenario_data)
    except KeyboardInterrupt:
        print("\nbench: interrupted; partial results below.", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
        _kill_all()
    report = header(args) + "\n" + "\n".join(tables)
    report += f"\nTotal time: {time.monotonic() - started:.0f} s.\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    json_path = args.output.with_suffix(".json")
    json_path.write_text(results_json(stamp, _machine(), _command(), data))
    print("\n" + report)
    print(f"bench: written to {args.output} and {json_path} (chart: bench/chart.py {json_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
