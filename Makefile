# The two commands: `make run` and `make test`. Everything else here is what they stand on.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
RASA_VENV := .venv-rasa
PY        := $(VENV)/bin/python
CRMBOT    := $(VENV)/bin/crmbot
PYTEST_ARGS ?=
# Two pytest workers (pytest-xdist): a test run waits on subprocesses and servers about half the
# time, so the second core would idle; tests/conftest.py keeps each module, and every test of
# the running assistant, on one worker. PYTEST_WORKERS=0 runs in this process.
PYTEST_WORKERS ?= 2

.PHONY: help setup setup-platform setup-rasa setup-browser db run test lock-platform lock-rasa clean

help:
	@echo "make run    set up everything, migrate and seed the SQLite default, start the platform"
	@echo "make test   set up everything, run the whole test suite"

# The two environments and the browser are independent: built side by side (pip and apt spend
# much of their time waiting on downloads and disk).
setup:
	@$(MAKE) --no-print-directory -j3 setup-platform setup-rasa setup-browser

# Platform environment (.venv): rebuilt only when requirements/platform.lock changes.
setup-platform:
	@scripts/ensure_venv.sh $(VENV) requirements/platform.lock
	@$(MAKE) --no-print-directory $(CRMBOT)

$(CRMBOT): pyproject.toml $(VENV)/.lock-sha256
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --config-settings editable_mode=compat -e .
	@touch $(CRMBOT)

# Headless Chromium for the browser tests (Debian's package; Playwright drives it, never
# `playwright install`). Silent when it is already there.
setup-browser:
	@command -v chromium >/dev/null || (echo ">> installing chromium (Debian package)" && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends chromium fonts-liberation >/dev/null)

# Rasa environment (.venv-rasa): Rasa 3.6.21 from a fully pinned lock (see its header).
setup-rasa:
	@PIP_EXTRA_ARGS=--ignore-requires-python scripts/ensure_venv.sh $(RASA_VENV) requirements/rasa.lock

db: setup-platform
	$(CRMBOT) db upgrade
	$(CRMBOT) db seed --if-empty

run: setup db
	@$(CRMBOT) status
	$(CRMBOT) knowledge index
	$(CRMBOT) users demo
	$(CRMBOT) analytics refresh
	$(CRMBOT) up --demo-conversations 30

test: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Regenerate the platform lock from requirements/platform.in in a throw-away environment.
lock-platform:
	rm -rf /tmp/crmbot-lock-venv && python3.11 -m venv /tmp/crmbot-lock-venv
	/tmp/crmbot-lock-venv/bin/pip install --quiet -r requirements/platform.in
	{ sed -n '1,/^# ---$$/p' requirements/platform.lock; \
	  /tmp/crmbot-lock-venv/bin/pip freeze --all --exclude pip | sort -f; } > requirements/platform.lock.new
	mv requirements/platform.lock.new requirements/platform.lock

# Regenerate the Rasa lock (resolves as for Python 3.10 with a matplotlib override; see its header).
lock-rasa:
	scripts/lock_rasa.sh

clean:
	rm -rf $(VENV) $(RASA_VENV) var/*.sqlite* .pytest_cache
