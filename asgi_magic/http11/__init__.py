"""Sans-IO HTTP/1.1: a request parser and a response writer (RFC 9110, RFC 9112).

No asyncio, no sockets, no logging: bytes go in, events come out, and the writer turns
response heads and bodies into bytes. Every rule breach raises ``ProtocolError``
carrying the status code to answer.
"""

from ._errors import ProtocolError
from ._events import NEED_DATA, PAUSED, Data, EndOfMessage, Event, Request, Sentinel
from ._parser import Limits, RequestParser
from ._writer import (
    FORBIDDEN_TRAILERS,
    ResponseWriter,
    WriterDefaults,
    error_response,
    http_date,
    informational_response,
    switching_protocols_response,
)

__all__ = [
    "FORBIDDEN_TRAILERS",
    "NEED_DATA",
    "PAUSED",
    "Data",
    "EndOfMessage",
    "Event",
    "Limits",
    "ProtocolError",
    "Request",
    "RequestParser",
    "ResponseWriter",
    "WriterDefaults",
    "Sentinel",
    "error_response",
    "http_date",
    "informational_response",
    "switching_protocols_response",
]
