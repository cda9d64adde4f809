# Two commands matter: `make demo` runs the product with demo data, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/postgres)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/15)

.PHONY: install demo demo-reset serve test check-deploy bench clean stream

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found; set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# requirements-dev.txt includes requirements.txt (runtime) and adds the test and benchmark tools.
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Node.js and npm are needed for the front-end libraries"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

demo: install
	@echo "Preparing the demo database…"
	@$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py demo_setup --url http://$(HOST):$(PORT)/
	@$(MAKE) --no-print-directory serve

# Empties the demo's database (events, scores, cases, decisions, models, users, audit) and
# loads the demo again; .venv and node_modules stay.
demo-reset: install
	@echo "Preparing the demo database…"
	@$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py demo_setup --reset --url http://$(HOST):$(PORT)/
	@$(MAKE) --no-print-directory serve

# The server's start-up stays short, so the URL and logins demo_setup just printed stay on
# screen: checks already ran with migrate, the autoreloader's log line is quiet (settings),
# and the worker prints no banner or per-task lines (its warnings and errors still show).
RUNSERVER := DJANGO_RUNSERVER_HIDE_WARNING=true $(BIN)/python manage.py runserver --skip-checks $(HOST):$(PORT)

serve:
	@if [ -n "$$REDIS_URL" ]; then \
		$(BIN)/celery -A config --quiet worker --beat --loglevel WARNING --concurrency 1 & \
		trap 'kill $$!' EXIT INT TERM; \
		$(RUNSERVER); \
	else \
		$(RUNSERVER); \
	fi

test: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DB_CONN_MAX_AGE=0 $(BIN)/python -m pytest $(PYTEST_ARGS)

check-deploy: install
	DJANGO_SETTINGS_MODULE=config.settings.production SECRET_KEY=$$($(BIN)/python -c "import secrets;print(secrets.token_urlsafe(60))") \
		ALLOWED_HOSTS=example.com $(BIN)/python manage.py check --deploy --fail-level WARNING

bench: install
	$(BIN)/python bench/generate_bench.py

clean:
	rm -rf $(VENV) node_modules var staticfiles

# Live events into the running demo (make demo in another terminal) so the queue fills.
stream: install
	$(BIN)/python manage.py stream --url http://$(HOST):$(PORT) --rate $(or $(RATE),2) --api-key ftw_demo_key_for_local_use_only_0000000000
