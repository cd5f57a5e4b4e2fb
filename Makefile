# Billing & quota service. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers; the suite is safe in parallel (one test DB per worker).
TEST_WORKERS ?= 2
# make test-dates: the date-sensitive tests run once per instant, the clock
# pinned there (BILLING_TEST_NOW, tests/conftest.py): just after a month
# starts, just before a month and a year end, and on a leap day. The rebuild
# property test pins its own instants, so it runs fewer examples there.
TEST_DATES ?= 2027-03-01T00:05:00Z 2027-01-31T23:55:00Z 2026-12-31T23:55:00Z 2028-02-29T12:00:00Z
DATE_TESTS ?= tests/billing tests/dashboard tests/store $(addprefix --ignore=,$(NOT_DATE_TESTS))
# Webhook transport, attack and admin tests use sockets and their own instants
# only, and the stylesheet checks are pure functions of the CSS: the calendar
# cannot change them, so the pinned runs leave them out.
NOT_DATE_TESTS ?= tests/billing/test_webhook_transport.py tests/billing/webhook_attacks \
	tests/billing/admin/test_webhook_endpoints.py tests/billing/admin/test_webhook_tools.py \
	tests/billing/admin/test_webhook_deliveries.py tests/billing/services/test_webhook_deliveries.py \
	tests/store/test_checks.py tests/store/test_checks_contrast.py tests/store/test_checks_urls.py

# Django 6 needs Python >= 3.12. Take the newest interpreter that actually
# runs: a pyenv shim on PATH can exist without its version being active, so
# fall back to pyenv's own version folders.
PYTHON ?= $(shell \
	for v in 3.14 3.13 3.12; do \
	  if python$$v -c 'import sys' >/dev/null 2>&1; then echo python$$v; exit; fi; \
	  for p in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v; do \
	    if [ -x "$$p" ] && "$$p" -c 'import sys' >/dev/null 2>&1; then echo $$p; exit; fi; \
	  done; \
	done; \
	if python3 -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then echo python3; fi)

.PHONY: help install run worker test test-dates lint check-deploy fmt migrate seed check-python clean screenshots bench bench-staff

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

check-python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: Python 3.12 or newer is required (Django 6). Found none of python3.14," >&2; \
	  echo "       python3.13, python3.12 (on PATH or under pyenv), and python3 is older." >&2; \
	  echo "       Install one (e.g. 'pyenv install 3.13') or run: make PYTHON=/path/to/python3.12" >&2; \
	  exit 1; \
	fi

$(BIN)/.installed: pyproject.toml | check-python
	@test -x $(BIN)/python || { echo "Creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/.installed ## Create .venv and install the app and dev tools

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate ## Load the demo data (safe to run twice)
	$(BIN)/python manage.py seed_demo

run: seed ## Install, migrate, load demo data and serve on http://127.0.0.1:8000
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: migrate ## Run the task worker (alerts, e-mails, webhook deliveries) on the configured database
	TASKS_BACKEND=$${TASKS_BACKEND:-django_tasks_db.DatabaseBackend} $(BIN)/python manage.py db_worker --interval 0.2

test: install ## Run the whole suite (PostgreSQL when DATABASE_URL is set, else SQLite)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-dates: install ## Date-sensitive tests on SQLite, clock pinned at each of TEST_DATES
	@failed=""; \
	for now in $(TEST_DATES); do \
	  echo "== BILLING_TEST_NOW=$$now"; \
	  env -u DATABASE_URL BILLING_TEST_NOW=$$now BILLING_REBUILD_EXAMPLES=5 \
	    $(BIN)/python -m pytest -n $(TEST_WORKERS) $(DATE_TESTS) $(PYTEST_ARGS) \
	    || failed="$$failed $$now"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAIL: date-sensitive tests failed at:$$failed" >&2; exit 1; fi

lint: install ## ruff check, ruff format --check and mypy (django-stubs)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check-deploy: install ## Django's deploy check with production-like settings; any warning fails
	env DEBUG=0 SECRET_KEY=ci-only-$$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n') \
	  ALLOWED_HOSTS=billing.example.com SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

fmt: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## API benchmarks on PostgreSQL (gunicorn + wrk + task worker; BENCH_QUICK=1: 3 s a figure)
	bench/run.sh

bench-staff: install ## The staff pages at volume (seed_volume + timings, ~5 min)
	tools/bench_staff.sh

screenshots: install ## Save PNGs of the main pages (desktop and 375 px) to docs/screenshots
	tools/screenshots.sh

clean: ## Remove the virtualenv and the SQLite database
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm
