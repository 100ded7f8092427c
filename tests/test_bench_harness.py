"""The pure parts of the ``make bench`` harness: wrk parsing, medians, ratios, tables,
and the WebSocket load generator's framing. No server, no wrk, no timing."""

from __future__ import annotations

import asyncio
import struct

import pytest

from bench import run, ws_load
from bench.apps import _data

# Captured from wrk 4.1.0 (`wrk -t1 -c8 -d1s --latency`), then given the error lines wrk
# adds when they are non-zero.
WRK_OK = """\
Running 1s test @ http://127.0.0.1:18766/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   526.26us  336.44us   5.00ms   90.94%
    Req/Sec    15.91k     2.38k   19.31k    54.55%
  Latency Distribution
     50%  453.00us
     75%  585.00us
     90%  815.00us
     99%    1.90ms
  17386 requests in 1.10s, 2.44MB read
Requests/sec:  15811.95
Transfer/sec:      2.22MB
"""

WRK_ERRORS = """\
Running 5s test @ http://127.0.0.1:9/upload
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02s   300.00ms   2.00s    70.00%
    Req/Sec     1.00k   100.00     1.20k    60.00%
  Latency Distribution
     50%  900.00ms
     75%    1.10s
     90%    1.50s
     99%    2.00s
  5000 requests in 5.00s, 320.13KB read
  Socket errors: connect 0, read 12, write 1, timeout 3
  Non-2xx or 3xx responses: 42
Requests/sec:   1000.00
Transfer/sec:     64.03KB
"""


def test_parse_wrk_clean_run() -> None:
    stats = run.parse_wrk(WRK_OK)
    assert stats.requests == 17386
    assert stats.seconds == pytest.approx(1.10)
    assert stats.requests_per_s == pytest.approx(15811.95)
    assert stats.read_bytes == round(2.44 * 1024**2)
    assert stats.transfer_per_s == pytest.approx(2.22 * 1024**2)
    assert stats.latency_ms == pytest.approx({50: 0.453, 75: 0.585, 90: 0.815, 99: 1.90})
    assert stats.p99_ms == pytest.approx(1.90)
    assert stats.non2xx == 0
    assert stats.total_socket_errors == 0
    assert run.wrk_failure(stats) is None


def test_parse_wrk_errors_and_units() -> None:
    stats = run.parse_wrk(WRK_ERRORS)
    assert stats.non2xx == 42
    assert stats.socket_errors == {"connect": 0, "read": 12, "write": 1, "timeout": 3}
    assert stats.total_socket_errors == 16
    assert stats.latency_ms[99] == pytest.approx(2000.0)  # "2.00s"
    assert stats.latency_ms[50] == pytest.approx(900.0)
    assert stats.read_bytes == round(320.13 * 1024)
    assert stats.transfer_per_s == pytest.approx(64.03 * 1024)


def test_parse_wrk_without_summary_raises() -> None:
    with pytest.raises(run.WrkParseError, match="no summary"):
        run.parse_wrk("unable to connect to 127.0.0.1:9 Connection refused\n")
    with pytest.raises(run.WrkParseError):
        run.parse_wrk("")


def _stats(requests: int = 10_000, non2xx: int = 0, **errors: int) -> run.WrkStats:
    return run.WrkStats(
        requests=requests,
        seconds=1.0,
        requests_per_s=float(requests),
        read_bytes=0,
        transfer_per_s=0.0,
        latency_ms={99: 1.0},
        non2xx=non2xx,
        socket_errors=dict(errors),
    )


def test_non_2xx_always_fails_a_run() -> None:
    # A server that answers errors fast must never win.
    failure = run.wrk_failure(_stats(non2xx=1))
    assert failure is not None and "non-2xx" in failure


def test_socket_errors_fail_above_the_allowance_only() -> None:
    assert run.wrk_failure(_stats(requests=100_000, read=5)) is None
    failure = run.wrk_failure(_stats(requests=100_000, read=500, timeout=1))
    assert failure is not None and "501 socket errors" in failure and "read 500" in failure


def test_zero_requests_fails() -> None:
    assert run.wrk_failure(_stats(requests=0)) == "no request completed"


def _row(
    label: str, rates: list[float], group: str = "g", reference: bool = False
) -> run.RowResult:
    row = run.RowResult(label, group, reference=reference)
    row.runs = [run.Measurement(rate=r, mb_per_s=r / 10, p99_ms=r / 1000) for r in rates]
    return row


def test_median_is_over_rounds() -> None:
    med = _row("x", [300.0, 100.0, 200.0]).median()
    assert med is not None
    assert med.rate == 200.0
    assert med.mb_per_s == 20.0
    assert med.p99_ms == pytest.approx(0.2)


