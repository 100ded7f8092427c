"""File uploads: an HTML form posting ``multipart/form-data``, a listing, and downloads.

    asgi-magic sample_apps.uploads:app      # then open http://127.0.0.1:8000/

Uploaded files are written to a private temporary directory (or ``$UPLOAD_DIR``) under a
sanitised name; the form parser's limits bound how much one request may send. The form
carries a CSRF token (``CSRFMiddleware`` in its double-submit-cookie mode: this app has
no session), placed before the file input so it is checked before the files stream in.
"""

from __future__ import annotations

import html
import os
import secrets
import tempfile
from pathlib import Path

from asgi_magic.web import (
    App,
    CSRFMiddleware,
    FileResponse,
    HTMLResponse,
    HTTPException,
    RedirectResponse,
    Request,
    UploadFile,
    csrf_token,
)
from asgi_magic.web.multipart import safe_filename

MAX_FILE_SIZE = 5 * 1024 * 1024  # per file; a bigger part is answered 413 by the parser
MAX_FILES_PER_REQUEST = 10

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Uploads</title>
<link rel="stylesheet" href="{css}"></head>
<body>
<h1>Uploads</h1>
<form id="upload-form" method="post" action="{action}" enctype="multipart/form-data">
  <input type="hidden" name="csrf_token" value="{token}">
  <input id="file" type="file" name="file" multiple required>
  <button id="upload" type="submit">Upload</button>
</form>
<h2>Files</h2>
<ul id="files">{items}</ul>
<p><a href="/">Back to the showcase</a></p>
</body>
</html>
"""


class UploadStore:
    """A directory of uploaded files, created on first use."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory

    @property
    def directory(self) -> Path:
        directory = self._directory
        if directory is None:
            configured = os.environ.get("UPLOAD_DIR")
            if configured:
                directory = Path(configured)
            else:
                directory = self._directory = Path(tempfile.mkdtemp(prefix="uploads-"))
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def names(self) -> list[str]:
        return sorted(p.name for p in self.directory.iterdir() if p.is_file())

    def path_of(self, name: str) -> Path:
        # safe_filename strips directories, "..", control characters and so on; a name
        # that changes under it was never one we stored.
        if safe_filename(name) != name:
            raise HTTPException(404, "no such file")
        path = self.directory / name
        if not path.is_file():
            raise HTTPException(404, "no such file")
        return path

    async def save(self, upload: UploadFile) -> str:
        name = safe_filename(upload.filename, default="upload.bin")
        await upload.save(self.directory / name)
        return name


def create_app(directory: Path | None = None) -> App:
    app = App()
    store = UploadStore(directory)
    app.state.uploads = store

    @app.get("/", name="upload_index")
    async def index(request: Request) -> HTMLResponse:
        items = "".join(
            f'<li><a href="{html.escape(str(request.url_for("download", name=name)))}">'
            f"{html.escape(name)}</a></li>"
            for name in store.names()
        )
        page = PAGE.format(
            action=html.escape(str(request.url_for("upload"))),
            css="/static/css/site.css",
            items=items or "<li><em>nothing uploaded yet</em></li>",
            token=html.escape(csrf_token(request)),
        )
        return HTMLResponse(page)

    @app.post("/upload", name="upload")
    async def upload(request: Request) -> RedirectResponse:
        # max_file_size caps each file part (413 as soon as one passes it, before it
        # is all on disk); max_part_size would cap only the text fields.
        form = await request.form(max_files=MAX_FILES_PER_REQUEST, max_file_size=MAX_FILE_SIZE)
        try:
            files = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
            if not files:
                raise HTTPException(400, "choose a file to upload (field 'file')")
            for file in files:
                await store.save(file)
        finally:
            await form.close()  # the spooled temporary files go away now, not at GC
        # 303 See Other (RFC 9110 §15.4.4): the browser follows with a GET, so a
        # reload of the listing does not post the files again.
        return RedirectResponse(str(request.url_for("upload_index")), status_code=303)

    @app.get("/files/{name}", name="download")
    async def download(name: str) -> FileResponse:
        return FileResponse(store.path_of(name), filename=name)

    # Without UPLOAD_CSRF_SECRET the CSRF cookie is signed with a key made at start-up.
    secret = os.environ.get("UPLOAD_CSRF_SECRET") or secrets.token_urlsafe(32)
    app.add_middleware(CSRFMiddleware, secret_key=secret)
    return app


app = create_app()
