# One-word targets. `make test` and `make run` build .venv themselves on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-compiled test-pure lint bench bench-instructions clean venv

# The sources setup.py compiles (asgi_magic/_extensions.py lists them): editing one
# re-installs, which rebuilds the compiled modules, so tests never run an old build.
COMPILED_SOURCES := $(shell $(PYTHON) asgi_magic/_extensions.py)
# The compiled run insists on the compiled build wherever one can be built.
REQUIRE_COMPILED := $(if $(filter 1 true yes,$(ASGI_MAGIC_NO_EXTENSIONS)),0,$(if $(shell command -v $${CC:-cc} 2>/dev/null),1,0))

venv: $(STAMP)

# Re-install whenever pyproject.toml, setup.py or a compiled source changes.
$(STAMP): pyproject.toml setup.py asgi_magic/_extensions.py $(COMPILED_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/asgi-magic sample_apps.showcase:app --host $(HOST) --port $(PORT)

# The whole suite against both builds: compiled (mypyc + C), then pure Python.
test: test-compiled test-pure

test-compiled: $(STAMP)
	ASGI_MAGIC_REQUIRE_COMPILED=$(REQUIRE_COMPILED) $(PY) -m pytest $(PYTEST_ARGS)

test-pure: $(STAMP)
	ASGI_MAGIC_NO_EXTENSIONS=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check asgi_magic tests sample_apps bench setup.py
	$(VENV)/bin/ruff format --check asgi_magic tests sample_apps bench setup.py
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

# Instructions per request under callgrind (stable on a loaded machine), both builds.
bench-instructions: $(STAMP)
	$(PY) bench/callgrind.py $(CALLGRIND_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -f asgi_magic__mypyc.*.so asgi_magic/_compiled_stamp.json
	find asgi_magic -name '*.so' -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