def test_failed_or_empty_row_has_no_median() -> None:
    failed = _row("x", [100.0])
    failed.failure = "failed: 3 non-2xx/3xx responses"
    assert failed.median() is None
    assert run.RowResult("y", "g").median() is None


def test_ratio_is_reference_over_row_within_its_group() -> None:
    ref = _row("asgi_magic", [150.0, 150.0, 151.0], reference=True)
    peer = _row("uvicorn", [100.0, 120.0, 90.0])
    other_group_ref = _row("asgi_magic", [1000.0], group="h", reference=True)
    rows = [ref, peer, other_group_ref]
    assert run.ratio_to_reference(rows, peer) == pytest.approx(1.5)
    assert run.ratio_to_reference(rows, ref) == pytest.approx(1.0)
    # Paired by round: a machine that halves its speed in the last round must not make
    # the reference look slower than a peer it beat in every round.
    drift_ref = _row("asgi_magic", [140.0, 130.0, 60.0], group="d", reference=True)
    drift_peer = _row("starlette", [100.0, 50.0, 45.0], group="d")
    assert run.ratio_to_reference([drift_ref, drift_peer], drift_peer) == pytest.approx(1.4)
    # The reference itself failing: no ratio rather than a made-up one.
    ref.failure = "skipped: server did not start"
    assert run.ratio_to_reference(rows, peer) is None


def test_render_table() -> None:
    ref = _row("asgi_magic", [30_000.0], reference=True)
    peer = _row("uvicorn (httptools, uvloop)", [20_000.0])
    gone = run.RowResult("granian (asgi)", "g", failure="skipped: granian is not installed")
    text = run.render_table("hello", "req/s", [ref, peer, gone], intro="intro text")
    lines = text.splitlines()
    assert lines[0] == "### hello"
    assert "intro text" in lines
    header = next(line for line in lines if line.startswith("| case"))
    assert "req/s (median)" in header
    ref_line = next(line for line in lines if "| asgi_magic |" in line)
    assert "30,000" in ref_line and "1.00 (ref)" in ref_line
    peer_line = next(line for line in lines if "uvicorn" in line)
    assert "20,000" in peer_line and "| 1.50 |" in peer_line and "| 20.00 |" in peer_line
    gone_line = next(line for line in lines if "granian" in line)
    assert "skipped: granian is not installed" in gone_line
    # Every table row has the same number of cells as the header.
    cells = header.count("|")
    assert all(line.count("|") == cells for line in lines if line.startswith("|"))


def test_rotate_interleaves_rounds() -> None:
    rows = [run.Row(f"t{i}", f"r{i}", "g", "wrk") for i in range(3)]
    assert [r.label for r in run.rotate(rows, 0)] == ["r0", "r1", "r2"]
    assert [r.label for r in run.rotate(rows, 1)] == ["r1", "r2", "r0"]
    assert [r.label for r in run.rotate(rows, 4)] == ["r1", "r2", "r0"]
    assert run.rotate([], 2) == []


def test_scenarios_are_consistent() -> None:
    scenarios = run.build_scenarios()
    assert set(scenarios) == {
        "hello",
        "payload",
        "idle",
        "framework",
        "websocket",
        "static",
        "upload",
        "wsgi",
        "http2",
    }
    assert {row.load for row in scenarios["idle"].rows} == {"idle"}
    hello_groups = {row.group for row in scenarios["hello"].rows}
    assert hello_groups == {
        "1 connection",
        "64 connections",
        "256 connections",
        "pipelined x16",
        "access log on, 64 connections",
    }
    payload_groups = {row.group for row in scenarios["payload"].rows}
    assert payload_groups == {"JSON 1 KB", "POST echo 4 KiB", "POST echo 1 MiB", "stream 10 MiB"}
    for scenario in scenarios.values():
        targets = {t.key for t in scenario.targets}
        assert all(t.server in run.SERVERS for t in scenario.targets)
        groups: dict[str, int] = {}
        for row in scenario.rows:
            assert row.target in targets
            groups[row.group] = groups.get(row.group, 0) + row.reference
        # Exactly one asgi_magic reference per compared group.
        assert set(groups.values()) == {1}, scenario.name
    wsgi_servers = {t.server for t in scenarios["wsgi"].targets}
    assert wsgi_servers == {"asgi_magic-wsgi", "uvicorn-wsgi", "gunicorn-sync", "gunicorn-gthread"}
    hello_servers = {t.server for t in scenarios["hello"].targets}
    assert {
        "asgi_magic",
        "asgi_magic-pure",
        "uvicorn-httptools",
        "uvicorn-h11",
        "hypercorn",
        "granian",
        "floor",
        "asgi_magic+log",
        "asgi_magic-pure+log",
        "uvicorn-httptools+log",
        "hypercorn+log",
        "granian+log",
    } == hello_servers
    # The compiled and the pure-Python build are two rows; only the environment differs.
    compiled = run.SERVERS["asgi_magic"].argv("app:app", 1)
    pure = run.SERVERS["asgi_magic-pure"].argv("app:app", 1)
    assert compiled[:3] == ["env", "-u", "ASGI_MAGIC_NO_EXTENSIONS"]
    assert pure[:2] == ["env", "ASGI_MAGIC_NO_EXTENSIONS=1"] and pure[2:] == compiled[3:]

    h2_servers = {t.server for t in scenarios["http2"].targets}
    assert h2_servers == {"asgi_magic", "hypercorn", "granian-h2"}
    assert {row.load for row in scenarios["http2"].rows} == {"h2load"}
    assert all(c.http2 for t in scenarios["http2"].targets for c in t.checks)


