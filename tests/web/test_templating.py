"""Jinja2Templates: context, autoescaping, reload, streaming, CSRF and flash (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest

from asgi_magic.web import (
    App,
    CSRFMiddleware,
    Request,
    SessionMiddleware,
    StreamingResponse,
    flash,
)
from asgi_magic.web.templating import Jinja2Templates, select_autoescape
from asgi_magic.web.testclient import TestClient


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    (tmp_path / "page.html").write_text(
        "<h1>{{ title }}</h1><a href=\"{{ url_for('item', item_id=7) }}\">x</a>"
        "<p>{{ request.url.path }}</p>"
    )
    (tmp_path / "page.html.j2").write_text("{{ title }}")
    (tmp_path / "page.txt").write_text("{{ title }}")
    (tmp_path / "form.html").write_text(
        '<form method="post">{{ csrf_input() }}</form>'
        "{% for category, message in get_flashed_messages(with_categories=true) %}"
        '<p class="{{ category }}">{{ message }}</p>{% endfor %}'
    )
    (tmp_path / "big.html").write_text("{% for i in range(n) %}<li>{{ i }}</li>{% endfor %}")
    return tmp_path


def make_app(directory: Path, **options: Any) -> App:
    templates = Jinja2Templates(directory=directory, **options)
    app = App()

    @app.get("/page")
    async def page(request: Request) -> Any:
        title = request.query_params.get("title", "Hi")
        return templates.TemplateResponse(request, "page.html", {"title": title})

    @app.get("/plain")
    async def plain(request: Request) -> Any:
        return templates.TemplateResponse(
            request, "page.txt", {"title": "<b>"}, media_type="text/plain"
        )

    @app.get("/wrapped")
    async def wrapped(request: Request) -> Any:
        return templates.TemplateResponse(request, "page.html.j2", {"title": "<b>"})

    @app.get("/items/{item_id:int}", name="item")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/big")
    async def big(request: Request) -> Any:
        return templates.TemplateResponse(request, "big.html", {"n": 20000}, stream=True)

    @app.get("/teapot")
    async def teapot(request: Request) -> Any:
        return templates.TemplateResponse(
            request, "page.html", {"title": "t"}, status_code=418, headers={"X-A": "b"}
        )

    return app


def test_context_has_request_and_url_for(templates_dir: Path, client_factory: Any) -> None:
    with client_factory(make_app(templates_dir)) as client:
        r = client.get("/page")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Hi</h1>" in r.text
    assert f'href="{r.url.scheme}://{r.url.netloc.decode()}/items/7"' in r.text
    assert "<p>/page</p>" in r.text


def test_autoescaping(templates_dir: Path) -> None:
    with TestClient(make_app(templates_dir)) as client:
        r = client.get("/page", params={"title": "<script>alert(1)</script>"})
        assert "<script>" not in r.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        assert client.get("/wrapped").text == "&lt;b&gt;"
        assert client.get("/plain").text == "<b>"  # a text template is not HTML


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("a.html", True),
        ("a.HTM", True),
        ("a.xml", True),
        ("a.svg", True),
        ("a.html.jinja", True),
        ("a.xml.j2", True),
        ("a.html.jinja2", True),
        ("a.txt", False),
        ("a.txt.j2", False),
        ("a.j2", False),
        ("html", False),
        (None, True),
    ],
)
def test_select_autoescape(name: str | None, escaped: bool) -> None:
    assert select_autoescape(name) is escaped


def test_status_and_headers(templates_dir: Path) -> None:
    with TestClient(make_app(templates_dir)) as client:
        r = client.get("/teapot")
    assert r.status_code == 418 and r.headers["x-a"] == "b"


def test_template_reloads_when_changed(templates_dir: Path) -> None:
    with TestClient(make_app(templates_dir)) as client:
        assert "<h1>Hi</h1>" in client.get("/page").text
        path = templates_dir / "page.html"
        path.write_text("<h2>{{ title }}</h2>")
        later = time.time() + 5
        os.utime(path, (later, later))  # a newer mtime whatever the clock resolution
        assert client.get("/page").text == "<h2>Hi</h2>"


def test_streaming_render(templates_dir: Path) -> None:
    app = make_app(templates_dir)
    with TestClient(app) as client, client.stream("GET", "/big") as r:
        chunks = list(r.iter_raw())
    text = b"".join(chunks).decode()
    assert text == "".join(f"<li>{i}</li>" for i in range(20000))
    assert len(chunks) > 1  # sent in several pieces, not one buffered page
    assert "content-length" not in r.headers


def test_stream_returns_a_streaming_response(templates_dir: Path) -> None:
    templates = Jinja2Templates(directory=templates_dir)
    from asgi_magic.web.requests import Request as Req

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    response = templates.TemplateResponse(Req(scope), "page.txt", {"title": "x"}, stream=True)
    assert isinstance(response, StreamingResponse)


def test_csrf_and_flash_in_the_context(templates_dir: Path) -> None:
    templates = Jinja2Templates(directory=templates_dir)
    app = App()

    @app.get("/form")
    async def form(request: Request) -> Any:
        return templates.TemplateResponse(request, "form.html")

    @app.post("/form")
    async def post(request: Request) -> Any:
        flash(request, "saved <ok>", "success")
        return templates.TemplateResponse(request, "form.html")

    app.add_middleware(CSRFMiddleware, secret_key="k")
    app.add_middleware(SessionMiddleware, secret_key="s")
    with TestClient(app) as client:
        page = client.get("/form").text
        assert page.startswith('<form method="post"><input type="hidden" name="csrf_token" value="')
        token = page.split('value="')[1].split('"')[0]
        r = client.post("/form", data={"csrf_token": token})
        assert r.status_code == 200
        assert '<p class="success">saved &lt;ok&gt;</p>' in r.text


def test_context_processors_and_a_given_env(templates_dir: Path) -> None:
    templates = Jinja2Templates(
        directory=templates_dir, context_processors=[lambda request: {"title": "from cp"}]
    )
    app = App()

    @app.get("/")
    async def index(request: Request) -> Any:
        return templates.TemplateResponse(request, "page.txt")

    with TestClient(app) as client:
        assert client.get("/").text == "from cp"
    env = jinja2.Environment(loader=jinja2.DictLoader({"t.html": "{{ 1 + 1 }}"}))
    assert Jinja2Templates(env=env).get_template("t.html").render() == "2"
    with pytest.raises(ValueError):
        Jinja2Templates()


def test_request_must_come_first(templates_dir: Path) -> None:
    templates = Jinja2Templates(directory=templates_dir)
    with pytest.raises(TypeError, match="request comes first"):
        templates.TemplateResponse("page.html", {})  # type: ignore[arg-type]


def test_import_without_jinja2_names_the_extra(tmp_path: Path) -> None:
    blocker = tmp_path / "jinja2.py"
    blocker.write_text("raise ImportError('blocked for the test')\n")
    result = subprocess.run(
        [sys.executable, "-c", "import asgi_magic.web.templating"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        check=False,
    )
    assert result.returncode != 0
    assert "pip install 'asgi-magic[templates]'" in result.stderr
