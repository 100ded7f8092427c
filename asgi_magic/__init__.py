"""asgi_magic: a fast ASGI server with its own HTTP/1.1 stack, and a small framework."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asgi_magic.config import Config

if TYPE_CHECKING:
    from asgi_magic.server import Server

__version__ = "0.1.0"

__all__ = ["Config", "Server", "__version__", "run"]


def run(app: Any, **kwargs: Any) -> None:
    """Serve ``app`` (an ASGI app or ``"module:attr"``) until SIGINT/SIGTERM.

    Keyword arguments are ``Config`` fields, which include every keyword of
    ``uvicorn.run`` (``reload``, ``workers``, ``log_config`` as a dict or a file path,
    ``ssl_context_factory`` ...): ``run("main:app", port=8080)``. A bad value raises
    ``ConfigError`` (a ``ValueError``) before anything starts. Exits the process with
    status 1 when the app cannot be imported or the socket bound, 3 when the lifespan
    startup fails. ``reload=True`` and ``workers > 1`` need an import string.
    """
    from asgi_magic.cli import run_config

    run_config(Config(app=app, **kwargs))


def __getattr__(name: str) -> Any:
    # The server pulls in asyncio and uvloop: import it only when asked for, so the
    # framework (asgi_magic.web) stays light and never loads the server.
    if name == "Server":
        from asgi_magic.server import Server

        return Server
    raise AttributeError(f"module 'asgi_magic' has no attribute {name!r}")
