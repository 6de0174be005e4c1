# Compliance Portal: `make run` serves the product locally, `make test` runs lint and the suite.
# Both need only Python 3.12 and make; the virtual environment is created on first use and
# reinstalled only when requirements.txt changes.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
LINT_PATHS ?= .

# Resolved only when the environment has to be created: python3.12 on PATH, else pyenv's.
PYTHON312 = $(shell for candidate in python3.12 "$$(pyenv which python3.12 2>/dev/null)"; do \
	[ -n "$$candidate" ] && "$$candidate" -c \
		'import sys; sys.version_info[:2] == (3, 12) or sys.exit(1); print(sys.executable)' 2>/dev/null && break; \
	done)

FRONTEND := shops/frontend
VENDOR := shops/static/vendor
ASSETS := $(VENDOR)/.built

.PHONY: help install assets browser run test lint format check-deploy compose-check security bandit audit

help:
	@echo "make run            install, migrate, load demo data if empty, serve on http://127.0.0.1:8000"
	@echo "make test           install, lint, run the suite (PYTEST_ARGS=... to narrow it)"
	@echo "make lint           ruff check and ruff format --check"
	@echo "make format         ruff format and ruff check --fix"
	@echo "make check-deploy   Django's deployment checks under production settings"
	@echo "make compose-check  validate docker-compose.yml (skipped without docker compose)"
	@echo "make security       bandit on the code, pip-audit on requirements.txt (fails if it cannot audit)"

$(PY):
	@python="$(PYTHON312)"; \
	if [ -z "$$python" ]; then echo "Python 3.12 is required: install it so that python3.12 is on PATH." >&2; exit 1; fi; \
	echo "Creating $(VENV) with $$python"; \
	"$$python" -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

install: $(STAMP)

# Browser libraries (htmx, Chart.js) from the npm registry at the versions of the lockfile,
# copied beside our own static files: nothing is fetched from the internet at run time.
$(ASSETS): $(FRONTEND)/package-lock.json $(FRONTEND)/package.json
	@command -v npm >/dev/null || { echo "npm (Node.js) is required to install the browser libraries." >&2; exit 1; }
	npm ci --prefix $(FRONTEND) --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp $(FRONTEND)/node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp $(FRONTEND)/node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chart.umd.min.js
	@touch $@

assets: $(ASSETS)

# The browser tests drive Debian's Chromium; installed once, as root, when it is missing.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium chromium-driver >/dev/null; \
		else echo "Install Chromium for the browser tests: sudo apt-get install -y chromium chromium-driver" >&2; fi; \
	fi

run: $(STAMP) $(ASSETS)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo --if-empty
	$(PY) manage.py runserver 127.0.0.1:8000

# REQUIRE_SERVICES=1 makes tests/settings.py stop instead of falling back to SQLite.
test: $(STAMP) $(ASSETS) browser
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)

format: $(STAMP)
	$(PY) -m ruff format $(LINT_PATHS)
	$(PY) -m ruff check --fix $(LINT_PATHS)

# Throwaway values, generated per run: the check reads settings only and connects to nothing.
check-deploy: $(STAMP)
	env -u DEBUG -u SECURE_SSL_REDIRECT -u SECURE_HSTS_SECONDS \
		DJANGO_SETTINGS_MODULE=compliance_portal.settings \
		COMPLIANCE_ENV=production \
		SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
		DATABASE_URL=postgres://compliance@127.0.0.1:5432/compliance_portal \
		REDIS_URL=redis://127.0.0.1:6379/0 \
		FIELD_ENCRYPTION_KEYS="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
		FIELD_HASH_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))')" \
		ALLOWED_HOSTS=example.com \
		$(PY) manage.py check --deploy --fail-level WARNING

# The compose file requires its secrets; placeholders stand in for any that are not set.
compose-check:
	@if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then \
		compose="docker compose"; \
	elif command -v docker-compose >/dev/null 2>&1; then \
		compose="docker-compose"; \
	else \
		echo "compose-check skipped: neither docker compose nor docker-compose is installed"; exit 0; \
	fi; \
	SECRET_KEY="$${SECRET_KEY:-placeholder}" \
	FIELD_ENCRYPTION_KEYS="$${FIELD_ENCRYPTION_KEYS:-placeholder}" \
	FIELD_HASH_KEY="$${FIELD_HASH_KEY:-placeholder}" \
	POSTGRES_PASSWORD="$${POSTGRES_PASSWORD:-placeholder}" \
	ALLOWED_HOSTS="$${ALLOWED_HOSTS:-example.com}" \
	$$compose config -q && echo "docker-compose.yml is valid ($$compose)"

# Security: bandit (configured in pyproject.toml: each finding fixed or justified inline) and
# pip-audit on the pinned requirements. pip-audit asks PyPI's JSON API, then OSV; when neither
# answers it fails saying the requirements were NOT audited, rather than passing silently.
# AUDIT_UNREACHABLE=warn prints the same and goes on (a machine without either service).
AUDIT_UNREACHABLE ?= fail

security: bandit audit

bandit: $(STAMP)
	$(VENV)/bin/bandit -c pyproject.toml -r compliance_portal shops affiliate privacy -q

audit: $(STAMP)
	@out=$$(mktemp); \
	for service in pypi osv; do \
		if $(VENV)/bin/pip-audit -r requirements.txt --disable-pip --no-deps --strict --progress-spinner off \
			-s $$service >"$$out" 2>&1; then \
			grep -v "^WARNING" "$$out"; echo "pip-audit ($$service): every pinned requirement audited"; exit 0; \
		elif grep -q "known vulnerabilit" "$$out"; then \
			cat "$$out"; exit 1; \
		fi; \
		echo "pip-audit ($$service) could not audit: $$(grep -m 1 -o 'could not be audited.*\|[A-Za-z]*Error[^)]*' "$$out")" >&2; \
	done; \
	echo "pip-audit: requirements.txt was NOT audited: no vulnerability service answered" \
		"(PyPI's JSON API, OSV). Run 'make audit' where one is reachable." >&2; \
	[ "$(AUDIT_UNREACHABLE)" = warn ]
