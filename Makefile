# paygate: `make run` starts the whole gateway, `make test` runs every test. Both set up .venv first.
#
# Needs only Python 3.11+ (and git). With no DATABASE_URL / REDIS_URL in the environment or .env, an embedded
# PostgreSQL and Redis start under DATA_DIR (default .data) and keep their data across runs.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# Written after a successful install; newer than pyproject.toml means there is nothing to do.
STAMP := $(VENV)/.installed
# The interpreter that makes the venv: PYTHON if given (make PYTHON=/path/to/python3.12 run), else the fastest
# of every Python 3.11+ on PATH, by a short measurement (paygate/interpreters.py, run by the first one found).
PYTHON ?=
FIRST_PYTHON = $(shell for p in python3.13 python3.12 python3.11 python3 python; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
PYTEST_ARGS ?=
# pytest-xdist processes for `make test` (each a session of its own: fresh databases, its own Redis dbs); 0 runs serially.
TEST_WORKERS ?= 2

.PHONY: help venv run test lint bench clean-data

help:
	@echo "make run    start API, workers, dispatcher and projector (Ctrl-C stops everything)"
	@echo "make test   run the whole test suite (machine PostgreSQL/Redis if reachable, else embedded)"
	@echo "make lint   ruff and mypy"
	@echo "make bench  print every performance figure in one table (PostgreSQL on 127.0.0.1:5432, wrk, pgbench)"

$(PY):
	@py="$(PYTHON)"; if [ -z "$$py" ]; then \
		first="$(FIRST_PYTHON)"; test -n "$$first" || { echo "Python 3.11 or newer is required (none found on PATH)" >&2; exit 1; }; \
		py=$$("$$first" -I paygate/interpreters.py) || py="$$first"; \
	fi; \
	echo "paygate: creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV) || { echo "could not create $(VENV): on Debian/Ubuntu install python3-venv" >&2; exit 1; }

# The first install takes a while (see the README): pip prints a line per package it collects and installs.
$(STAMP): pyproject.toml | $(PY)
	@echo "paygate: installing dependencies into $(VENV) (first time only; pip shows its progress below)"
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -e ".[dev]"
	@echo "paygate: dependencies installed"
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m paygate run

# Two phases: everything on TEST_WORKERS xdist processes, then the `serial` tests (real timers, kill rates) by
# themselves, so no other test competes with them for the two CPUs; there two of their files run side by side
# (the webhook retry scenarios mostly wait out a minute of retry intervals). Exit 5 ("no tests ran") of one phase is not a failure.
test: $(STAMP)
	@$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) -m "not serial" $(PYTEST_ARGS); \
	a=$$?; $(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n 2 --dist loadfile) -m serial $(PYTEST_ARGS); b=$$?; \
	for rc in $$a $$b; do case $$rc in 0|5) ;; *) exit $$rc;; esac; done; \
	[ "$$a$$b" != 55 ] || { echo "no tests ran" >&2; exit 5; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# One table from one run (bench/table.py); needs wrk and pgbench. bench/core.py, money.py, webhooks.py go deeper.
bench: $(STAMP)
	$(PY) bench/table.py

# Removes the embedded PostgreSQL and Redis data (stop `make run` first).
clean-data:
	rm -rf .data
