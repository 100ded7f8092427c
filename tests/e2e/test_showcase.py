"""Headless Chromium drives the showcase through the real asgi_magic server: pages
render and are styled, a form upload round-trips, a login sets an HttpOnly session
cookie, two tabs chat over WebSocket, Server-Sent Events arrive."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from sample_apps.showcase import FEATURES
from tests.e2e._cdp import Browser, Page

pytestmark = pytest.mark.e2e


def test_index_renders_with_styles_and_links(browser: Browser, showcase_url: str) -> None:
    page = browser.new_page()
    page.goto(showcase_url + "/")
    assert page.evaluate("document.title") == "asgi_magic showcase"
    links = page.evaluate("[...document.querySelectorAll('#features a')].map(a => a.id)")
    assert links == [f"link-{name}" for name, *_ in FEATURES]
    # The stylesheet came from StaticFiles: the heading has its colour.
    colour = page.evaluate("getComputedStyle(document.querySelector('h1')).color")
    assert colour == "rgb(107, 47, 179)"

    page.click("#link-site")
    page.wait_for_load(showcase_url + "/site/")
    assert page.text("#title") == "A static site"
    page.click("a[href='docs/']")
    page.wait_for_load(showcase_url + "/site/docs/")
    assert page.text("#title") == "Docs"


def test_screenshot_of_index(browser: Browser, showcase_url: str, tmp_path: Path) -> None:
    page = browser.new_page()
    page.goto(showcase_url + "/")
    png = page.screenshot()
    path = tmp_path / "showcase.png"
    path.write_bytes(png)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    # The IHDR chunk follows the signature: width and height, big-endian.
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    assert len(data) > 2000  # a real page, not a blank image


def test_upload_form_round_trip(
    browser: Browser, showcase_url: str, upload_dir: Path, tmp_path: Path
) -> None:
    local = tmp_path / "report 2026.txt"
    local.write_bytes(b"uploaded by the browser\n" * 100)
    page = browser.new_page()
    page.goto(showcase_url + "/uploads/")
    # the form carries the CSRF token (double-submit cookie: the uploads app has no session)
    assert page.evaluate("document.querySelector('#upload-form [name=csrf_token]').value")
    page.set_input_files("#file", [str(local)])
    page.click("#upload")
    # POST, 303, GET of the listing: wait for the file to be listed.
    page.wait_for(
        "[...document.querySelectorAll('#files a')].some(a => a.textContent === 'report 2026.txt')"
    )
    assert (upload_dir / "report 2026.txt").read_bytes() == local.read_bytes()
    # The listing's link downloads the same bytes.
    downloaded = page.evaluate(
        "(async () => { const a = [...document.querySelectorAll('#files a')]"
        ".find(a => a.textContent === 'report 2026.txt');"
        " const r = await fetch(a.href); return [r.status, await r.text()]; })()"
    )
    assert downloaded == [200, local.read_text()]


def test_login_sets_httponly_session_cookie(browser: Browser, showcase_url: str) -> None:
    page = browser.new_page()
    page.goto(showcase_url + "/session/")
    page.fill("#username", "alice")
    page.fill("#password", "wrong")
    page.click("#login")
    page.wait_for("!!document.querySelector('#error')")

    page.fill("#username", "alice")
    page.fill("#password", "wonderland")
    page.click("#login")
    welcome = page.wait_for("document.querySelector('#welcome')?.innerText")
    assert welcome.startswith("Signed in as alice")
    # the flash message queued by the login shows once, on the page after the redirect
    assert page.text(".flash.success") == "Welcome, alice!"

    cookies = {c["name"]: c for c in page.cookies()}
    assert "session" in cookies
    assert cookies["session"]["httpOnly"] is True
    assert cookies["session"]["sameSite"] == "Lax"
    # HttpOnly: scripts on the page cannot read it.
    assert "session=" not in page.evaluate("document.cookie")

    # The cookie is sent back: a reload stays signed in.
    page.goto(showcase_url + "/session/")
    assert "Signed in as alice" in page.text("#welcome")

    # A POST without the CSRF token (what a forged cross-site form would send) is refused,
    # even with the session cookie attached.
    status = page.evaluate(
        "(async () => (await fetch('/session/logout', {method: 'POST',"
        " credentials: 'include'})).status)()"
    )
    assert status == 403
    assert "Signed in as alice" in page.text("#welcome")

    page.click("#logout")
    page.wait_for("!!document.querySelector('#login-form')")
    assert page.text(".flash.info") == "You are signed out."


def _join(page: Page, name: str) -> None:
    page.fill("#name", name)
    page.click("#join")
    page.wait_for("document.querySelector('#status').textContent.startsWith('connected')")


def test_chat_between_two_tabs(browser: Browser, showcase_url: str) -> None:
    ann = browser.new_page()
    bob = browser.new_page()
    for page in (ann, bob):
        page.goto(showcase_url + "/chat/")
    _join(ann, "ann")
    _join(bob, "bob")
    ann.wait_for("document.querySelector('#log').innerText.includes('bob joined')")

    ann.fill("#message", "hello <b>bob</b>")
    ann.click("#send")
    bob.wait_for("document.querySelector('#log').innerText.includes('ann: hello <b>bob</b>')")
    # Rendered as text, not markup.
    assert bob.evaluate("document.querySelectorAll('#log b').length") == 0

    bob.fill("#message", "hi ann")
    bob.click("#send")
    ann.wait_for("document.querySelector('#log').innerText.includes('bob: hi ann')")
    lines = ann.evaluate("[...document.querySelectorAll('#log li')].map(li => li.textContent)")
    assert lines[-2:] == ["ann: hello <b>bob</b>", "bob: hi ann"]


def test_sse_clock_receives_events(browser: Browser, showcase_url: str) -> None:
    page = browser.new_page()
    page.goto(showcase_url + "/clock/?interval=0.1")
    page.wait_for("Number(document.querySelector('#count').textContent) >= 3")
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} UTC", page.text("#clock"))
