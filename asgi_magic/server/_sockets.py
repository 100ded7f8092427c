"""Creating listening sockets, apart from protocols, so a supervisor can hand them out."""

from __future__ import annotations

import os
import socket
import stat

from asgi_magic.config import Config

__all__ = ["bind_sockets", "describe_socket"]


def bind_sockets(config: Config) -> list[socket.socket]:
    """Bind the socket ``config`` asks for: ``--fd``, else ``--uds``, else host/port."""
    if config.fd is not None:
        sock = socket.fromfd(config.fd, socket.AF_UNIX, socket.SOCK_STREAM)
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
        sock.bind(path)
        os.chmod(path, 0o666)
        sock.listen(config.backlog)
        sock.setblocking(False)
        return [sock]
    host = config.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, config.port))
        sock.listen(config.backlog)
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
