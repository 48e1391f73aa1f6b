# One-command workflows. `make test` installs what it needs itself (venv, pip packages, Azurite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NPM := node_modules/.installed
STAMP_ENVS := $(VENV)/.ml-environments-resolved
ML_ENV_SPECS := $(wildcard ml_assets/environments/*.conda.yml)

.PHONY: setup test lint lint-infra format demo bench clean

setup: $(STAMP_PY) $(STAMP_NPM) $(STAMP_ENVS)

$(STAMP_PY): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip check
	touch $@

# The Azure ML environments' pip lists are never installed here together: pip's resolver checks each (a dry run).
$(STAMP_ENVS): $(STAMP_PY) $(ML_ENV_SPECS) infra/ml_environments.py
	$(PY) -m infra.ml_environments --resolve
	touch $@

$(STAMP_NPM): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup lint-infra
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The deployment's generated input, the Azure ML environments' pins against the tests', the workflows (actionlint
# runs shellcheck on their `run:` scripts when it is on the PATH) and the azd hooks. The Bicep templates are checked
# by tests/unit/test_infra_*.py.
lint-infra: setup
	$(PY) -m infra.alert_rules_json --check
	$(PY) -m infra.ml_environments
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/actionlint
	$(VENV)/bin/zizmor --offline --quiet .github
	$(VENV)/bin/shellcheck --shell=sh infra/hooks/*.sh

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest

demo: setup
	$(PY) -m demo

bench: setup
	$(PY) bench/cold_start.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache out
