# Gatehouse developer commands. `make run` and `make test` are the README's quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install peers oidc run test bench clean

$(BIN)/.installed: requirements/base.txt requirements/prod.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@

install: $(BIN)/.installed

## Node 22 and the MCP Inspector CLI for the tests that drive real peers (optional locally, always in CI).
peers:
	npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error

## A real OpenID Connect provider (npm's oidc-provider) for the SSO tests (optional locally, always in CI).
oidc:
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error

## Set up and run Gatehouse on embedded defaults (SQLite, in-memory channel layer, local cache, eager Celery).
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_platform_admin
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## Run the test suite (embedded defaults unless DATABASE_URL / REDIS_URL are set).
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmark: direct upstream calls against calls through Gatehouse.
bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