# Captured from h2load (nghttp2 1.52) against a local server.
H2LOAD_OK = """\
starting benchmark...
spawning thread #0: 16 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for each client.
Warm-up phase is over for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 2.00s, 5123.50 req/s, 190.12KB/s
requests: 10247 total, 10407 started, 10247 done, 10247 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 10247 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 380.24KB (389362) total, 30.02KB (30741) headers (space savings 94.01%), 130.08KB (133211) data
"""


def test_parse_h2load() -> None:
    stats = run.parse_h2load(H2LOAD_OK)
    assert stats.requests_per_s == pytest.approx(5123.50)
    assert (stats.succeeded, stats.failed, stats.bad_status) == (10247, 0, 0)
    assert run.h2load_failure(stats) is None
    bad = run.parse_h2load(
        H2LOAD_OK.replace("0 4xx, 0 5xx", "0 4xx, 3 5xx").replace("0 errored", "40 errored")
    )
    assert run.h2load_failure(bad) == "3 4xx/5xx responses"
    assert run.h2load_failure(run.H2LoadStats(10.0, 1000, 40, 0)) == "40 failed requests"
    with pytest.raises(run.WrkParseError):
        run.parse_h2load("h2load: connect failed")


def test_cli_defaults_and_quick() -> None:
    args = run.parse_args([])
    assert (args.duration, args.rounds, args.connections) == (4.0, 3, 64)
    quick = run.parse_args(["--quick", "--scenario", "hello", "--scenario", "static"])
    assert (quick.duration, quick.rounds, quick.scenario) == (2.0, 1, ["hello", "static"])
    with pytest.raises(SystemExit):
        run.parse_args(["--scenario", "nope"])


def test_upload_lua_builds_the_same_body_as_the_check() -> None:
    lua = (run.LUA / "upload.lua").read_text()
    body, content_type = _data.upload_body(10)
    assert _data.UPLOAD_BOUNDARY in lua
    assert content_type == f"multipart/form-data; boundary={_data.UPLOAD_BOUNDARY}"
    assert body.startswith(f"--{_data.UPLOAD_BOUNDARY}\r\n".encode())
    assert body.endswith(f"\r\n--{_data.UPLOAD_BOUNDARY}--\r\n".encode())
    assert b"x" * 10 in body
    assert 'filename="blob.bin"' in lua and 'filename="blob.bin"' in body.decode()


# --- ws_load framing ----------------------------------------------------------------------


def test_mask_round_trip() -> None:
    key = b"\x01\x02\x03\x04"
    payload = bytes(range(256)) * 3 + b"tail"
    masked = ws_load.mask_payload(payload, key)
    assert masked != payload
    assert masked[:4] == bytes(p ^ k for p, k in zip(payload[:4], key, strict=True))
    assert ws_load.mask_payload(masked, key) == payload
    assert ws_load.mask_payload(b"", key) == b""


@pytest.mark.parametrize(
    ("size", "header_len"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)]
)
def test_client_frame_lengths(size: int, header_len: int) -> None:
    frame = ws_load.client_frame(ws_load.OP_BINARY, b"y" * size, b"abcd")
    assert frame[0] == 0x80 | ws_load.OP_BINARY
    assert frame[1] & 0x80  # RFC 6455 §5.1: client frames are masked
    assert len(frame) == header_len + 4 + size
    assert frame[header_len : header_len + 4] == b"abcd"


def _server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def test_parse_frame_header() -> None:
    assert ws_load.parse_frame_header(b"\x81") is None
    assert ws_load.parse_frame_header(_server_frame(1, b"hi")) == (2, True, 1, 2)
    assert ws_load.parse_frame_header(_server_frame(2, b"z" * 300)[:3]) is None
    assert ws_load.parse_frame_header(_server_frame(2, b"z" * 300)) == (4, True, 2, 300)
    assert ws_load.parse_frame_header(_server_frame(2, b"z" * 70000)) == (10, True, 2, 70000)
    with pytest.raises(ValueError, match="masked"):
        ws_load.parse_frame_header(b"\x81\x82abcd")


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True


