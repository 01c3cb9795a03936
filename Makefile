# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv from
# requirements.lock (uv when it can be installed from the registry, plain pip otherwise).
# Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE set (as on our machines) every
# dbt and ingestion process would otherwise compile dbt, dlt and their imports from source
# again, ~1.5 s per dbt start and ~2.5 s per ingestion start, in every cycle.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RUNTIME__DLTHUB_TELEMETRY := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: demo test lint bench fault-matrix clean help browser

help:
	@echo "make demo          generate the reference platform, ingest it with dlt, dbt build, summary"
	@echo "make demo WAREHOUSE=postgres   the same into PostgreSQL (TW_PG_* variables)"
	@echo "make demo PLATFORM=ofn|glific  a sample platform profile (sources in PostgreSQL)"
	@echo "make test          ruff, sqlfluff and the pytest suite (CI=true makes PostgreSQL tests required)"
	@echo "make bench         benchmark (SCALE=1 by default)"
	@echo "make fault-matrix  the full fault-injection matrix"

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if $(BIN)/python -m pip install -q --disable-pip-version-check uv >/dev/null 2>&1; then \
	  UV_NATIVE_TLS=1 $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock && \
	  UV_NATIVE_TLS=1 $(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e . ; \
	else \
	  $(BIN)/python -m pip install -q --compile -r requirements.lock && \
	  $(BIN)/python -m pip install -q --no-deps -e . ; \
	fi
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/warehouse demo $(if $(WAREHOUSE),--warehouse $(WAREHOUSE),) $(if $(PLATFORM),--platform $(PLATFORM),)

lint: $(STAMP)
	$(BIN)/ruff check ingestion reference_platform tenant_warehouse tests
	$(BIN)/warehouse lint-sql

# The report test and the dashboard tests (tests/web) open pages in headless Chromium (Debian's
# package). `make test` installs it first when CI=true, or when it is missing and we are root;
# otherwise those tests skip.
NEED_BROWSER := $(if $(filter true,$(CI)),browser,$(if $(shell command -v chromium),,$(if $(filter 0,$(shell id -u)),browser,)))

browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The browser tests (tests/web) run in their own pytest process: after the rest of the suite in
# the same process, the first dashboard page seemed to draw charts without traces in Debian's
# Chromium 156.0.8078.114. A cause was found later (2026-12-02): the test counted the charts
# before the page had loaded, so its wait could never match (failing alone too on a new
# machine); the separate process is kept until a full run in one process is seen green.
test: $(STAMP) lint $(NEED_BROWSER)
	$(BIN)/python -m pytest --ignore=tests/web $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/web $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/warehouse bench --scale $(or $(SCALE),1)

fault-matrix: $(STAMP)
	TW_FAULT_MATRIX=full $(BIN)/python -m pytest tests/faults $(PYTEST_ARGS)

clean:
	rm -rf .warehouse target logs
