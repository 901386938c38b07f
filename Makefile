# sanicms: `make test` and `make demo` are all a fresh machine with Python 3.11 needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

PACKAGES := -e 'libs/sanicms[testing]' -e services/city -e services/role -e services/user

.PHONY: help install test test-lib test-city test-role test-user test-e2e contract resilience demo clean

help:
	@echo "make test        install everything into $(VENV) and run every test"
	@echo "make demo        PostgreSQL + migrations + seed data + the three services (Ctrl-C stops)"
	@echo "make contract    Schemathesis, every check, against each running service's /openapi/spec.json"
	@echo "make resilience  soak test: 60 s of concurrent load on the real services (SOAK_SECONDS=...)"
	@echo "make test-city | test-role | test-user | test-lib | test-e2e   one part only"

$(STAMP): libs/sanicms/pyproject.toml services/*/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(PACKAGES) -r requirements-dev.txt
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(PYTEST)

test-lib: $(STAMP)
	$(PYTEST) libs/sanicms/tests

test-city: $(STAMP)
	$(PYTEST) services/city/tests

test-role: $(STAMP)
	$(PYTEST) services/role/tests

test-user: $(STAMP)
	$(PYTEST) services/user/tests

test-e2e: $(STAMP)
	$(PYTEST) tests

contract: $(STAMP)
	$(PYTEST) -s tests/test_contract.py

resilience: $(STAMP)
	$(PYTEST) -s tests/soak

demo: $(STAMP)
	cd deploy && ../$(BIN)/python demo.py

clean:
	rm -rf $(VENV) .demo deploy/.demo
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
