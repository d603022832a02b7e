# Two commands matter: `make run` and `make test`. Everything else is a building block.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BACKBONE_CACHE_DIR ?= $(HOME)/.cache/backbone

.PHONY: help install up down status run demo test test-unit test-integration test-fault lint typecheck check bench helm clean

help:
	@echo "make run    - set up and run the whole backbone on the local stack (Ctrl-C stops everything)"
	@echo "make test   - set up and run the whole test suite (unit + integration + fault) on the local stack"
	@echo "make bench  - benchmarks against the local stack, JSON in bench/results/"
	@echo "make up | down | status | lint | typecheck | demo"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

up: install
	$(BIN)/backbone stack up
	set -a && source .backbone/stack.env && set +a && $(BIN)/backbone topics apply && $(BIN)/backbone schemas register

down: install
	$(BIN)/backbone stack down

status: install
	$(BIN)/backbone stack status

run: install
	$(BIN)/backbone run

demo: install
	$(BIN)/backbone demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check backbone services simulators tests bench || true

typecheck: install
	$(BIN)/mypy

check: lint typecheck
	$(BIN)/backbone topics validate
	$(BIN)/backbone schemas check

# The stack is started for the run and stopped even when tests fail; pytest's exit 5 (no tests) fails.
test: install
	@bash scripts/test.sh

test-unit: install
	$(BIN)/pytest tests/unit -q

test-integration: install
	@bash scripts/test.sh -m "integration and not fault"

test-fault: install
	@bash scripts/test.sh -m fault

bench: install
	@bash scripts/bench.sh

helm: install
	@bash scripts/helm-check.sh

clean:
	rm -rf .backbone .mypy_cache .ruff_cache .pytest_cache
