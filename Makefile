# Two commands for a new machine: `make run` and `make test`. Each sets up the project venv itself.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-pg lint bench browser setup clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the one real-browser test (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium + chromium-driver"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null; }

## the product on embedded SQLite with demo data: API, UI, worker, scheduler
run: $(STAMP)
	$(VENV)/bin/reviewqueue run

## the whole suite on embedded SQLite
test: $(STAMP) browser
	$(VENV)/bin/pytest -q

## the whole suite again on PostgreSQL (127.0.0.1:5432, database `test`)
test-pg: $(STAMP) browser
	REVIEWQUEUE_TEST_DATABASE_URL=$(PG_TEST_URL) $(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy reviewqueue connectors ui models

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache test-artifacts
