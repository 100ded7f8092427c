"""The ``WebSocket`` connection object handed to websocket routes (asgiref www.rst)."""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, cast

from ._types import Message, Receive, Scope, Send
from .requests import HTTPConnection

__all__ = ["WebSocket", "WebSocketClose", "WebSocketDisconnect", "WebSocketState"]


class WebSocketState(enum.Enum):
    """Where one side of a ``WebSocket`` is: ``client_state`` follows the messages
    received, ``application_state`` the messages the app has sent."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


class WebSocketDisconnect(Exception):
    """The peer closed the connection (raised from ``receive_*``)."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)


class WebSocket(HTTPConnection):
    """One websocket connection of an ASGI ``websocket`` scope (asgiref spec 2.4).

    Reads like a ``Request`` (``url``, ``headers``, ``query_params``, ``path_params``,
    ``cookies``, ``client``, ``state``) and adds the message methods. The
    ``receive_*`` methods raise ``WebSocketDisconnect(code, reason)`` when the client
    has gone (code 1005 when its close frame had none, 1006 when the connection
    dropped); the ``send_*`` methods raise it (code 1006) when the server reports the
    client gone. Calling a method in the wrong state (receiving before ``accept``,
    sending after ``close``) raises ``RuntimeError``.
    """

    __slots__ = ("_receive", "_send", "application_state", "client_state")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope)
        assert scope["type"] == "websocket"
        self._receive = receive
        self._send = send
        self.client_state = WebSocketState.CONNECTING
        self.application_state = WebSocketState.CONNECTING

    async def receive(self) -> Message:
        """The next raw ASGI message, checked against the connection state machine."""
        if self.client_state == WebSocketState.CONNECTING:
            message = await self._receive()
            if message["type"] != "websocket.connect":
                raise RuntimeError(f'expected "websocket.connect", got {message["type"]!r}')
            self.client_state = WebSocketState.CONNECTED
            return message
        if self.client_state == WebSocketState.CONNECTED:
            message = await self._receive()
            kind = message["type"]
            if kind not in ("websocket.receive", "websocket.disconnect"):
                raise RuntimeError(f"unexpected ASGI message {kind!r}")
            if kind == "websocket.disconnect":
                self.client_state = WebSocketState.DISCONNECTED
            return message
        raise RuntimeError('cannot call "receive" once a disconnect message has been received')

    async def send(self, message: Message) -> None:
        """Send one raw ASGI message, checked against the connection state machine."""
        kind = message["type"]
        state = self.application_state
        if state == WebSocketState.CONNECTING:
            if kind not in ("websocket.accept", "websocket.close", "websocket.http.response.start"):
                raise RuntimeError(f"cannot send {kind!r} before the connection is accepted")
            if kind == "websocket.close":
                self.application_state = WebSocketState.DISCONNECTED
            elif kind == "websocket.http.response.start":
                self.application_state = WebSocketState.RESPONSE
            else:
                self.application_state = WebSocketState.CONNECTED
        elif state == WebSocketState.CONNECTED:
            if kind not in ("websocket.send", "websocket.close"):
                raise RuntimeError(f"cannot send {kind!r} on an open websocket")
            if kind == "websocket.close":
                self.application_state = WebSocketState.DISCONNECTED
        elif state == WebSocketState.RESPONSE:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"cannot send {kind!r} while sending a denial response")
            if not message.get("more_body", False):
                self.application_state = WebSocketState.DISCONNECTED
        else:
            raise RuntimeError("cannot send once the websocket is closed")
        try:
            await self._send(message)
        except OSError:
            # ASGI 2.4: send raises OSError when the peer is gone
            self.application_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(code=1006) from None

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] | Mapping[str, str] | None = None,
    ) -> None:
        """Accept the handshake (the client gets ``101 Switching Protocols``).

        ``subprotocol`` must be one of ``scope["subprotocols"]`` (the client's offer) or
        None; ``headers`` are added to the 101 response, as ``(bytes, bytes)`` pairs or
        a ``str`` mapping. A header containing CR or LF raises ``ValueError``.
        """
        raw: list[tuple[bytes, bytes]] = []
        if isinstance(headers, Mapping):
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        elif headers is not None:
            raw = list(headers)
        for name, value in raw:
            # header injection through accept headers would corrupt the handshake
            if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
                raise ValueError("websocket accept headers must not contain CR or LF")
        if self.client_state == WebSocketState.CONNECTING:
            await self.receive()  # the "websocket.connect" message
        await self.send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": raw})

    def _raise_on_disconnect(self, message: Message) -> None:
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))

    async def receive_text(self) -> str:
        """The next message, which must be text (``RuntimeError`` for a binary one)."""
        self._require_accepted()
        message = await self.receive()
        self._raise_on_disconnect(message)
        text = message.get("text")
        if text is None:
            raise RuntimeError("expected a text message, got bytes")
        return cast(str, text)

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary (``RuntimeError`` for a text one)."""
        self._require_accepted()
        message = await self.receive()
        self._raise_on_disconnect(message)
        data = message.get("bytes")
        if data is None:
            raise RuntimeError("expected a binary message, got text")
        return cast(bytes, data)

    async def receive_json(self, mode: str = "text") -> Any:
        """The next message parsed as JSON; ``mode="binary"`` reads a binary message as
        UTF-8 JSON. Invalid JSON raises ``json.JSONDecodeError`` (a ``ValueError``)."""
        if mode not in ("text", "binary"):
            raise RuntimeError('mode must be "text" or "binary"')
        self._require_accepted()
        message = await self.receive()
        self._raise_on_disconnect(message)
        if mode == "text":
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8")
        else:
            text = (message.get("bytes") or b"").decode("utf-8")
        return json.loads(text)

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the client disconnects (then the loop simply ends)."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            pass

    async def iter_json(self) -> AsyncIterator[Any]:
        """Text messages parsed as JSON until the client disconnects."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            pass

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self.send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self.send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as compact UTF-8 JSON, as a text message (or binary with
        ``mode="binary"``)."""
        if mode not in ("text", "binary"):
            raise RuntimeError('mode must be "text" or "binary"')
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            await self.send({"type": "websocket.send", "text": text})
        else:
            await self.send({"type": "websocket.send", "bytes": text.encode("utf-8")})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with ``code`` (RFC 6455 §7.4) and ``reason`` (at most 123 UTF-8 bytes on
        the wire). Before ``accept`` this rejects the handshake: the client gets 403."""
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})

    def _require_accepted(self) -> None:
        if self.application_state != WebSocketState.CONNECTED:
            raise RuntimeError('the websocket is not connected; call "accept" first')


class WebSocketClose:
    """An ASGI app that closes (or, before accept, rejects) a websocket handshake."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.close", "code": self.code, "reason": self.reason})
