# Two commands matter: `make demo` runs the product with demo data, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/postgres)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/15)

.PHONY: install demo serve test check-deploy bench clean stream

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found; set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Node.js and npm are needed for the front-end libraries"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup
	@$(MAKE) --no-print-directory serve

serve:
	@if [ -n "$$REDIS_URL" ]; then \
		echo "Starting a Celery worker and beat (REDIS_URL is set)"; \
		$(BIN)/celery -A config worker --beat --loglevel INFO --concurrency 1 & \
		trap 'kill $$!' EXIT INT TERM; \
		$(BIN)/python manage.py runserver $(HOST):$(PORT); \
	else \
		echo "No REDIS_URL: background tasks run in the web process"; \
		$(BIN)/python manage.py runserver $(HOST):$(PORT); \
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
