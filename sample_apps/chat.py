"""Chat rooms over WebSocket, fanned out with the Broadcast helper.

    asgi-magic sample_apps.chat:app      # then open http://127.0.0.1:8000/ in two tabs

Every connection to ``/ws/{room}`` subscribes to the room's channel; each text message
it sends is published to that channel, so every member (on any worker, with the Redis
backend) receives it as JSON ``{"name": ..., "text": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import suppress

from asgi_magic.web import (
    App,
    Broadcast,
    HTMLResponse,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
)
from asgi_magic.web.broadcast import Subscriber

MAX_MESSAGE_LENGTH = 2000  # characters; a longer message closes the socket with 1009
ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
USER_NAME = re.compile(r"[\w .-]{1,40}")

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Chat</title>
<link rel="stylesheet" href="/static/css/site.css"></head>
<body>
<h1>Chat</h1>
<form id="join-form">
  <label>Room <input id="room" value="lobby" pattern="[A-Za-z0-9_-]{1,40}"></label>
  <label>Name <input id="name" value="guest"></label>
  <button id="join" type="submit">Join</button>
</form>
<p id="status" class="muted">not connected</p>
<ul id="log"></ul>
<form id="send-form">
  <input id="message" autocomplete="off" maxlength="2000" placeholder="Say something">
  <button id="send" type="submit">Send</button>
</form>
<p><a href="/">Back to the showcase</a></p>
<script>
let socket = null;
const log = document.getElementById("log");
const status = document.getElementById("status");
function show(text) {
  const item = document.createElement("li");
  item.textContent = text;  // textContent, never innerHTML: messages are untrusted
  log.appendChild(item);
}
document.getElementById("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket) socket.close();
  const room = document.getElementById("room").value;
  const name = document.getElementById("name").value;
  const url = new URL("ws/" + encodeURIComponent(room), location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("name", name);
  socket = new WebSocket(url);
  socket.onopen = () => { status.textContent = "connected to " + room; };
  socket.onclose = (e) => { status.textContent = "disconnected (" + e.code + ")"; };
  socket.onmessage = (e) => {
    const message = JSON.parse(e.data);
    show(message.name + ": " + message.text);
  };
});
document.getElementById("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("message");
  if (socket && socket.readyState === WebSocket.OPEN && input.value) {
    socket.send(input.value);
    input.value = "";
  }
});
</script>
</body>
</html>
"""


def create_app(broadcast: Broadcast | None = None) -> App:
    """The chat app; pass a shared ``Broadcast`` (e.g. ``Broadcast("redis://...")``)."""
    hub = broadcast if broadcast is not None else Broadcast("memory://")
    app = App(on_startup=[hub.connect], on_shutdown=[hub.disconnect])
    app.state.broadcast = hub

    @app.get("/", name="chat_page")
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.websocket("/ws/{room}", name="chat_ws")
    async def chat(websocket: WebSocket, room: str) -> None:
        name = websocket.query_params.get("name", "guest").strip() or "guest"
        if not ROOM_NAME.fullmatch(room) or not USER_NAME.fullmatch(name):
            # Rejected before accept: the server answers the handshake with 403.
            raise WebSocketException(1008, "bad room or user name")
        channel = f"chat:{room}"
        await websocket.accept()
        async with hub.subscribe(channel) as subscriber:
            forward = asyncio.create_task(_forward(subscriber, websocket))
            try:
                await _publish(hub, channel, "*", f"{name} joined")
                async for text in websocket.iter_text():
                    if len(text) > MAX_MESSAGE_LENGTH:
                        # RFC 6455 §7.4.1: 1009, the message is too big to process.
                        await websocket.close(1009, "message too long")
                        break
                    await _publish(hub, channel, name, text)
            except WebSocketDisconnect:
                pass
            finally:
                forward.cancel()
                with suppress(asyncio.CancelledError):
                    await forward
        with suppress(Exception):
            await _publish(hub, channel, "*", f"{name} left")

    return app


async def _publish(hub: Broadcast, channel: str, name: str, text: str) -> None:
    await hub.publish(channel, json.dumps({"name": name, "text": text}))


async def _forward(subscriber: Subscriber, websocket: WebSocket) -> None:
    """Send every message published to the room to this member."""
    async for event in subscriber:
        await websocket.send_text(event.message)


app = create_app()
