# Two commands on a fresh machine (Python >= 3.11):
#   make run   — the service with its demo: embedded PostgreSQL + simulator + one run, then serving
#   make test  — lint, types, Dockerfile lint, and the whole test suite (real PostgreSQL)
#   make test-fast — lint, types and the unit tests, under a minute
#   make bench — the benchmarks; writes docs/performance.md
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint docs bench install lock clean browser

# Dependencies at the versions and hashes of requirements-dev.lock (the image uses
# requirements.lock); `make lock` writes both from pyproject.toml.
$(STAMP): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

LOCK := $(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 --quiet
lock: $(STAMP)
	$(LOCK) -o requirements.lock
	$(LOCK) --extra dev --extra bench --extra embedded -o requirements-dev.lock

install: $(STAMP)

run: $(STAMP)
	$(BIN)/usage-pipeline demo

lint: $(STAMP)
	$(BIN)/ruff check app tests alembic bench
	$(BIN)/ruff format --check app tests alembic bench
	$(BIN)/mypy app
	$(BIN)/hadolint Dockerfile

test: lint
	$(BIN)/pytest -p no:cacheprovider

# Lint, types and the unit tests (no database, no simulator): under a minute.
test-fast: $(STAMP)
	$(BIN)/ruff check app tests alembic bench
	$(BIN)/ruff format --check app tests alembic bench
	$(BIN)/mypy app
	$(BIN)/pytest -p no:cacheprovider tests/unit

# Debian's Chromium, for the dashboard's browser tests (skipped without it; .ci/run installs it).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

docs: $(STAMP)
	$(BIN)/python -m app.settings_docs > docs/configuration.md

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
