"""A blocking HTTP/2 client over a raw socket, built on h2, for tests that craft frames.

    with H2Client(base_url) as client:          # cleartext prior knowledge
        sid = client.request("GET", "/")
        events = client.until(h2.events.StreamEnded)

``send_raw`` writes bytes past h2 (for frames a well-behaved client never sends);
``events()`` collects what the server sent until a quiet period or EOF.
"""

from __future__ import annotations

import socket
import ssl
import time
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from hyperframe.frame import HeadersFrame


class H2Client:
    def __init__(self, base_url: str, *, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        self.authority = parts.netloc.encode()
        sock: socket.socket = socket.create_connection((parts.hostname, parts.port), timeout=5)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=parts.hostname)
        self.sock = sock
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.conn.initiate_connection()
        self.flush()
        self.closed = False
        self.received: list[Any] = []

    def __enter__(self) -> H2Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.sock.close()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data: bytes) -> None:
        self.flush()
        self.sock.sendall(data)

    def request(
        self,
        method: str = "GET",
        path: str = "/",
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes | None = None,
        end_stream: bool | None = None,
        pseudo: list[tuple[bytes, bytes]] | None = None,
    ) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        if pseudo is None:
            pseudo = [
                (b":method", method.encode()),
                (b":scheme", b"http"),
                (b":authority", self.authority),
                (b":path", path.encode()),
            ]
        fields = [*pseudo, *(headers or [])]
        ends = (body is None) if end_stream is None else end_stream
        self.conn.send_headers(stream_id, fields, end_stream=ends and not body)
        if body:
            self.conn.send_data(stream_id, body, end_stream=ends)
        self.flush()
        return stream_id

    def headers_frame(
        self, stream_id: int, fields: list[tuple[bytes, bytes]], end_stream: bool = True
    ) -> bytes:
        """A HEADERS frame encoded with this connection's HPACK state, bypassing h2's
        state machine (for a client that keeps sending after a GOAWAY, say)."""
        frame = HeadersFrame(stream_id, self.conn.encoder.encode(fields))
        frame.flags.add("END_HEADERS")
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame.serialize()

    def read_once(self, timeout: float) -> list[Any]:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return []
        except (ConnectionError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            return []
        events = self.conn.receive_data(data)
        self.flush()
        self.received.extend(events)
        return events

    def events(self, quiet: float = 0.5, limit: float = 10.0) -> list[Any]:
        """Everything received until ``quiet`` seconds pass without data, or EOF."""
        deadline = time.monotonic() + limit
        got: list[Any] = []
        while not self.closed and time.monotonic() < deadline:
            events = self.read_once(quiet)
            if not events and not self.closed:
                break
            got.extend(events)
        return got

    def until(self, kind: type, stream_id: int | None = None, limit: float = 10.0) -> list[Any]:
        """Read until an event of ``kind`` (for ``stream_id`` if given) or EOF."""
        deadline = time.monotonic() + limit
        got: list[Any] = []
        while not self.closed and time.monotonic() < deadline:
            events = self.read_once(0.2)
            got.extend(events)
            for event in events:
                if isinstance(event, kind) and (
                    stream_id is None or getattr(event, "stream_id", None) == stream_id
                ):
                    return got
        return got

    def response(
        self, stream_id: int, limit: float = 10.0
    ) -> tuple[int, dict[bytes, bytes], bytes]:
        """Status, headers and body of ``stream_id`` (acknowledging data as it comes)."""
        status = 0
        headers: dict[bytes, bytes] = {}
        body = b""
        deadline = time.monotonic() + limit
        events = [e for e in self.received if getattr(e, "stream_id", None) == stream_id]
        self.received = [e for e in self.received if e not in events]
        while True:
            for event in events:
                if getattr(event, "stream_id", None) != stream_id:
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    headers = dict(event.headers)
                    status = int(headers[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                    self.flush()
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    return status, headers, body
            if self.closed or time.monotonic() > deadline:
                return status, headers, body
            events = self.read_once(0.2)


def goaway(events: list[Any]) -> h2.events.ConnectionTerminated | None:
    for event in events:
        if isinstance(event, h2.events.ConnectionTerminated):
            return event
    return None
