"""Creating listening sockets, apart from protocols, so a supervisor can hand them out."""

from __future__ import annotations

import errno
import os
import socket
import stat

from asgi_magic.config import Config

__all__ = ["BindError", "bind_sockets", "describe_socket"]


class BindError(OSError):
    """The listening socket cannot be created; the message names the address and why."""


def _address(config: Config) -> str:
    host = config.host
    return f"[{host}]:{config.port}" if ":" in host else f"{host}:{config.port}"


def bind_sockets(config: Config) -> list[socket.socket]:
    """Bind the socket ``config`` asks for: ``--fd``, else ``--uds``, else host/port.

    Raises ``BindError`` with a sentence a person can act on
    (``127.0.0.1:8000 is already in use``).
    """
    if config.fd is not None:
        try:
            sock = socket.fromfd(config.fd, socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError as exc:
            raise BindError(f"--fd {config.fd} is not an open socket: {exc.strerror}") from None
        # fromfd duplicates the descriptor with a guessed family: ask the kernel.
        family = sock.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN)
        sock.close()
        sock = socket.fromfd(config.fd, family, socket.SOCK_STREAM)
        sock.setblocking(False)
        return [sock]
    if config.uds is not None:
        path = config.uds
        if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)  # a stale socket left by a previous run
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, 0o666)
            sock.listen(config.backlog)
        except OSError as exc:
            sock.close()
            raise BindError(f"cannot bind to UNIX socket {path}: {exc.strerror}") from None
        sock.setblocking(False)
        return [sock]
    host = config.host
    address = _address(config)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(
            host, config.port, family=family, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise BindError(
            f"cannot bind to {address}: unknown host {host!r} ({exc.strerror})"
        ) from None
    sockaddr = infos[0][4]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(config.backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BindError(f"{address} is already in use") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise BindError(f"cannot bind to {address}: no such address on this machine") from None
        if exc.errno == errno.EACCES:
            raise BindError(
                f"cannot bind to {address}: permission denied (ports below 1024 need privileges)"
            ) from None
        raise BindError(f"cannot bind to {address}: {exc.strerror or exc}") from None
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return [sock]


def describe_socket(sock: socket.socket, tls: bool) -> str:
    """A clickable address for the startup log line."""
    scheme = "https" if tls else "http"
    if sock.family == socket.AF_UNIX:
        return f"{scheme}://unix:{sock.getsockname()}"
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"
