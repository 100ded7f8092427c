"""HTTP status codes and WebSocket close codes, as Starlette's ``status`` module names
them: a re-export of ``asgi_magic.status`` (the one registry, RFC 9110 §15).

>>> from asgi_magic.web import status
>>> status.HTTP_404_NOT_FOUND, status.reason_phrase(451)
(404, 'Unavailable For Legal Reasons')
"""

from asgi_magic.status import *  # noqa: F403
from asgi_magic.status import __all__ as __all__
