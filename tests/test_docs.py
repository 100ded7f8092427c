"""Every ```python block in README.md and docs/**/*.md runs, so no example can rot.

The convention (docs/contributing.md says the same):

- A ```python block is a complete program: it has its own imports and runs standalone
  in a fresh namespace with ``__name__ == "docs_example"``, the repository root as the
  working directory, in its own subprocess (blocks cannot interfere), within 30 s.
- It must not serve forever: ``asgi_magic.run(...)`` goes under
  ``if __name__ == "__main__":`` (false here). Show behaviour with the ``TestClient``
  and ``assert``.
- Whatever needs a running server, Redis, a shell or another file is written as
  ```bash, ```text, ```nginx, ```ini, ```yaml ... (not executed); keep a runnable twin
  of such code in ``sample_apps/`` or in the tests.

A failure is reported as ``docs/page.md:LINE``, the line of the block's opening fence.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 30

# An opening fence of three or more backticks (or tildes) and its info string; the
# closing fence is the same run of characters alone on its line (CommonMark §4.5).
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")

_RUNNER = """
import sys
path, line = sys.argv[1], sys.argv[2]
source = sys.stdin.read()
namespace = {"__name__": "docs_example", "__file__": path}
exec(compile(source, f"{path}:{line}", "exec"), namespace)
"""


def _markdown_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [f for f in files if f.is_file()]


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown text as (1-based line of the fence, code)."""
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match["fence"], match["info"].split()
        indent = len(match["indent"])
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        language = info[0].lower() if info else ""
        if language in ("python", "py"):
            blocks.append((i + 1, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def _collect() -> list[pytest.ParameterSet]:
    params = []
    for path in _markdown_files():
        rel = path.relative_to(ROOT).as_posix()
        for line, code in python_blocks(path.read_text(encoding="utf-8")):
            params.append(pytest.param(rel, line, code, id=f"{rel}:{line}"))
    return params


def test_blocks_are_found() -> None:
    # The collector itself: nested fences, tildes, info strings, indented blocks.
    text = (
        "x\n```python\na = 1\n```\n\n~~~~py title='t'\nb = 2\n~~~~\n"
        "```text\nbroken(\n```\n````markdown\n```python\nc = 3\n```\n````\n"
        "- item\n\n  ```python\n  d = 4\n  ```\n"
    )
    assert python_blocks(text) == [(2, "a = 1\n"), (6, "b = 2\n"), (19, "d = 4\n")]
    assert len(_collect()) > 20, "the docs lost their examples"


@pytest.mark.parametrize(("path", "line", "code"), _collect())
def test_example_runs(path: str, line: int, code: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONASYNCIODEBUG", None)
    try:
        done = subprocess.run(
            [sys.executable, "-W", "error", "-c", _RUNNER, path, str(line)],
            input=code,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path}:{line}: the example ran longer than {TIMEOUT_S} s")
    if done.returncode != 0:
        pytest.fail(f"{path}:{line}: the example failed\n{done.stdout}\n{done.stderr}")
