"""A small Flask app (WSGI) for the --interface wsgi tests."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "hello from flask"


@app.post("/echo")
def echo() -> Response:
    data = request.get_data()
    return Response(data + b"|" + request.args.get("q", "").encode(), mimetype="text/plain")


@app.post("/form")
def form() -> Response:
    upload = request.files["file"]
    return jsonify(name=request.form["name"], file=upload.filename, size=len(upload.read()))


@app.get("/json")
def json_view() -> Response:
    return jsonify(path=request.path, script_root=request.script_root, host=request.host)


@app.get("/stream")
def stream() -> Response:
    @stream_with_context
    def generate() -> Iterator[str]:
        for i in range(3):
            yield f"chunk{i};"

    return Response(generate(), mimetype="text/plain")


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("flask view failed")
