# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed into .venv from the pinned lock files; only Python 3.11 and make are assumed
# (and Node.js 20+ with npm for the OpenID Connect tests, Debian's chromium for the browser tests,
# installed with apt when possible; each set is skipped, saying so, without them).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-dev chromium lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime set (make demo).
$(VENV)/.runtime: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Runtime + test tools (make test).
$(VENV)/.dev: $(VENV)/.runtime requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	touch $@

# The real OpenID Provider of the OpenID Connect tests (npm package oidc-provider), from its lock
# file; skipped, with a word, where npm is absent (those tests are then skipped too).
OIDC_PROVIDER := tests/oidc_provider
$(OIDC_PROVIDER)/node_modules/.installed: $(OIDC_PROVIDER)/package.json $(OIDC_PROVIDER)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(OIDC_PROVIDER) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "npm absent : le fournisseur OpenID de test n'est pas installé (ses tests seront ignorés)"; \
	fi

# The browser of the UI tests: Debian's Chromium package, never a browser downloaded by Playwright.
# Installed with apt where it is absent and apt is usable (root); otherwise those tests are skipped.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
		else \
			echo "Chromium absent et apt indisponible : les tests du navigateur seront ignorés (paquet Debian chromium)"; \
		fi; \
	fi

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev $(OIDC_PROVIDER)/node_modules/.installed chromium

demo: $(VENV)/.runtime
	$(BIN)/ght demo start

test: install-dev
	$(BIN)/python -m pytest

bench: $(VENV)/.dev
	$(BIN)/python bench/demo_generate.py --patients 100000
	$(BIN)/python bench/identity_link.py --identities 10000 100000
	$(BIN)/python bench/identity_link.py --online-base 100000
	$(BIN)/python bench/web_pages.py

# Re-resolve the pins from pyproject.toml in a throw-away venv (run after changing a dependency).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet 'setuptools==80.9.0'
	.lock-venv/bin/pip install --quiet -e .
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^ght' > requirements.lock
	.lock-venv/bin/pip install --quiet -e '.[test]'
	( echo '-r requirements.lock'; .lock-venv/bin/pip freeze --exclude-editable | grep -vxFf requirements.lock ) > requirements-dev.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info $(OIDC_PROVIDER)/node_modules
