"""HTTP status codes: the RFC 9110 §15 registry as one table (a leaf module).

Every layer asks this module what a status code means: the HTTP/1.1 writer (status
lines, which responses carry content), the server (the denial response of a
WebSocket, error responses) and the framework (``Response`` refuses an invalid status
when it is built). It imports nothing from asgi_magic, so any layer may import it.

- ``is_valid(status)``: an ``int`` (never a ``bool``) in 100..599 (RFC 9110 §15: a
  status code is three digits whose first digit is the class, 1 to 5).
- ``is_informational(status)``: 1xx, an interim response (RFC 9110 §15.2).
- ``allows_content(status)``: False for 1xx, 204 and 304 (RFC 9110 §6.4.1, §15.3.5,
  §15.4.5; RFC 9112 §6.3 rule 1): their message ends with the header section.
- ``reason_phrase(status)`` and ``REASON_PHRASES``: the phrase of every code in the IANA
  "HTTP Status Code Registry" (RFC 9110 §16.2.1), with RFC 9110's names.
- ``HTTP_200_OK``, ``HTTP_404_NOT_FOUND`` …: the constants Starlette users know (with
  Starlette's older aliases such as ``HTTP_422_UNPROCESSABLE_ENTITY``), and the
  ``WS_1000_NORMAL_CLOSURE`` … WebSocket close codes (RFC 6455 §7.4.1).

>>> is_valid(404), is_valid(600), is_valid(True)
(True, False, False)
>>> allows_content(204), allows_content(200)
(False, True)
>>> reason_phrase(HTTP_425_TOO_EARLY)
'Too Early'
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# The IANA registry (https://www.iana.org/assignments/http-status-codes), permanent
# entries only; a temporary registration (104) has no phrase until it is made permanent.
# Unregistered codes are still *valid* (RFC 9110 §15: a client treats an unknown code as
# the x00 of its class); they are written with an empty reason (RFC 9112 §4).
_PHRASES: dict[int, str] = {
    # 1xx Informational (RFC 9110 §15.2)
    100: "Continue",
    101: "Switching Protocols",
    102: "Processing",  # RFC 2518 §10.1
    103: "Early Hints",  # RFC 8297
    # 2xx Successful (RFC 9110 §15.3)
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    207: "Multi-Status",  # RFC 4918 §11.1
    208: "Already Reported",  # RFC 5842 §7.1
    226: "IM Used",  # RFC 3229 §10.4.1
    # 3xx Redirection (RFC 9110 §15.4)
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    306: "Unused",  # RFC 9110 §15.4.7: reserved, "(Unused)" in the registry
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    # 4xx Client Error (RFC 9110 §15.5)
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    # RFC 9110 §15.5.19 reserves 418 ("(Unused)" in the registry); the phrase is the one
    # of RFC 2324 that Python's http module and every framework still use.
    418: "I'm a Teapot",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    423: "Locked",  # RFC 4918 §11.3
    424: "Failed Dependency",  # RFC 4918 §11.4
    425: "Too Early",  # RFC 8470 §5.2
    426: "Upgrade Required",
    428: "Precondition Required",  # RFC 6585 §3
    429: "Too Many Requests",  # RFC 6585 §4
    431: "Request Header Fields Too Large",  # RFC 6585 §5
    451: "Unavailable For Legal Reasons",  # RFC 7725 §3
    # 5xx Server Error (RFC 9110 §15.6)
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",  # RFC 2295 §8.1
    507: "Insufficient Storage",  # RFC 4918 §11.5
    508: "Loop Detected",  # RFC 5842 §7.2
    510: "Not Extended",  # RFC 2774 §7 (obsoleted, still registered)
    511: "Network Authentication Required",  # RFC 6585 §6
}

REASON_PHRASES: Final[Mapping[int, str]] = MappingProxyType(_PHRASES)
"""Registered status code → reason phrase (read-only)."""


def is_valid(status: object) -> bool:
    """Whether ``status`` is a status code a response may carry: an ``int`` in 100..599.

    RFC 9110 §15: three digits, the first (1 to 5) being the class. A ``bool`` is an
    ``int`` to Python but never a status; an ``IntEnum`` such as ``HTTPStatus.OK`` is
    accepted. Strings, floats and None are not.
    """
    return isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599


def is_informational(status: object) -> bool:
    """Whether ``status`` is a valid 1xx code (RFC 9110 §15.2): an interim response that
    a final (2xx..5xx) response must follow (101 ends HTTP on the connection instead)."""
    return is_valid(status) and status < 200  # type: ignore[operator]


def is_final(status: object) -> bool:
    """Whether ``status`` is a valid final status, 200..599 (RFC 9110 §15: the response
    that completes a request; what ``http.response.start`` and ``Response`` need)."""
    return is_valid(status) and status >= 200  # type: ignore[operator]


def allows_content(status: int) -> bool:
    """Whether a response with this status may carry content.

    False for 1xx (RFC 9110 §15.2), 204 (§15.3.5) and 304 (§15.4.5): those messages end
    with their header section whatever the fields say (RFC 9112 §6.3 rule 1), and a
    server never frames a body for them. (A response to HEAD carries none either, but
    that depends on the request, not the status: RFC 9110 §9.3.2.) Raises
    ``ValueError`` for an invalid status (see ``is_valid``).
    """
    if not is_valid(status):
        raise ValueError(f"invalid HTTP status code {status!r}")
    return status >= 200 and status != 204 and status != 304


def reason_phrase(status: int) -> str:
    """The registered reason phrase (``"Not Found"``), or ``""`` for a code not in the
    registry (RFC 9112 §4: the reason is optional, a client must ignore it)."""
    return _PHRASES.get(status, "")


# -- Constants, named as in Starlette (``starlette.status``) ----------------------------

HTTP_100_CONTINUE: Final = 100
HTTP_101_SWITCHING_PROTOCOLS: Final = 101
HTTP_102_PROCESSING: Final = 102
HTTP_103_EARLY_HINTS: Final = 103
HTTP_200_OK: Final = 200
HTTP_201_CREATED: Final = 201
HTTP_202_ACCEPTED: Final = 202
HTTP_203_NON_AUTHORITATIVE_INFORMATION: Final = 203
HTTP_204_NO_CONTENT: Final = 204
HTTP_205_RESET_CONTENT: Final = 205
HTTP_206_PARTIAL_CONTENT: Final = 206
HTTP_207_MULTI_STATUS: Final = 207
HTTP_208_ALREADY_REPORTED: Final = 208
HTTP_226_IM_USED: Final = 226
HTTP_300_MULTIPLE_CHOICES: Final = 300
HTTP_301_MOVED_PERMANENTLY: Final = 301
HTTP_302_FOUND: Final = 302
HTTP_303_SEE_OTHER: Final = 303
HTTP_304_NOT_MODIFIED: Final = 304
HTTP_305_USE_PROXY: Final = 305
HTTP_306_RESERVED: Final = 306
HTTP_307_TEMPORARY_REDIRECT: Final = 307
HTTP_308_PERMANENT_REDIRECT: Final = 308
HTTP_400_BAD_REQUEST: Final = 400
HTTP_401_UNAUTHORIZED: Final = 401
HTTP_402_PAYMENT_REQUIRED: Final = 402
HTTP_403_FORBIDDEN: Final = 403
HTTP_404_NOT_FOUND: Final = 404
HTTP_405_METHOD_NOT_ALLOWED: Final = 405
HTTP_406_NOT_ACCEPTABLE: Final = 406
HTTP_407_PROXY_AUTHENTICATION_REQUIRED: Final = 407
HTTP_408_REQUEST_TIMEOUT: Final = 408
HTTP_409_CONFLICT: Final = 409
HTTP_410_GONE: Final = 410
HTTP_411_LENGTH_REQUIRED: Final = 411
HTTP_412_PRECONDITION_FAILED: Final = 412
HTTP_413_CONTENT_TOO_LARGE: Final = 413
HTTP_414_URI_TOO_LONG: Final = 414
HTTP_415_UNSUPPORTED_MEDIA_TYPE: Final = 415
HTTP_416_RANGE_NOT_SATISFIABLE: Final = 416
HTTP_417_EXPECTATION_FAILED: Final = 417
HTTP_418_IM_A_TEAPOT: Final = 418
HTTP_421_MISDIRECTED_REQUEST: Final = 421
HTTP_422_UNPROCESSABLE_CONTENT: Final = 422
HTTP_423_LOCKED: Final = 423
HTTP_424_FAILED_DEPENDENCY: Final = 424
HTTP_425_TOO_EARLY: Final = 425
HTTP_426_UPGRADE_REQUIRED: Final = 426
HTTP_428_PRECONDITION_REQUIRED: Final = 428
HTTP_429_TOO_MANY_REQUESTS: Final = 429
HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE: Final = 431
HTTP_451_UNAVAILABLE_FOR_LEGAL_REASONS: Final = 451
HTTP_500_INTERNAL_SERVER_ERROR: Final = 500
HTTP_501_NOT_IMPLEMENTED: Final = 501
HTTP_502_BAD_GATEWAY: Final = 502
HTTP_503_SERVICE_UNAVAILABLE: Final = 503
HTTP_504_GATEWAY_TIMEOUT: Final = 504
HTTP_505_HTTP_VERSION_NOT_SUPPORTED: Final = 505
HTTP_506_VARIANT_ALSO_NEGOTIATES: Final = 506
HTTP_507_INSUFFICIENT_STORAGE: Final = 507
HTTP_508_LOOP_DETECTED: Final = 508
HTTP_510_NOT_EXTENDED: Final = 510
HTTP_511_NETWORK_AUTHENTICATION_REQUIRED: Final = 511

# The names RFC 9110 retired (RFC 7231's), kept because existing code uses them.
HTTP_413_REQUEST_ENTITY_TOO_LARGE: Final = 413
HTTP_414_REQUEST_URI_TOO_LONG: Final = 414
HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE: Final = 416
HTTP_422_UNPROCESSABLE_ENTITY: Final = 422

# WebSocket close codes (RFC 6455 §7.4.1 and the IANA registry, RFC 6455 §11.7), as
# Starlette names them, for ``websocket.close`` messages and ``WebSocketException``.
WS_1000_NORMAL_CLOSURE: Final = 1000
WS_1001_GOING_AWAY: Final = 1001
WS_1002_PROTOCOL_ERROR: Final = 1002
WS_1003_UNSUPPORTED_DATA: Final = 1003
WS_1005_NO_STATUS_RCVD: Final = 1005
WS_1006_ABNORMAL_CLOSURE: Final = 1006
WS_1007_INVALID_FRAME_PAYLOAD_DATA: Final = 1007
WS_1008_POLICY_VIOLATION: Final = 1008
WS_1009_MESSAGE_TOO_BIG: Final = 1009
WS_1010_MANDATORY_EXT: Final = 1010
WS_1011_INTERNAL_ERROR: Final = 1011
WS_1012_SERVICE_RESTART: Final = 1012
WS_1013_TRY_AGAIN_LATER: Final = 1013
WS_1014_BAD_GATEWAY: Final = 1014
WS_1015_TLS_HANDSHAKE: Final = 1015

__all__ = [
    "HTTP_100_CONTINUE",
    "HTTP_101_SWITCHING_PROTOCOLS",
    "HTTP_102_PROCESSING",
    "HTTP_103_EARLY_HINTS",
    "HTTP_200_OK",
    "HTTP_201_CREATED",
    "HTTP_202_ACCEPTED",
    "HTTP_203_NON_AUTHORITATIVE_INFORMATION",
    "HTTP_204_NO_CONTENT",
    "HTTP_205_RESET_CONTENT",
    "HTTP_206_PARTIAL_CONTENT",
    "HTTP_207_MULTI_STATUS",
    "HTTP_208_ALREADY_REPORTED",
    "HTTP_226_IM_USED",
    "HTTP_300_MULTIPLE_CHOICES",
    "HTTP_301_MOVED_PERMANENTLY",
    "HTTP_302_FOUND",
    "HTTP_303_SEE_OTHER",
    "HTTP_304_NOT_MODIFIED",
    "HTTP_305_USE_PROXY",
    "HTTP_306_RESERVED",
    "HTTP_307_TEMPORARY_REDIRECT",
    "HTTP_308_PERMANENT_REDIRECT",
    "HTTP_400_BAD_REQUEST",
    "HTTP_401_UNAUTHORIZED",
    "HTTP_402_PAYMENT_REQUIRED",
    "HTTP_403_FORBIDDEN",
    "HTTP_404_NOT_FOUND",
    "HTTP_405_METHOD_NOT_ALLOWED",
    "HTTP_406_NOT_ACCEPTABLE",
    "HTTP_407_PROXY_AUTHENTICATION_REQUIRED",
    "HTTP_408_REQUEST_TIMEOUT",
    "HTTP_409_CONFLICT",
    "HTTP_410_GONE",
    "HTTP_411_LENGTH_REQUIRED",
    "HTTP_412_PRECONDITION_FAILED",
    "HTTP_413_CONTENT_TOO_LARGE",
    "HTTP_413_REQUEST_ENTITY_TOO_LARGE",
    "HTTP_414_REQUEST_URI_TOO_LONG",
    "HTTP_414_URI_TOO_LONG",
    "HTTP_415_UNSUPPORTED_MEDIA_TYPE",
    "HTTP_416_RANGE_NOT_SATISFIABLE",
    "HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE",
    "HTTP_417_EXPECTATION_FAILED",
    "HTTP_418_IM_A_TEAPOT",
    "HTTP_421_MISDIRECTED_REQUEST",
    "HTTP_422_UNPROCESSABLE_CONTENT",
    "HTTP_422_UNPROCESSABLE_ENTITY",
    "HTTP_423_LOCKED",
    "HTTP_424_FAILED_DEPENDENCY",
    "HTTP_425_TOO_EARLY",
    "HTTP_426_UPGRADE_REQUIRED",
    "HTTP_428_PRECONDITION_REQUIRED",
    "HTTP_429_TOO_MANY_REQUESTS",
    "HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE",
    "HTTP_451_UNAVAILABLE_FOR_LEGAL_REASONS",
    "HTTP_500_INTERNAL_SERVER_ERROR",
    "HTTP_501_NOT_IMPLEMENTED",
    "HTTP_502_BAD_GATEWAY",
    "HTTP_503_SERVICE_UNAVAILABLE",
    "HTTP_504_GATEWAY_TIMEOUT",
    "HTTP_505_HTTP_VERSION_NOT_SUPPORTED",
    "HTTP_506_VARIANT_ALSO_NEGOTIATES",
    "HTTP_507_INSUFFICIENT_STORAGE",
    "HTTP_508_LOOP_DETECTED",
    "HTTP_510_NOT_EXTENDED",
    "HTTP_511_NETWORK_AUTHENTICATION_REQUIRED",
    "REASON_PHRASES",
    "WS_1000_NORMAL_CLOSURE",
    "WS_1001_GOING_AWAY",
    "WS_1002_PROTOCOL_ERROR",
    "WS_1003_UNSUPPORTED_DATA",
    "WS_1005_NO_STATUS_RCVD",
    "WS_1006_ABNORMAL_CLOSURE",
    "WS_1007_INVALID_FRAME_PAYLOAD_DATA",
    "WS_1008_POLICY_VIOLATION",
    "WS_1009_MESSAGE_TOO_BIG",
    "WS_1010_MANDATORY_EXT",
    "WS_1011_INTERNAL_ERROR",
    "WS_1012_SERVICE_RESTART",
    "WS_1013_TRY_AGAIN_LATER",
    "WS_1014_BAD_GATEWAY",
    "WS_1015_TLS_HANDSHAKE",
    "allows_content",
    "is_final",
    "is_informational",
    "is_valid",
    "reason_phrase",
]
