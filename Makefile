# Huimin — `make run` starts everything, `make test` checks everything. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip warns once per package about an index folder that does not exist on these machines; hide only that line.
PIPQ := 2>&1 | grep -v "is neither a file nor a directory" || test $${PIPESTATUS[0]} -eq 0
.DEFAULT_GOAL := run
PY_VERSION := $(shell cat .python-version)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock | cut -c1-12)
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0

# Python 3.10 from pyenv (selected by .python-version), else a real python3.10 on PATH.
BASE_PY := $(shell (command -v pyenv >/dev/null && pyenv which python 2>/dev/null) || \
	(test -x $$HOME/.pyenv/versions/$(PY_VERSION)/bin/python && echo $$HOME/.pyenv/versions/$(PY_VERSION)/bin/python) || \
	(python3.10 -c 'import sys' 2>/dev/null && command -v python3.10))

.PHONY: run test lint install train migrate bench run-prod system-deps prod-deps lock clean kb-check validate

$(PY):
	@if [ -z "$(BASE_PY)" ]; then echo "ERROR: Python $(PY_VERSION) not found. Install it with 'pyenv install $(PY_VERSION)' (the version is in .python-version)." >&2; exit 1; fi
	@"$(BASE_PY)" -c 'import sys; assert sys.version_info[:2] == (3, 10), sys.version' || { echo "ERROR: $(BASE_PY) is not Python 3.10" >&2; exit 1; }
	"$(BASE_PY)" -m venv $(VENV)

$(STAMP): requirements.lock | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check "pip==24.0" $(PIPQ)
	# Everything was resolved together into the lock; --no-deps so nothing can silently upgrade a pin.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock $(PIPQ)
	$(PY) -m pip check
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

# Debian packages the tests need: Chromium for the page tests (Playwright drives it; no browser download) and a
# Chinese font, without which the pages render boxes. On a developer's machine a failed install only warns (the
# browser tests then skip); in CI (CI=true) it fails the run, so CI cannot go green without the browser tests.
system-deps:
	@{ command -v chromium >/dev/null && test -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc; } || { \
	  echo "installing Debian chromium and fonts-wqy-microhei"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) || \
	  if [ "$${CI:-}" = "true" ]; then echo "ERROR: could not install chromium (CI=true: the browser tests must run)" >&2; exit 1; \
	  else echo "WARNING: could not install chromium; browser tests will be skipped" >&2; fi; }

kb-check: install
	$(PY) -m bot kb check

migrate: install
	$(PY) -m bot migrate

train: install
	$(PY) -m bot model

validate: install
	$(PY) -m bot kb export >/dev/null
	$(PY) -m rasa data validate --domain bot/domain --data data build/data --config config.yml

run: install migrate
	$(PY) -m bot run

# Lint only (rules in ruff.toml); formatting is not enforced.
lint: install
	$(PY) -m ruff check --no-cache .

# Two workers (pytest-xdist): the tests that need the running stack share one, the other files are spread over both
# (tests/conftest.py); PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 2
test: install system-deps prod-deps lint
	$(PY) -m bot kb check
	$(PY) -m bot model
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder tests

bench: install train
	$(PY) -m bench

# nginx from Debian's packages for the production topology (and its tests, in `make test`).
prod-deps:
	@test -x /usr/sbin/nginx || { echo "installing Debian nginx-light"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }

run-prod: install prod-deps
	$(PY) -m bot prod run

# Re-resolve the lock from requirements.in (a maintainer's step, not part of install).
lock:
	rm -rf /tmp/huimin-lock && "$(BASE_PY)" -m venv /tmp/huimin-lock
	/tmp/huimin-lock/bin/pip install --quiet "pip==24.0" && /tmp/huimin-lock/bin/pip install --quiet -r requirements.in
	/tmp/huimin-lock/bin/pip freeze --all --exclude-editable | grep -v '^pip==' > requirements.lock

clean:
	rm -rf build models var .pytest_cache
