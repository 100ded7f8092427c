"""A minimal Chrome DevTools Protocol driver for the end-to-end tests.

Why not Playwright: it wants to download its own browser build, which this project
cannot do; the system ``chromium`` plus the DevTools protocol over the ``websockets``
package (already a test dependency) is all a few browser scenarios need.

    with launch_chromium(tmp_path) as browser:
        page = browser.new_page()
        page.goto(base_url + "/")
        assert page.evaluate("document.title") == "asgi_magic showcase"

Every wait is bounded; a page that never gets there raises ``TimeoutError`` with the
condition that was being waited for.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# The flags that make a headless Chromium behave in a container without a GPU, a
# sandbox-capable kernel or a network: no background traffic, no QUIC, no proxy.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--window-size=1280,900",
)


def find_chromium() -> str | None:
    """The path of a Chromium binary, or None (the e2e tests then skip)."""
    explicit = os.environ.get("ASGI_MAGIC_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class CDPError(RuntimeError):
    """The browser answered a command with an error."""


class _Session:
    """One DevTools WebSocket: send a command, read until its answer comes back."""

    def __init__(self, url: str, timeout: float) -> None:
        # Screenshots arrive as one big base64 message: no size limit on our side.
        self._stack = ExitStack()  # websockets wants connect() used as a context manager
        self._ws: ClientConnection = self._stack.enter_context(
            connect(url, max_size=None, open_timeout=timeout)
        )
        self._timeout = timeout
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        message_id = self._next_id
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + self._timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer to {method} within {self._timeout} s")
            message = json.loads(self._ws.recv(timeout=remaining))
            if message.get("id") == message_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                # Events we did not ask about; kept (bounded) for debugging.
                self.events.append(message)
                del self.events[:-200]

    def close(self) -> None:
        self._stack.close()


class Page:
    """A browser tab."""

    def __init__(self, session: _Session, target_id: str) -> None:
        self._session = session
        self.target_id = target_id
        session.call("Page.enable")
        session.call("Runtime.enable")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._session.call(method, params)

    def evaluate(self, expression: str, *, await_promise: bool = True) -> Any:
        """Run JavaScript in the page and return its (JSON-serialisable) value."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": await_promise, "returnByValue": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"JavaScript error in {expression!r}: {text}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout: float = 10.0) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value.

        The value comes back as JSON, so a DOM node arrives as ``{}`` (falsy here):
        test for elements with ``!!document.querySelector(...)``.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(condition)
            except CDPError:
                # The page may be between documents (a navigation is under way).
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for: {condition}")
            time.sleep(0.05)

    def goto(self, url: str, timeout: float = 10.0) -> None:
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CDPError(f"navigating to {url}: {result['errorText']}")
        self.wait_for_load(url, timeout)

    def wait_for_load(self, url_prefix: str, timeout: float = 10.0) -> None:
        """Wait until the page shows ``url_prefix`` (or deeper) and has finished loading."""
        self.wait_for(
            f"location.href.startsWith({json.dumps(url_prefix)})"
            " && document.readyState === 'complete'",
            timeout,
        )

    def text(self, selector: str = "body") -> str:
        value = self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''"
        )
        return str(value)

    def fill(self, selector: str, value: str) -> None:
        self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            f" el.value = {json.dumps(value)};"
            " el.dispatchEvent(new Event('input', {bubbles: true})); })()"
        )

    def click(self, selector: str) -> None:
        # el.click() runs the same activation behaviour as a user's click (form
        # submission included) without needing the element's screen coordinates.
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def set_input_files(self, selector: str, paths: list[str]) -> None:
        """Choose files for an <input type=file>, as the file picker would."""
        found = self.call(
            "Runtime.evaluate", {"expression": f"document.querySelector({json.dumps(selector)})"}
        )
        object_id = found["result"].get("objectId")
        if not object_id:
            raise CDPError(f"no element matches {selector!r}")
        self.call("DOM.setFileInputFiles", {"files": paths, "objectId": object_id})

    def cookies(self) -> list[dict[str, Any]]:
        cookies: list[dict[str, Any]] = self.call("Network.getCookies")["cookies"]
        return cookies

    def screenshot(self) -> bytes:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        return base64.b64decode(data)

    def close(self) -> None:
        self._session.close()


class Browser:
    def __init__(self, port: int, browser_path: str, timeout: float) -> None:
        self.port = port
        self._timeout = timeout
        self._browser = _Session(f"ws://127.0.0.1:{port}{browser_path}", timeout)
        self.pages: list[Page] = []

    def new_page(self) -> Page:
        target_id = self._browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = _Session(f"ws://127.0.0.1:{self.port}/devtools/page/{target_id}", self._timeout)
        page = Page(session, target_id)
        self.pages.append(page)
        return page

    def close_page(self, page: Page) -> None:
        """Close the tab: its connections (WebSocket, EventSource) end with it."""
        if page in self.pages:
            self.pages.remove(page)
        try:
            page.close()
        finally:
            self._browser.call("Target.closeTarget", {"targetId": page.target_id})

    def close(self) -> None:
        for page in list(self.pages):
            try:
                self.close_page(page)
            except Exception:
                pass  # the browser is being stopped anyway
        self._browser.close()


@contextmanager
def launch_chromium(
    executable: str, user_data_dir: Path, timeout: float = 15.0
) -> Iterator[Browser]:
    """Start a headless Chromium with a fresh profile; stop it (and wait) on exit."""
    user_data_dir.mkdir(parents=True, exist_ok=True)
    log_path = user_data_dir.parent / "chromium.log"
    port_file = user_data_dir / "DevToolsActivePort"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={user_data_dir}",
                # Port 0: Chromium picks a free port and writes it to DevToolsActivePort.
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            lines = port_file.read_text().splitlines() if port_file.exists() else []
            if len(lines) >= 2:
                break
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}: {_tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start in {timeout} s: {_tail(log_path)}")
            time.sleep(0.05)
        browser = Browser(int(lines[0]), lines[1], timeout)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_bytes()[-size:].decode(errors="replace")
    except OSError:
        return "(no log)"
