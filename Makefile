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

# The sources setup.py compiles (asgi_magic/_extensions.py lists them): editing one
# re-installs, which rebuilds the compiled modules, so tests never run an old build.
COMPILED_SOURCES := $(shell $(PYTHON) asgi_magic/_extensions.py)
# The compiled run insists on the compiled build wherever one can be built.
REQUIRE_COMPILED := $(if $(filter 1 true yes,$(ASGI_MAGIC_NO_EXTENSIONS)),0,$(if $(shell command -v $${CC:-cc} 2>/dev/null),1,0))

.PHONY: run test test-compiled test-pure test-min-python lint docs docs-serve bench bench-chart bench-instructions clean venv

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

# Re-installed whenever pyproject.toml, setup.py or a compiled source changes: an
# editable install builds the compiled modules in place.
$(STAMP_TEST): pyproject.toml setup.py asgi_magic/_extensions.py $(COMPILED_SOURCES) | $(PY)
	$(call install,'.[test]')

$(STAMP_DOCS): pyproject.toml | $(PY)
	$(call install,'.[docs]')

$(STAMP_BENCH): pyproject.toml | $(PY)
	$(call install,'.[bench]')

run: $(STAMP_RUN)
	$(PY) -m asgi_magic sample_apps.showcase:app --host $(HOST) --port $(PORT)

# The whole suite against both builds: compiled (mypyc + C), then pure Python.
test: test-compiled test-pure

test-compiled: $(STAMP_TEST)
	ASGI_MAGIC_REQUIRE_COMPILED=$(REQUIRE_COMPILED) $(PY) -m pytest $(PYTEST_ARGS)

test-pure: $(STAMP_TEST)
	ASGI_MAGIC_NO_EXTENSIONS=1 $(PY) -m pytest $(PYTEST_ARGS)

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
	$(VENV)/bin/ruff check asgi_magic tests sample_apps bench tools setup.py
	$(VENV)/bin/ruff format --check asgi_magic tests sample_apps bench tools setup.py
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

# Instructions per request under callgrind (stable on a loaded machine), both builds.
bench-instructions: $(STAMP_TEST)
	$(PY) bench/callgrind.py $(CALLGRIND_ARGS)

clean:
	rm -rf $(VENV) $(VENV_MIN) $(SITE) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -f asgi_magic__mypyc.*.so asgi_magic/_compiled_stamp.json
	find asgi_magic -name '*.so' -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
