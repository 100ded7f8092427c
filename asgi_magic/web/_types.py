"""Loose ASGI aliases for the framework's own code.

``asgi_types.Scope`` is a union of TypedDicts, which is the right documentation but makes
every ``scope.get(...)`` a type error in code that handles several scope types; the
framework works on scopes as plain mutable mappings, as ASGI 3 apps receive them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..asgi_types import Message, Receive, Send

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send"]
