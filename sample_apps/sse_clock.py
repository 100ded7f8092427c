"""Server-Sent Events: a clock that pushes the time to the browser.

    asgi-magic sample_apps.sse_clock:app      # then open http://127.0.0.1:8000/

``/events`` is a ``text/event-stream``; ``EventSource`` in the page reconnects by itself
and sends ``Last-Event-ID``, so ids continue after a reconnect. Query parameters
``interval`` (seconds, 0.05-60) and ``count`` (stop after N events) are bounded.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator

from asgi_magic.web import (
    App,
    EventSourceResponse,
    HTMLResponse,
    HTTPException,
    Request,
    ServerSentEvent,
)

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>SSE clock</title>
<link rel="stylesheet" href="/static/css/site.css"></head>
<body>
<h1>Server-Sent Events</h1>
<p>Server time: <strong id="clock">waiting…</strong></p>
<p class="muted">Events received: <span id="count">0</span></p>
<p><a href="/">Back to the showcase</a></p>
<script>
const source = new EventSource("events" + location.search);
let received = 0;
source.addEventListener("tick", (event) => {
  received += 1;
  document.getElementById("clock").textContent = event.data;
  document.getElementById("count").textContent = String(received);
});
</script>
</body>
</html>
"""


def _bounded_float(request: Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise HTTPException(400, f"{name!r} must be a number") from None
    if not low <= value <= high:  # also rejects nan
        raise HTTPException(400, f"{name!r} must be between {low} and {high}")
    return value


def create_app() -> App:
    app = App()

    @app.get("/", name="clock_page")
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/events", name="clock_events")
    async def events(request: Request) -> EventSourceResponse:
        interval = _bounded_float(request, "interval", 1.0, 0.05, 60.0)
        count = int(_bounded_float(request, "count", 0, 0, 100_000))  # 0: forever
        try:
            # The browser resumes after the last id it saw.
            first = int(request.headers.get("last-event-id", "0")) + 1
        except ValueError:
            first = 1

        async def ticks() -> AsyncIterator[ServerSentEvent]:
            number = first
            while True:
                now = datetime.datetime.now(datetime.timezone.utc)
                yield ServerSentEvent(
                    data=now.strftime("%H:%M:%S.%f")[:-3] + " UTC", event="tick", id=str(number)
                )
                number += 1
                if count and number >= first + count:
                    return  # the stream ends; a browser's EventSource would reconnect
                await asyncio.sleep(interval)

        return EventSourceResponse(ticks())

    return app


app = create_app()
