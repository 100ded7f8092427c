"""Log in and out with a signed-cookie session, Jinja2 templates, CSRF tokens and
flash messages.

    SESSION_SECRET=change-me asgi-magic sample_apps.sessions_login:app

Demo account: ``alice`` / ``wonderland``. After a successful login the session is
regenerated (a new session id, and a new CSRF secret), so an id or token planted
before login is worthless (session fixation). The cookie is signed, HttpOnly and
SameSite=Lax; every form carries a CSRF token bound to the session
(``CSRFMiddleware``), and the pages are Jinja2 templates (autoescaped) under
``sample_apps/templates/session/``. Needs ``pip install 'asgi-magic[templates]'``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from asgi_magic.web import (
    App,
    CSRFMiddleware,
    RedirectResponse,
    Request,
    Response,
    SessionMiddleware,
    flash,
)
from asgi_magic.web.templating import Jinja2Templates

# A real app keeps password hashes (e.g. hashlib.scrypt) in a database; a demo has one.
USERS = {"alice": "wonderland"}

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _check_password(username: str, password: str) -> bool:
    expected = USERS.get(username, "")
    # compare_digest takes the same time whatever the mismatch, so a timing attack
    # learns nothing; the dummy comparison keeps unknown users as slow as known ones.
    ok = hmac.compare_digest(password.encode(), expected.encode())
    return ok and username in USERS


def create_app(secret_key: str | None = None) -> App:
    app = App()

    @app.get("/", name="session_home")
    async def home(request: Request) -> Response:
        user = request.session.get("user")
        if user is None:
            return templates.TemplateResponse(request, "session/login.html", {"username": ""})
        request.session["visits"] = request.session.get("visits", 0) + 1
        return templates.TemplateResponse(
            request, "session/welcome.html", {"user": user, "visits": request.session["visits"]}
        )

    @app.post("/login", name="login")
    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        username = str(form.get("username") or "")
        password = str(form.get("password") or "")
        if not _check_password(username, password):
            # Not 401: RFC 9110 §15.5.2 requires WWW-Authenticate with it, which belongs
            # to HTTP authentication, not to a login form.
            return templates.TemplateResponse(
                request,
                "session/login.html",
                {"error": "Wrong user name or password.", "username": username},
                status_code=403,
            )
        request.session.regenerate()  # a fresh session id on every privilege change
        request.session["user"] = username
        flash(request, f"Welcome, {username}!", "success")
        # 303 See Other (RFC 9110 §15.4.4): the browser follows with a GET.
        return RedirectResponse(str(request.url_for("session_home")), status_code=303)

    @app.post("/logout", name="logout")
    async def logout(request: Request) -> RedirectResponse:
        request.session.clear()
        flash(request, "You are signed out.", "info")
        return RedirectResponse(str(request.url_for("session_home")), status_code=303)

    # Without SESSION_SECRET every process start signs with a new key (logging everyone
    # out); set it, and keep it secret, in production.
    secret = secret_key or os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32)
    # The session is outside CSRF (added last = outermost), so tokens bind to it.
    app.add_middleware(CSRFMiddleware, secret_key=secret)
    app.add_middleware(SessionMiddleware, secret_key=secret)
    return app


app = create_app()
