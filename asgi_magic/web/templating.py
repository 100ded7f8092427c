"""Jinja2 templates: ``templates.TemplateResponse(request, "page.html", {...})``.

Needs the optional Jinja2 package: ``pip install 'asgi-magic[templates]'``.

Every template gets, besides the context you pass:

- ``request`` and ``url_for(name, **path_params)`` (the request's absolute URL for a
  named route);
- ``csrf_token()`` and ``csrf_input()`` (a hidden ``<input>``) when
  :class:`~asgi_magic.web.csrf.CSRFMiddleware` is installed;
- ``get_flashed_messages(with_categories=False, category_filter=())`` when
  :class:`~asgi_magic.web.sessions.SessionMiddleware` is installed.

Autoescaping is on for ``.html``, ``.htm``, ``.xml``, ``.xhtml`` and ``.svg`` templates,
and for those names wrapped in ``.jinja``, ``.jinja2`` or ``.j2`` (``page.html.j2``).
Templates are reloaded when their file changes (Jinja's ``auto_reload``, one
``stat`` per render), which is what ``--reload`` development wants; pass
``auto_reload=False`` in production to skip the ``stat``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

try:
    import jinja2
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "asgi_magic.web.templating needs Jinja2: pip install 'asgi-magic[templates]'"
    ) from exc

from markupsafe import Markup, escape

from .background import BackgroundTask
from .requests import Request
from .responses import HTMLResponse, StreamingResponse

__all__ = ["Jinja2Templates", "select_autoescape"]

_ESCAPED = ("html", "htm", "xml", "xhtml", "svg")
_WRAPPERS = ("jinja", "jinja2", "j2")
# Jinja's generate() yields many small strings; batch them into chunks of about this
# many characters so a streamed page is not one ASGI message (and thread hop) per tag.
_STREAM_BATCH = 16 * 1024


def select_autoescape(template_name: str | None) -> bool:
    """Autoescape html/xml templates, also under a .jinja/.jinja2/.j2 wrapper.

    A template from a string (no name) is escaped too: the safe default.
    """
    if template_name is None:
        return True
    name = template_name.lower()
    stem, dot, ext = name.rpartition(".")
    if dot and ext in _WRAPPERS:
        stem, dot, ext = stem.rpartition(".")
    return bool(dot) and ext in _ESCAPED


class Jinja2Templates:
    """``templates = Jinja2Templates(directory="templates")``.

    ``directory`` is a path or a list of them (searched in order); or pass a ready
    ``env`` (a ``jinja2.Environment``), which is used as is (its own autoescape and
    reload settings). ``context_processors`` are functions ``(request) -> dict``
    whose results are merged into every template's context.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        *,
        env: jinja2.Environment | None = None,
        context_processors: Sequence[Callable[[Request], Mapping[str, Any]]] = (),
        auto_reload: bool = True,
    ) -> None:
        if (directory is None) == (env is None):
            raise ValueError("pass either directory= or env=")
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(directory),  # type: ignore[arg-type]
                autoescape=select_autoescape,
                auto_reload=auto_reload,
            )
        self.env = env
        self.context_processors = list(context_processors)

    def get_template(self, name: str) -> jinja2.Template:
        return self.env.get_template(name)

    def _context(self, request: Request, context: Mapping[str, Any] | None) -> dict[str, Any]:
        scope = request.scope
        full: dict[str, Any] = {"request": request, "url_for": request.url_for}
        if "asgi_magic.csrf" in scope:
            from .csrf import csrf_token

            def token() -> str:
                return csrf_token(request)

            def hidden_input() -> Markup:
                return Markup('<input type="hidden" name="csrf_token" value="{}">').format(
                    escape(csrf_token(request))
                )

            full["csrf_token"] = token
            full["csrf_input"] = hidden_input
        if "session" in scope:
            from .flash import get_flashed_messages

            def flashed(
                with_categories: bool = False, category_filter: Sequence[str] = ()
            ) -> list[Any]:
                return get_flashed_messages(request, with_categories, category_filter)

            full["get_flashed_messages"] = flashed
        for processor in self.context_processors:
            full.update(processor(request))
        if context:
            full.update(context)
        return full

    def TemplateResponse(  # Starlette's name, kept for familiarity
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        stream: bool = False,
    ) -> HTMLResponse | StreamingResponse:
        """Render template ``name`` with ``context`` (plus ``request``, ``url_for``
        … see the module docstring) into an HTML response.

        ``stream=True`` sends the page as Jinja renders it (``Template.generate``, in
        the thread pool, batched into ~16 KiB chunks): the first bytes leave before a
        large page is finished, and the page is never held whole in memory; an error
        half-way then cuts the response instead of becoming a 500 page.
        A missing template raises ``jinja2.TemplateNotFound`` (a 500).
        """
        if not isinstance(request, Request):
            raise TypeError("TemplateResponse(request, name, context): request comes first")
        template = self.get_template(name)
        full = self._context(request, context)
        if stream:
            response: HTMLResponse | StreamingResponse = StreamingResponse(
                _batched(template.generate(full)),
                status_code=status_code,
                headers=headers,
                media_type=media_type or "text/html",
                background=background,
            )
        else:
            response = HTMLResponse(
                template.render(full),
                status_code=status_code,
                headers=headers,
                media_type=media_type,
                background=background,
            )
        response.template = template  # type: ignore[union-attr]
        response.context = full  # type: ignore[union-attr]
        return response


def _batched(parts: Iterator[str]) -> Iterator[str]:
    batch: list[str] = []
    size = 0
    for part in parts:
        batch.append(part)
        size += len(part)
        if size >= _STREAM_BATCH:
            yield "".join(batch)
            batch = []
            size = 0
    if batch:
        yield "".join(batch)
