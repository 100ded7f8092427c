"""asgi_magic.web: a small, fast framework that speaks only ASGI.

from asgi_magic.web import App

app = App()

@app.get("/users/{user_id:int}")
async def user(user_id: int) -> dict:
    return {"id": user_id}
"""

from __future__ import annotations

from ._convertors import Convertor, register_converter
from .app import App
from .background import BackgroundTask, BackgroundTasks
from .datastructures import URL, FormData, Headers, MutableHeaders, QueryParams, State
from .exceptions import HTTPException, WebSocketException
from .middleware import Middleware
from .requests import ClientDisconnect, HTTPConnection, Request
from .responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from .routing import Mount, NoMatchFound, Route, Router, WebSocketRoute
from .websockets import WebSocket, WebSocketDisconnect, WebSocketState

__all__ = [
    "URL",
    "App",
    "BackgroundTask",
    "BackgroundTasks",
    "ClientDisconnect",
    "Convertor",
    "FormData",
    "HTMLResponse",
    "HTTPConnection",
    "HTTPException",
    "Headers",
    "JSONResponse",
    "Middleware",
    "Mount",
    "MutableHeaders",
    "NoMatchFound",
    "PlainTextResponse",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "Response",
    "Route",
    "Router",
    "State",
    "StreamingResponse",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketRoute",
    "WebSocketState",
    "register_converter",
]

# --- features ---
# (FILES and MIDDLEWARE engineers: add `from .x import Y` lines and `__all__ += [...]` here)
from .authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    AuthenticationMiddleware,
    BaseUser,
    SimpleUser,
    UnauthenticatedUser,
    requires,
)
from .broadcast import Broadcast, Event, Subscriber
from .compression import CompressionMiddleware
from .conditional import ConditionalGetMiddleware
from .cors import CORSMiddleware
from .csrf import CSRFMiddleware, csrf_exempt, csrf_token
from .endpoints import HTTPEndpoint, WebSocketEndpoint
from .exceptions import RequestValidationError
from .flash import flash, get_flashed_messages
from .gzip import GZipMiddleware
from .hosts import HTTPSRedirectMiddleware, TrustedHostMiddleware
from .multipart import UploadFile, safe_filename
from .params import Cookie, Header, Query
from .routing import Host
from .sessions import (
    MemorySessionBackend,
    RedisSessionBackend,
    Session,
    SessionCookieTooLarge,
    SessionMiddleware,
)
from .sse import EventSourceResponse, ServerSentEvent
from .staticfiles import FileResponse, StaticFiles

__all__ += [
    "Broadcast",
    "CORSMiddleware",
    "CompressionMiddleware",
    "Event",
    "EventSourceResponse",
    "GZipMiddleware",
    "HTTPSRedirectMiddleware",
    "MemorySessionBackend",
    "RedisSessionBackend",
    "ServerSentEvent",
    "Session",
    "SessionCookieTooLarge",
    "SessionMiddleware",
    "Subscriber",
    "TrustedHostMiddleware",
]
__all__ += ["FileResponse", "StaticFiles", "UploadFile", "safe_filename"]
__all__ += [
    "Cookie",
    "HTTPEndpoint",
    "Header",
    "Host",
    "Query",
    "RequestValidationError",
    "WebSocketEndpoint",
    "AuthCredentials",
    "AuthenticationBackend",
    "AuthenticationError",
    "AuthenticationMiddleware",
    "BaseUser",
    "CSRFMiddleware",
    "ConditionalGetMiddleware",
    "SimpleUser",
    "UnauthenticatedUser",
    "csrf_exempt",
    "csrf_token",
    "flash",
    "get_flashed_messages",
    "requires",
]
# --- end features ---
