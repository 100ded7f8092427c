"""Every sample app under one roof, with an index page linking each feature.

    make run          # = asgi-magic sample_apps.showcase:app --host 127.0.0.1 --port 8000

Each feature is its own small app (see the modules beside this one), mounted under a
path prefix; ``url_for`` builds links, so the prefixes live in this file only.
"""

from __future__ import annotations

import html
from pathlib import Path

from asgi_magic.web import App, HTMLResponse, Mount, Request, StaticFiles
from sample_apps import (
    chat,
    cors_api,
    hello,
    sessions_login,
    sse_clock,
    static_site,
    todo_api,
    uploads,
)

STATIC_DIRECTORY = Path(__file__).parent / "static"

# (mount name, title, what it shows, module that implements it)
FEATURES = [
    ("hello", "Hello, raw ASGI", "an app with no framework at all", "hello.py"),
    ("todos", "To-do JSON API", "CRUD with dynamic routes and JSON", "todo_api.py"),
    ("uploads", "File uploads", "multipart form with a CSRF token, downloads", "uploads.py"),
    ("site", "Static site", "StaticFiles with html=True", "static_site.py"),
    (
        "session",
        "Log in",
        "sessions, Jinja2 templates, CSRF tokens and flash messages",
        "sessions_login.py",
    ),
    ("chat", "Chat rooms", "WebSocket rooms with the broadcast helper", "chat.py"),
    ("clock", "SSE clock", "Server-Sent Events pushed every second", "sse_clock.py"),
    ("cors", "CORS API", "an API other origins may call", "cors_api.py"),
]

INDEX = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>asgi_magic showcase</title>
<link rel="stylesheet" href="{css}"></head>
<body>
<h1 id="title">asgi_magic showcase</h1>
<p>Each link is a small app from <code>sample_apps/</code>, served by the asgi_magic
server and framework.</p>
<ul class="features" id="features">
{items}
</ul>
</body>
</html>
"""

chat_app = chat.create_app()
broadcast = chat_app.state.broadcast
todo_app = todo_api.create_app()


async def index(request: Request) -> HTMLResponse:
    items = []
    for name, title, blurb, module in FEATURES:
        # A Mount's own URL ends with "/" so the feature's relative links resolve.
        url = str(request.url_for(name, path="/"))
        if name == "todos":
            url = str(request.url_for("todos", path="/todos"))
        elif name == "cors":
            url = str(request.url_for("cors", path="/quote"))
        items.append(
            f'<li><a id="link-{name}" href="{html.escape(url)}">{html.escape(title)}</a>'
            f' &mdash; {html.escape(blurb)} <span class="muted">({module})</span></li>'
        )
    page = INDEX.format(
        css=html.escape(str(request.url_for("static", path="/css/site.css"))),
        items="\n".join(items),
    )
    return HTMLResponse(page)


app = App(
    routes=[
        Mount("/static", app=StaticFiles(directory=STATIC_DIRECTORY), name="static"),
        Mount("/hello", app=hello.app, name="hello"),
        Mount("/api", app=todo_app, name="todos"),
        Mount("/uploads", app=uploads.create_app(), name="uploads"),
        Mount("/site", app=static_site.app, name="site"),
        Mount("/session", app=sessions_login.create_app(), name="session"),
        Mount("/chat", app=chat_app, name="chat"),
        Mount("/clock", app=sse_clock.create_app(), name="clock"),
        Mount("/cors", app=cors_api.create_app(), name="cors"),
    ],
    # Mounted apps do not get lifespan events; the chat's broadcast is connected here.
    on_startup=[broadcast.connect],
    on_shutdown=[broadcast.disconnect],
)
app.route("/", name="index")(index)
