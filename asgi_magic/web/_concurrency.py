"""Run blocking code off the event loop.

The framework may use asyncio (it only must not import the server). Sync handlers and
sync iterators run in the loop's default executor so they never block other requests.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["iterate_in_threadpool", "run_in_threadpool"]


async def run_in_threadpool(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func(*args, **kwargs)`` in a worker thread, with the caller's context vars."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, func, *args, **kwargs)
    return await loop.run_in_executor(None, call)


class _Exhausted(Exception):
    pass


def _next(iterator: Iterator[T]) -> T:
    # StopIteration cannot cross a Future boundary (it would become a RuntimeError),
    # so it is translated into a private exception.
    try:
        return next(iterator)
    except StopIteration:
        raise _Exhausted from None


async def iterate_in_threadpool(iterable: Iterable[T]) -> AsyncIterator[T]:
    """Iterate a blocking iterable, one ``next()`` per thread-pool call."""
    iterator = iter(iterable)
    while True:
        try:
            yield await run_in_threadpool(_next, iterator)
        except _Exhausted:
            return
