# The README's two commands: `make run` and `make test`. Everything they need is set up here.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python

# Django 6.1 needs Python 3.12+; pyenv's shims honour .python-version (3.13).
FIND_PYTHON := for c in python3.13 python3.12 python3; do \
  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo $$c; exit 0; fi; \
done; \
if PYENV_VERSION=3.13.0 python3.13 -c '' 2>/dev/null; then echo "env PYENV_VERSION=3.13.0 python3.13"; fi

.PHONY: help setup setup-dev browsers run test test-sqlite test-postgres lint format bench clean

help:
	@echo "make run    set up, migrate, seed demo data and serve on http://127.0.0.1:8000"
	@echo "make test   set up and run the whole test suite (SQLite, then PostgreSQL)"

$(VENV)/.installed-%: requirements.txt requirements-dev.txt
	@python="$$($(FIND_PYTHON))"; \
	if [ -z "$$python" ]; then echo "No Python 3.12 or newer was found: install Python 3.13 (for example with pyenv) and run make again." >&2; exit 1; fi; \
	if [ ! -x $(PY) ]; then $$python -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(if $(filter dev,$*),requirements-dev.txt,requirements.txt)
	@touch $@

setup: $(VENV)/.installed-prod
setup-dev: $(VENV)/.installed-dev

# Browser tests drive Debian's Chromium; no tool may download a browser of its own.
browsers:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo) apt-get update -qq && \
	  $$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

run: setup
	DEBUG=true $(PY) manage.py migrate --noinput
	DEBUG=true $(PY) manage.py seed_demo
	DEBUG=true $(PY) manage.py rundev

test: setup-dev browsers
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite:
	env -u REQUIRE_POSTGRES DATABASE_URL=sqlite:///:memory: $(PY) -m pytest -m "not postgres" $(PYTEST_ARGS)

# Uses DATABASE_URL when it names PostgreSQL, else the server on 127.0.0.1:5432, else a
# throwaway cluster started from the local PostgreSQL binaries. Fails if none can run.
test-postgres:
	$(PY) -m tests.postgres -- $(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts

# The benchmark (docs/benchmarks.md): ASGI and WSGI builds side by side on
# PostgreSQL; installs wrk and requirements-bench.txt itself. BENCH_ARGS=--quick for a
# short run; see `$(PY) -m bench --help`.
bench: setup
	$(PY) -m bench $(BENCH_ARGS)
