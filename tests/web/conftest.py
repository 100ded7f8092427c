"""Fixtures shared by every framework test.

``client_factory`` runs each test twice: with the in-process ``TestClient`` and against
the real asgi_magic server over a 127.0.0.1 socket, so the framework is proven on ASGI,
not on our test client's quirks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest

from asgi_magic.web.testclient import TestClient

ClientFactory = Callable[..., AbstractContextManager[httpx.Client]]


@contextmanager
def _server_client(app: Any, **client_options: Any) -> Iterator[httpx.Client]:
    from tests.support.live_server import run_server

    client_options.setdefault("follow_redirects", True)
    client_options.setdefault("timeout", 10.0)
    with run_server(app) as base_url, httpx.Client(base_url=base_url, **client_options) as client:
        yield client


@contextmanager
def _testclient(app: Any, **client_options: Any) -> Iterator[httpx.Client]:
    with TestClient(app, **client_options) as client:
        yield client


@pytest.fixture(params=["testclient", "server"])
def client_factory(request: pytest.FixtureRequest) -> ClientFactory:
    """``with client_factory(app) as client: client.get("/")`` (lifespan runs in both)."""
    if request.param == "server":
        return _server_client
    return _testclient


@pytest.fixture
def transport_kind(client_factory: ClientFactory) -> str:
    """ "server" or "testclient", for the few assertions that legitimately differ."""
    return "server" if client_factory is _server_client else "testclient"
