"""Fixtures for the browser tests: the showcase behind the real server, and Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e._cdp import Browser, find_chromium, launch_chromium
from tests.support.live_server import run_server


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium binary (install the `chromium` package or set ASGI_MAGIC_CHROMIUM)"
        )
    return path


@pytest.fixture(scope="module")
def upload_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the showcase's upload app stores files during these tests."""
    directory = tmp_path_factory.mktemp("uploads")
    previous = os.environ.get("UPLOAD_DIR")
    os.environ["UPLOAD_DIR"] = str(directory)
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop("UPLOAD_DIR", None)
        else:
            os.environ["UPLOAD_DIR"] = previous


@pytest.fixture(scope="module")
def showcase_url(upload_dir: Path) -> Iterator[str]:
    from sample_apps.showcase import app

    with run_server(app) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser(
    chromium: str, showcase_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browser]:
    # Depends on showcase_url so the server starts first and stops last: a page's open
    # EventSource or WebSocket would otherwise hold up the server's graceful shutdown.
    profile = tmp_path_factory.mktemp("chromium") / "profile"
    with launch_chromium(chromium, profile) as running:
        yield running


@pytest.fixture(autouse=True)
def _close_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """Close every tab a test opened, so no stream of one test leaks into the next."""
    yield
    if "browser" in request.fixturenames:
        running: Browser = request.getfixturevalue("browser")
        for page in list(running.pages):
            running.close_page(page)
