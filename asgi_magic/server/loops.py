"""Choosing the event loop: uvloop when importable (``--loop auto``), or asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["loop_factory"]


def loop_factory(setting: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop constructor for ``--loop auto|uvloop|asyncio``.

    ``uvloop`` raises ImportError when uvloop is not installed; ``auto`` falls back to
    the standard loop.
    """
    if setting not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"unknown loop {setting!r}")
    if setting in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if setting == "uvloop":
                raise
        else:
            factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
            return factory
    return asyncio.new_event_loop
