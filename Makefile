# pourtrait.ops: every entry point sets itself up on a fresh machine
# (Python + PyPI + Debian packages only; Galaxy is never contacted).

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
COLLECTION_LINK := .collections/ansible_collections/pourtrait/ops
STAMP := $(VENV)/.installed

.PHONY: help setup sandbox-up sandbox-down demo watch test test-unit test-integration test-reliability test-molecule lint sanity bench clean

help:
	@echo "make demo          set up, start the sandbox, run the main job against it"
	@echo "make test          set up and run every check (unit, integration, molecule, lint, sanity)"
	@echo "make sandbox-up    start the sandbox in the background (writes .sandbox/env; PG=17 for PostgreSQL 17)"
	@echo "make sandbox-down  stop it"
	@echo "make watch         alert response (ansible-rulebook) against the sandbox, in the foreground (Ctrl-C stops)"
	@echo "make bench         run the benchmarks in bench/ (not part of make test)"

$(STAMP): requirements.txt tools/pourtrait_ops_cli/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check -e tools/pourtrait_ops_cli
	@touch $(STAMP)

$(COLLECTION_LINK):
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

setup: $(STAMP) $(COLLECTION_LINK)
	@$(BIN)/python tests/sandbox/pg.py --check
	@$(BIN)/python tests/sandbox/vercel_cli.py --check

# PG=17: the sandbox's database is PostgreSQL 17 (what new Supabase projects run) instead of 15.
sandbox-up: setup
	@$(if $(PG),POURTRAIT_SANDBOX_PG=$(PG) )$(BIN)/python tests/sandbox/sandboxctl.py up

sandbox-down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python tests/sandbox/sandboxctl.py down; else echo "sandbox not running"; fi

demo: sandbox-up
	@$(BIN)/ansible-playbook playbooks/demo.yml

# The alert_response rulebook against the sandbox: the event sources read APP_URL, VERCEL_*, SUPABASE_* of
# .sandbox/env; the webhook's secret is POURTRAIT_WEBHOOK_SECRET (a sandbox one unless you export your own).
watch: sandbox-up
	@set -a; . .sandbox/env; set +a; \
	  export POURTRAIT_WEBHOOK_SECRET="$${POURTRAIT_WEBHOOK_SECRET:-sandbox-webhook-secret}"; \
	  exec $(BIN)/pourtrait-ops watch --inventory inventory/local --vars extensions/eda/rulebooks/sandbox.vars.yml

test: setup
	$(MAKE) --no-print-directory test-unit test-integration test-reliability test-molecule lint sanity

test-unit: setup
	$(BIN)/pytest -q tests/unit

test-integration: setup
	$(BIN)/pytest -q -n 3 tests/integration tests/contract

test-reliability: setup
	$(BIN)/pytest -q -n 2 --dist loadfile tests/reliability

test-molecule: setup
	@bash tests/molecule/run.sh

lint: setup
	$(BIN)/ansible-lint --offline --profile production

sanity: setup
	@bash tests/sanity/run.sh

bench: sandbox-up
	@$(BIN)/python bench/run.py

clean: sandbox-down
	rm -rf .collections tests/output reports .pytest_cache .pg17 .vercel-cli
