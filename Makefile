# Gatehouse developer commands. `make run` and `make test` are the README's quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install peers oidc run test bench conformance clean

$(BIN)/.installed: requirements/base.txt requirements/prod.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@

install: $(BIN)/.installed

## Node 22, the MCP Inspector CLI, the TypeScript SDK and the MCP conformance suite for the tests that drive real
## peers (optional locally, always in CI).
peers:
	npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error
	npm ci --prefix tests/conformance --no-audit --no-fund --loglevel=error

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

## The MCP conformance suite (0.1.16 and 0.2.0-alpha.12) through a throwaway Gatehouse in front of the fixture
## upstream; CONFORMANCE_ARGS="--direct" runs it against the fixture alone. See tests/conformance/run.sh.
conformance: install
	bash tests/conformance/run.sh $(or $(CONFORMANCE_ARGS),--gateway)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
