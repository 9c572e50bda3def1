# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed into .venv from the pinned lock files; only Python 3.11 and make are assumed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-dev lock bench clean

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

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

demo: $(VENV)/.runtime
	$(BIN)/ght demo start

test: $(VENV)/.dev
	$(BIN)/python -m pytest

bench: $(VENV)/.dev
	$(BIN)/python bench/demo_generate.py --patients 100000
	$(BIN)/python bench/identity_link.py --identities 10000 100000
	$(BIN)/python bench/identity_link.py --online-base 100000

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
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
