# sanicms: `make test` and `make demo` are all a fresh machine with Python 3.11 needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

PACKAGES := -e 'libs/sanicms[testing]' -e services/city -e services/role -e services/user

.PHONY: help install test test-lib test-city test-role test-user test-e2e contract resilience demo bench bench-instructions profile up down clean

help:
	@echo "make test        install everything into $(VENV) and run every test"
	@echo "make demo        PostgreSQL + migrations + seed data + the three services (Ctrl-C stops)"
	@echo "make contract    Schemathesis, every check, against each running service's /openapi/spec.json"
	@echo "make resilience  soak test: 60 s of concurrent load on the real services (SOAK_SECONDS=...)"
	@echo "make bench       wrk benchmarks: sanicms vs bare Sanic vs FastAPI, tracing, fan-out (about 11 min)"
	@echo "make up / down   the full stack in Docker: PostgreSQL, Zipkin, fluentd, Swagger UI, the services"
	@echo "make bench-instructions  CPU instructions per request under callgrind: the noise-free ratios (about 5 min)"
	@echo "make profile     py-spy profile of the city service under wrk load (tracing on)"
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

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(BIN)/python -m pip install -q -r bench/requirements.txt
	touch $@

bench: $(BENCH_STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk (Debian/Ubuntu) or brew install wrk"; exit 1; }
	@command -v taskset >/dev/null || { echo "make bench needs taskset (util-linux)"; exit 1; }
	cd bench && ../$(BIN)/python run.py $(BENCH_ARGS)

bench-instructions: $(BENCH_STAMP)
	@command -v valgrind >/dev/null || { echo "make bench-instructions needs valgrind: apt-get install valgrind"; exit 1; }
	@command -v wrk >/dev/null || { echo "make bench-instructions needs wrk: apt-get install wrk"; exit 1; }
	cd bench && ../$(BIN)/python instructions.py $(INSTRUCTIONS_ARGS)

profile: $(BENCH_STAMP)
	cd bench && ../$(BIN)/python profile.py $(PROFILE_ARGS)

up:
	docker compose up --build

down:
	docker compose down

demo: $(STAMP)
	cd deploy && ../$(BIN)/python demo.py

clean:
	rm -rf $(VENV) .demo deploy/.demo
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
