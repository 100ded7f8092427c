"""Print the core dependencies from pyproject.toml, one per line, for ``pip install -r``,
and those of the extras named as arguments (``templates``: the showcase's login page
renders Jinja2 templates).

``make run`` installs these and serves the checkout itself, skipping the build of the
package. Without ``tomllib`` (Python 3.10) it prints ``-e .``: install the package,
which brings the same dependencies.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    extras = sys.argv[1:]
    try:
        import tomllib
    except ImportError:  # Python 3.10
        print(f"-e .[{','.join(extras)}]" if extras else "-e .")
        return 0
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    with pyproject.open("rb") as f:
        project = tomllib.load(f)["project"]
    dependencies: list[str] = list(project["dependencies"])
    for extra in extras:
        dependencies += project["optional-dependencies"][extra]
    print("\n".join(dependencies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
