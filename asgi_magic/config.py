"""The one ``Config`` object: every setting of the server lives here.

The CLI builds it from flags, ``asgi_magic.run(app, **kwargs)`` from keyword
arguments, and embedders construct it directly. Field names match uvicorn's where a
setting means the same thing, so a uvicorn user can guess them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

LoopSetting = Literal["auto", "uvloop", "asyncio"]
LifespanSetting = Literal["auto", "on", "off"]
WSSetting = Literal["auto", "none"]
InterfaceSetting = Literal["auto", "asgi3", "asgi2", "wsgi"]

# --- Limits (each one settable by a flag of the same name) -----------------------------
# RFC 9112 §3: a server that receives a request-target longer than it wishes to parse
# MUST respond 414; 8 KiB is the common floor (RFC 9110 §4.1 recommends supporting at
# least 8000 octets of request-line).
DEFAULT_LIMIT_REQUEST_LINE = 8192
# RFC 6585 §5: 431 when the header section is too large.
DEFAULT_LIMIT_REQUEST_HEAD = 64 * 1024
DEFAULT_LIMIT_REQUEST_FIELDS = 100
# Seconds a client may take to send a whole request head (slowloris defence).
DEFAULT_TIMEOUT_REQUEST_HEAD = 10.0
DEFAULT_TIMEOUT_KEEP_ALIVE = 5.0
DEFAULT_WS_MAX_SIZE = 16 * 1024 * 1024
DEFAULT_WS_MAX_QUEUE = 32
# Threads that run a WSGI app (--interface wsgi): a WSGI request holds its thread
# until the response is sent, so this bounds concurrent WSGI requests per worker.
DEFAULT_WSGI_THREADS = 40


@dataclass
class Config:
    app: Any
    """An ASGI application, or an import string ``"module:attr"``."""
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    loop: LoopSetting = "auto"
    lifespan: LifespanSetting = "auto"
    interface: InterfaceSetting = "auto"
    """``auto`` detects ASGI 3, ASGI 2 and WSGI (2-argument) callables."""
    wsgi_threads: int = DEFAULT_WSGI_THREADS
    """Size of the thread pool that runs a WSGI app."""
    factory: bool = False
    app_dir: str | None = "."
    env_file: str | None = None
    root_path: str = ""

    # logging
    log_level: str | int | None = "info"
    access_log: bool = True
    access_log_format: str | None = None
    """None: the default line; ``"json"``; or gunicorn atoms (server/access_log.py)."""
    use_colors: bool | None = None

    # response headers added by the server
    server_header: bool = True
    date_header: bool = True
    headers: list[tuple[str, str]] = field(default_factory=list)

    # connection behaviour
    backlog: int = 2048
    limit_concurrency: int | None = None
    limit_max_requests: int | None = None
    timeout_keep_alive: float = DEFAULT_TIMEOUT_KEEP_ALIVE
    timeout_request_head: float = DEFAULT_TIMEOUT_REQUEST_HEAD
    timeout_graceful_shutdown: float | None = 30.0

    # HTTP/1.1 limits, passed to http11.Limits
    limit_request_line: int = DEFAULT_LIMIT_REQUEST_LINE
    limit_request_head: int = DEFAULT_LIMIT_REQUEST_HEAD
    limit_request_fields: int = DEFAULT_LIMIT_REQUEST_FIELDS
    limit_request_body: int | None = None

    # WebSocket
    ws: WSSetting = "auto"
    ws_max_size: int = DEFAULT_WS_MAX_SIZE
    ws_max_queue: int = DEFAULT_WS_MAX_QUEUE
    ws_ping_interval: float | None = 20.0
    ws_ping_timeout: float | None = 20.0
    ws_per_message_deflate: bool = True

    # TLS (stdlib ssl); the scope then says https/wss
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile_password: str | None = None
    ssl_ca_certs: str | None = None
    ssl_cert_reqs: int = 0  # ssl.CERT_NONE

    # processes
    workers: int | None = None

    # proxy headers (server/proxy_headers.py): rewrite client/scheme from
    # X-Forwarded-For/-Proto and RFC 7239 Forwarded, only for a trusted peer.
    proxy_headers: bool = True
    forwarded_allow_ips: list[str] | str | None = None
    """IPs, CIDR networks, ``*`` or ``unix:``; None: $FORWARDED_ALLOW_IPS else 127.0.0.1."""
