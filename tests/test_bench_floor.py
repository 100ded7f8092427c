"""bench/apps/floor.py, the measuring stick of the hello and payload rows: its answers
pass the same correctness checks as every server's, and its stream obeys flow control."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bench import run
from bench.apps import floor
from bench.apps.cases import JSON_BODY, STREAM_SIZE


class FakeTransport:
    """Records writes; pauses the protocol after ``pause_after`` writes, like uvloop
    does once its buffer passes the high-water mark."""

    def __init__(self, protocol: floor.CasesFloorProtocol, pause_after: int) -> None:
        self.protocol = protocol
        self.pause_after = pause_after
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if len(self.written) == self.pause_after:
            self.protocol.pause_writing()

    def writelines(self, data: list[bytes]) -> None:
        self.written.append(b"".join(data))

    def close(self) -> None:
        self.closed = True


def _protocol(pause_after: int = 0) -> tuple[floor.CasesFloorProtocol, FakeTransport]:
    protocol = floor.CasesFloorProtocol()
    transport = FakeTransport(protocol, pause_after)
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


def test_stream_stops_at_pause_writing_and_goes_on_at_resume() -> None:
    protocol, transport = _protocol(pause_after=5)
    protocol.data_received(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    assert len(transport.written) == 5  # the head, then 4 chunks: paused
    protocol.data_received(b"GET /json HTTP/1.1\r\n\r\n")  # waits behind the stream
    assert len(transport.written) == 5
    protocol.resume_writing()
    body = b"".join(transport.written)
    head, _, rest = body.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert rest.count(floor.STREAM_CHUNK) * len(floor.STREAM_PIECE) == STREAM_SIZE
    # The pipelined requests are answered after the stream's last chunk, in order.
    tail = rest[rest.rfind(floor.STREAM_CHUNK) + len(floor.STREAM_CHUNK) :]
    assert tail == floor.STREAM_END + floor.RESPONSE + floor.JSON_RESPONSE


def test_echo_body_split_anywhere_comes_back_whole() -> None:
    request = (
        b"POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789GET /json HTTP/1.1\r\n\r\n"
    )
    for cut in range(1, len(request)):
        protocol, transport = _protocol()
        protocol.data_received(request[:cut])
        protocol.data_received(request[cut:])
        answer = b"".join(transport.written)
        assert answer.endswith(b"content-length: 10\r\n\r\n0123456789" + floor.JSON_RESPONSE)


def test_echo_without_content_length_closes() -> None:
    protocol, transport = _protocol()
    protocol.data_received(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert transport.closed and not transport.written


@pytest.mark.parametrize("scenario", ["hello", "payload"])
def test_floor_passes_the_scenarios_correctness_checks(tmp_path: Path, scenario: str) -> None:
    target = next(t for t in run.build_scenarios()[scenario].targets if t.server == "floor")
    server = run.start_server(target, dict(os.environ), tmp_path)
    assert not isinstance(server, str), server  # start_server runs every check
    try:
        with socket.create_connection((run.HOST, server.port), timeout=5) as sock:
            if scenario == "payload":
                sock.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
                expected = floor.JSON_RESPONSE
                assert JSON_BODY in expected
            else:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
                expected = floor.RESPONSE * 2
            data = b""
            while len(data) < len(expected):
                data += sock.recv(65536)
            assert data == expected
    finally:
        run._kill_group(server.proc)


def test_write_each_floor_writes_once_per_pipelined_response() -> None:
    protocol = floor.WriteEachFloorProtocol()
    writes: list[bytes] = []

    class Transport:
        def write(self, data: bytes) -> None:
            writes.append(data)

        def close(self) -> None:
            raise AssertionError("closed")

    protocol.connection_made(Transport())  # type: ignore[arg-type]
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    protocol.data_received(request * 3 + request[:10])
    protocol.data_received(request[10:])
    assert writes == [floor.RESPONSE] * 4
