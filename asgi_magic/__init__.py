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

    Keyword arguments are ``Config`` fields: ``run("main:app", port=8080)``.
    Exits the process with status 1 when the app cannot be imported, 3 when the
    lifespan startup fails.
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
