# One-word targets. Each builds .venv itself on a fresh machine, installing only the
# extras it needs: `make run` the core and `templates` (the showcase's login page),
# `make test` the `test` extra (which pulls in all the others), `make docs` the `docs`
# extra. One stamp per extra set, each redone whenever pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
SITE   ?= site

STAMP_RUN   := $(VENV)/.stamp-run
STAMP_TEST  := $(VENV)/.stamp-test
STAMP_DOCS  := $(VENV)/.stamp-docs
STAMP_BENCH := $(VENV)/.stamp-bench

.PHONY: run test test-min-python lint docs docs-serve bench bench-chart clean venv

# What the other engineers use: everything the suite and the linters need.
venv: $(STAMP_TEST)

$(PY):
	$(PYTHON) -m venv $(VENV)

# $(1): the pip target, e.g. '.[test]'. No `pip install --upgrade pip`: the venv's own
# pip installs wheels fine, and upgrading it costs seconds on every fresh machine.
define install
	$(PY) -m pip install --quiet --disable-pip-version-check -e $(1)
	touch $@
endef

# `make run` needs only the core's dependencies, and serves the checkout itself
# (`python -m` puts the current directory first on sys.path): no build of the package,
# no build-isolation environment, so a fresh machine serves in a few seconds. The list
# comes from pyproject.toml (tools/core_requirements.py).
RUN_REQUIREMENTS := $(VENV)/run-requirements.txt

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) tools/core_requirements.py templates > $(RUN_REQUIREMENTS)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(RUN_REQUIREMENTS)
	touch $@

$(STAMP_TEST): pyproject.toml | $(PY)
	$(call install,'.[test]')

$(STAMP_DOCS): pyproject.toml | $(PY)
	$(call install,'.[docs]')

$(STAMP_BENCH): pyproject.toml | $(PY)
	$(call install,'.[bench]')

run: $(STAMP_RUN)
	$(PY) -m asgi_magic sample_apps.showcase:app --host $(HOST) --port $(PORT)

test: $(STAMP_TEST)
	$(PY) -m pytest $(PYTEST_ARGS)

# The oldest Python that pyproject.toml admits (requires-python >= 3.10), in its own venv:
# the protocol layers, the framework and the docs' examples. PYTHON_MIN=/path/to/python3.10
# overrides the search (pyenv's 3.10, else python3.10 on PATH).
PYTHON_MIN ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.10*/bin/python) $(shell command -v python3.10))
VENV_MIN   := .venv-min

test-min-python:
	@test -n "$(PYTHON_MIN)" || { echo "test-min-python: no Python 3.10 found; set PYTHON_MIN=" >&2; exit 1; }
	test -x $(VENV_MIN)/bin/python || $(PYTHON_MIN) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(VENV_MIN)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 10), sys.version'
	$(VENV_MIN)/bin/python -m pytest -q tests/http11 tests/websocket tests/web tests/test_layers.py tests/test_docs.py

lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check asgi_magic tests sample_apps bench tools
	$(VENV)/bin/ruff format --check asgi_magic tests sample_apps bench tools
	$(VENV)/bin/mypy

# --strict: a broken link, a missing page or an unresolved cross-reference fails.
docs: $(STAMP_DOCS)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(SITE)

docs-serve: $(STAMP_DOCS)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr $(HOST):$(PORT)

bench: $(STAMP_BENCH)
	$(PY) bench/run.py $(BENCH_ARGS)

# Redraw the docs' chart from the last `make bench` (bench/results/latest.json).
bench-chart: $(STAMP_BENCH)
	$(PY) bench/chart.py bench/results/latest.json --output docs/benchmarks/chart.svg

clean:
	rm -rf $(VENV) $(VENV_MIN) $(SITE) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
