# The two commands: `make run` (set up and serve the marketplace) and `make test` (set up and run
# every check). Both create .venv and install what they need on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SITE_URL ?= http://$(HOST):$(PORT)
export SITE_URL

.PHONY: run test lint format migrate seed worker shell clean help

help:
	@echo "make run    set up and serve Bazaar on http://$(HOST):$(PORT) with a Celery worker and beat"
	@echo "make test   set up and run ruff, the import layers, the migration check and the whole test suite"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.run-deps

migrate: $(VENV)/.run-deps
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo
	@# Without a Stripe key the offline sandbox stands in for Stripe and delivers to this site.
	@# With a real key, Stripe needs an address it can reach: run it yourself with
	@# --base-url https://your-public-host.
	@if [ -z "$$STRIPE_SECRET_KEY" ]; then $(BIN)/python manage.py stripe_webhooks setup; fi

run: seed
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python bin/run_dev.py

test: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DJANGO_SETTINGS_MODULE=config.settings_test $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.test-deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

shell: $(VENV)/.run-deps
	$(BIN)/python manage.py shell

clean:
	rm -rf $(VENV) var db.sqlite3 .pytest_cache .ruff_cache
