# Two commands: `make run` sets everything up and runs the app; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
# Development: debug on (so sandbox mode), the app's address for demo pictures and callbacks.
RUN_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-true} SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)}

.PHONY: run serve test install lint format clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required; set PYTHON=python3.x") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalls only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Production: the app's own dependencies only (no test tools).
$(VENV)/.installed-prod: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

## Set up a SQLite database with demo data and serve the app (sandbox mode) with a send worker,
## the callback applier and the webhook dispatcher.
run: install .env
	$(RUN_ENV) $(MANAGE) migrate --noinput
	$(RUN_ENV) $(MANAGE) demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops the server and the workers)"
	$(RUN_ENV) KALEYRA_SANDBOX_BASE_URL=$${KALEYRA_SANDBOX_BASE_URL:-http://$(HOST):$(PORT)/sandbox} \
	  sh -c 'trap "kill 0" INT TERM EXIT; $(MANAGE) db_worker --no-reload & $(MANAGE) db_worker --no-reload --queue-name triggered & $(MANAGE) apply_callbacks & $(MANAGE) deliver_webhooks & $(MANAGE) runserver $(HOST):$(PORT)'

# A development .env, so that `.venv/bin/python manage.py …` works in any new shell too.
.env:
	sed 's|http://127.0.0.1:8000|http://$(HOST):$(PORT)|g' .env.example > $@

## Production: migrate, collect the static files, then serve with gunicorn (gunicorn.conf.py),
## a send worker, the callback applier and the webhook dispatcher. Reads the environment (README
## "Deploying"): it refuses to start without DJANGO_SECRET_KEY, or in live mode without
## Kaleyra's credentials.
serve: $(VENV)/.installed-prod
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	@echo "Serving with gunicorn on $${GUNICORN_BIND:-127.0.0.1:8000}, callbacks on $${MPM_CALLBACK_BIND:-127.0.0.1:8001} (Ctrl-C stops everything)"
	sh -c 'trap "kill 0" INT TERM EXIT; $(MANAGE) db_worker --no-reload & $(MANAGE) db_worker --no-reload --queue-name triggered & $(MANAGE) receive_callbacks & $(MANAGE) apply_callbacks & $(MANAGE) deliver_webhooks & $(BIN)/gunicorn -c gunicorn.conf.py'

## Install and run the whole test suite (set DATABASE_URL to run it on PostgreSQL).
test: install
	$(BIN)/pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles
