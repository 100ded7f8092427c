"""Flash messages: one-time notices stored in the session until they are shown.

``flash(request, "Saved")`` in the handler that redirects, ``get_flashed_messages``
in the page that follows (Flask's shape). Messages live in the session under
``"_flashes"`` as ``[category, message]`` pairs, so they survive the redirect and work
with cookie sessions and server-side backends alike; reading them removes them.
Needs :class:`~asgi_magic.web.sessions.SessionMiddleware`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .requests import HTTPConnection

__all__ = ["flash", "get_flashed_messages"]

_KEY = "_flashes"
# A flash is meant for the next page; a loop that flashes on every request without
# ever showing a page would otherwise grow the session cookie past 4 KiB.
MAX_FLASHES = 32


def flash(request: HTTPConnection, message: str, category: str = "message") -> None:
    """Queue ``message`` (text, escaped by templates like any value) under ``category``
    (``"message"``, ``"error"``, ``"info"``, ``"warning"`` … any string).

    At most ``MAX_FLASHES`` (32) are kept; older ones are dropped first.
    Raises ``AssertionError`` without SessionMiddleware.
    """
    if not isinstance(message, str) or not isinstance(category, str):
        raise TypeError("flash() takes a str message and a str category")
    session = request.session
    queued: list[list[str]] = list(session.get(_KEY, ()))
    queued.append([category, message])
    session[_KEY] = queued[-MAX_FLASHES:]


def get_flashed_messages(
    request: HTTPConnection,
    with_categories: bool = False,
    category_filter: Collection[str] = (),
) -> list[Any]:
    """The queued messages, oldest first, removed from the session as they are read.

    ``with_categories=True`` gives ``(category, message)`` tuples instead of messages.
    ``category_filter`` keeps only those categories (the others stay queued, unlike
    Flask, which drops them: a filtered read should not lose other pages' notices).
    The result is cached on the request, so a template may call it more than once.
    """
    if "session" not in request.scope:
        return []
    cache_key = "asgi_magic.flashes"
    scope = request.scope
    flashes: list[tuple[str, str]] | None = scope.get(cache_key)
    if flashes is None:
        flashes = []
    session = request.session
    queued = session.get(_KEY)
    if queued:
        kept: list[list[str]] = []
        for entry in queued:
            if not (isinstance(entry, (list, tuple)) and len(entry) == 2):
                continue  # not ours: ignore rather than fail the page
            category, message = str(entry[0]), str(entry[1])
            if category_filter and category not in category_filter:
                kept.append([category, message])
            else:
                flashes.append((category, message))
        if kept:
            session[_KEY] = kept
        else:
            del session[_KEY]
    scope[cache_key] = flashes
    chosen = [f for f in flashes if not category_filter or f[0] in category_filter]
    if with_categories:
        return chosen
    return [message for _, message in chosen]
