"""Log in and out with a signed-cookie session.

    SESSION_SECRET=change-me asgi-magic sample_apps.sessions_login:app

Demo account: ``alice`` / ``wonderland``. After a successful login the session is
regenerated (a new session id), so an id planted before login is worthless (session
fixation). The cookie is signed, HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

import hmac
import html
import os
import secrets

from asgi_magic.web import App, HTMLResponse, RedirectResponse, Request, SessionMiddleware

# A real app keeps password hashes (e.g. hashlib.scrypt) in a database; a demo has one.
USERS = {"alice": "wonderland"}

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sessions</title>
<link rel="stylesheet" href="/static/css/site.css"></head>
<body>
<h1>Sessions</h1>
{body}
<p><a href="/">Back to the showcase</a></p>
</body>
</html>
"""

LOGIN_FORM = """<p class="muted">Demo account: alice / wonderland</p>
{error}
<form id="login-form" method="post" action="{action}">
  <label>User <input id="username" name="username" autocomplete="username" required></label>
  <label>Password <input id="password" name="password" type="password" required></label>
  <button id="login" type="submit">Log in</button>
</form>"""

WELCOME = """<p id="welcome">Signed in as <strong>{user}</strong> (visit {visits}).</p>
<form method="post" action="{action}"><button id="logout" type="submit">Log out</button></form>"""


def _check_password(username: str, password: str) -> bool:
    expected = USERS.get(username, "")
    # compare_digest takes the same time whatever the mismatch, so a timing attack
    # learns nothing; the dummy comparison keeps unknown users as slow as known ones.
    ok = hmac.compare_digest(password.encode(), expected.encode())
    return ok and username in USERS


def create_app(secret_key: str | None = None) -> App:
    app = App()

    @app.get("/", name="session_home")
    async def home(request: Request) -> HTMLResponse:
        user = request.session.get("user")
        if user is None:
            body = LOGIN_FORM.format(error="", action=html.escape(str(request.url_for("login"))))
            return HTMLResponse(PAGE.format(body=body))
        request.session["visits"] = request.session.get("visits", 0) + 1
        body = WELCOME.format(
            user=html.escape(user),
            visits=request.session["visits"],
            action=html.escape(str(request.url_for("logout"))),
        )
        return HTMLResponse(PAGE.format(body=body))

    @app.post("/login", name="login")
    async def login(request: Request) -> HTMLResponse | RedirectResponse:
        form = await request.form(max_files=0, max_fields=10)
        username = str(form.get("username") or "")
        password = str(form.get("password") or "")
        if not _check_password(username, password):
            body = LOGIN_FORM.format(
                error='<p id="error">Wrong user name or password.</p>',
                action=html.escape(str(request.url_for("login"))),
            )
            # Not 401: RFC 9110 §15.5.2 requires WWW-Authenticate with it, which belongs
            # to HTTP authentication, not to a login form.
            return HTMLResponse(PAGE.format(body=body), status_code=403)
        request.session.regenerate()  # a fresh session id on every privilege change
        request.session["user"] = username
        return RedirectResponse(str(request.url_for("session_home")), status_code=303)

    @app.post("/logout", name="logout")
    async def logout(request: Request) -> RedirectResponse:
        request.session.clear()
        return RedirectResponse(str(request.url_for("session_home")), status_code=303)

    # Without SESSION_SECRET every process start signs with a new key (logging everyone
    # out); set it, and keep it secret, in production.
    secret = secret_key or os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32)
    app.add_middleware(SessionMiddleware, secret_key=secret)
    return app


app = create_app()