def _open_client(size: int) -> tuple[ws_load.EchoClient, FakeTransport, ws_load.Stats]:
    stats = ws_load.Stats()
    request, accept = ws_load.handshake_request("127.0.0.1", 8000, "/")
    frame = ws_load.client_frame(ws_load.OP_TEXT, b"x" * size, b"kkkk")
    client = ws_load.EchoClient(request, accept, frame, size, 1, stats)
    transport = FakeTransport()
    client.connection_made(transport)  # type: ignore[arg-type]
    assert transport.written == [request]
    client.data_received(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    assert client.upgraded.done() and client.upgraded.exception() is None
    return client, transport, stats


@pytest.mark.parametrize("size", [16, 300, 70000])
async def test_echo_client_counts_echoes_split_anywhere(size: int) -> None:
    client, transport, stats = _open_client(size)
    # Three echoes, one of them fragmented, and a ping the client must answer.
    stream = (
        _server_frame(1, b"x" * size)
        + _server_frame(9, b"pp")
        + _server_frame(1, b"x" * (size // 2), fin=False)
        + _server_frame(0, b"x" * (size - size // 2))
        + _server_frame(1, b"x" * size)
    )
    step = max(1, len(stream) // 97)  # many split points, still fast for 70 kB
    for cut in [*range(0, len(stream), step), len(stream) - 1]:
        if cut:
            client.data_received(stream[:cut])
        client.data_received(stream[cut:])
    expected_rounds = len(range(0, len(stream), step)) + 1
    assert stats.messages == 3 * expected_rounds
    assert stats.errors == 0
    writes = transport.written[1:]
    echoes = [w for w in writes if w == client.frame]
    pongs = [w for w in writes if w[0] == 0x80 | ws_load.OP_PONG]
    assert len(echoes) == stats.messages and len(pongs) == expected_rounds
    assert all(ws_load.mask_payload(p[6:], p[2:6]) == b"pp" for p in pongs)


async def test_echo_client_reports_wrong_size_and_close() -> None:
    client, transport, stats = _open_client(16)
    client.data_received(_server_frame(1, b"x" * 15))
    assert stats.errors == 1 and "echo of 15 bytes" in stats.first_error
    client, transport, stats = _open_client(16)
    client.data_received(_server_frame(8, struct.pack("!H", 1009)))
    assert stats.errors == 1 and "1009" in stats.first_error and transport.closed


async def test_echo_client_rejects_a_refused_handshake() -> None:
    stats = ws_load.Stats()
    request, accept = ws_load.handshake_request("127.0.0.1", 8000, "/")
    client = ws_load.EchoClient(request, accept, b"", 0, 1, stats)
    transport = FakeTransport()
    client.connection_made(transport)  # type: ignore[arg-type]
    client.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
    with pytest.raises(ConnectionError, match="403"):
        await asyncio.wait_for(client.upgraded, 1)
    assert transport.closed


def test_access_log_rows_turn_each_servers_log_on() -> None:
    def argv(key: str) -> list[str]:
        return run.SERVERS[key].argv("app:app", 1)

    for key in run.ACCESS_LOG_SERVERS:
        on = argv(f"{key}+log")
        assert "--no-access-log" not in on
        assert on[on.index("--log-level") + 1] == "info", key
    assert "--no-access-log" in argv("asgi_magic") and "--access-log" in argv("granian+log")
    assert argv("hypercorn+log")[-2:] == ["--access-logfile", "-"]


def test_process_group_rss_counts_this_process() -> None:
    import os

    rss = run.process_group_rss_kib(os.getpgrp())
    assert rss > 1000  # this Python process alone is several MiB
    assert run.process_group_rss_kib(2**30) == 0  # no such group


def test_profile_rows_counts_responses_by_their_framing() -> None:
    from bench import profile_rows
    from bench.apps import floor

    # A chunk whose data holds "\r\n0\r\n\r\n" must not end the body: chunks are
    # read by their sizes, not by searching for the last-chunk.
    stream = floor.STREAM_HEAD + b"7\r\n\r\n0\r\n\r\n\r\n" + floor.STREAM_CHUNK + floor.STREAM_END
    wire = floor.RESPONSE + stream + floor.JSON_RESPONSE + floor.RESPONSE
    for cut in range(1, len(wire), 997):
        state: list[object] = [4, b"", "head", 0]
        counted = profile_rows._responses(state, wire[:cut])
        counted += profile_rows._responses(state, wire[cut:])
        assert counted == 4, cut
        assert state[1] == b"" and state[2] == "head"
    state = [1, b"", "head", 0]
    assert sum(profile_rows._responses(state, bytes([b])) for b in stream) == 1
    assert profile_rows.request_bytes("/echo").endswith(b"\r\n\r\n" + b"e" * (1 << 20))
    assert profile_rows.request_bytes("/json").startswith(b"GET /json HTTP/1.1\r\n")
