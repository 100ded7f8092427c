"""The errors ``server/`` raises into applications, one of each kind for every protocol.

An application sees exactly two things from ``send()`` when something is wrong:

* ``ClientDisconnected`` (an ``OSError``): the peer has gone, or the app was already
  told so through ``http.disconnect`` / ``websocket.disconnect`` (asgiref www.rst,
  spec 2.4: "a server-specific subclass of ``IOError``").
* ``RuntimeError``: the app broke the ASGI contract or sent a response the protocol
  cannot carry (an unknown message type, a second ``http.response.start``, an invalid
  status, a header with CR LF, a close code the RFC forbids …). The protocol layers'
  own error types (``http11.ProtocolError``, ``ValueError`` from ``websocket``) never
  reach the app: ``app_error`` turns them into this.
"""

from __future__ import annotations

__all__ = ["ClientDisconnected", "app_error"]


class ClientDisconnected(OSError):
    """``send()`` after the client has gone (asgiref www.rst, spec 2.4)."""


def app_error(what: str, exc: BaseException | None = None) -> RuntimeError:
    """A ``RuntimeError`` for an app's invalid message; the message ends with the
    broken rule's reason from ``exc`` (a protocol error), if given.

    The error hides the exceptions it was raised while handling (``__suppress_context__``,
    what ``raise ... from None`` does): the log shows one traceback, the app's, in
    both builds. (mypyc-compiled code does not apply ``from None``, so the compiled
    build showed the internal chain of checks that led here.)"""
    detail = getattr(exc, "reason", None) or (str(exc) if exc is not None else "")
    error = RuntimeError(f"{what}: {detail}" if detail else what)
    error.__cause__ = None
    error.__suppress_context__ = True
    return error
