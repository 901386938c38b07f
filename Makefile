# sanicms: `make test` and `make demo` are all a fresh machine with Python 3.11 needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

# Every service under services/ (python -m sanicms services lists them, in dependency order).
SERVICES := $(patsubst services/%/pyproject.toml,%,$(wildcard services/*/pyproject.toml))
PACKAGES := -e 'libs/sanicms[testing]' $(foreach s,$(SERVICES),-e services/$(s))

# test-<service> is a pattern rule (below), so it is not .PHONY (make skips pattern rules for those)
.PHONY: help install lock lint test test-lib test-e2e contract resilience demo bench bench-instructions profile up down clean

help:
	@echo "make test        install everything into $(VENV), lint, and run every test"
	@echo "make coverage    coverage of the library and of each service (run the unittest way): reports/<part>/ XML, Clover, HTML"
	@echo "make lint        ruff check . and mypy (strict on the library), as configured in pyproject.toml; tools/private_access.py"
	@echo "make demo        PostgreSQL + migrations + seed data + every service: $(SERVICES) (Ctrl-C stops)"
	@echo "make contract    Schemathesis, every check, against each running service's /openapi/spec.json"
	@echo "make resilience  soak test: 60 s of concurrent load on the real services (SOAK_SECONDS=...)"
	@echo "make check-fluentd  deploy/fluentd/fluent.conf on a real fluentd: spans to the real Zipkin, logs to files"
	@echo "make bench       wrk: sanicms vs Sanic/FastAPI + OpenTelemetry, bare stack, auth, whole system, memory (about half an hour; BENCH_ARGS=--help)"
	@echo "make up / down   the full stack in Docker (docker compose v2 or docker-compose 1.29): PostgreSQL, Zipkin, fluentd, Swagger UI, the services"
	@echo "make compose-check  docker-compose.yml for real on this engine (stand-in images where none can be pulled)"
	@echo "make zipkin-deps the real Zipkin server (jar from Maven Central, checksum checked; a JRE if missing)"
	@echo "make zipkin      the real Zipkin on 127.0.0.1:9411, UI at /zipkin/ (Ctrl-C stops)"
	@echo "make image-check build, run, request and stop each service's image in a Docker engine (BASE_IMAGE=...)"
	@echo "make standin-base  a local base image for image-check where no registry is reachable (deploy/README.md)"
	@echo "make bench-instructions  CPU instructions per request under callgrind, same variants (about 20 min, 3 at a time; INSTRUCTIONS_ARGS=--list)"
	@echo "make profile     py-spy profile of the city service under wrk load (tracing on)"
	@echo "make lock        refresh requirements/*.txt (pinned versions) from the dependency ranges"
	@echo "make $(patsubst %,test-% |,$(SERVICES)) test-lib | test-e2e   one part only"
	@echo "python -m sanicms new-service NAME --port P --resource PLURAL [--calls a,b]   add a service (README)"
	@echo "make test-browser  each service's Swagger UI and the Zipkin UI in Chromium, offline (SCREENSHOTS=docs/img to refresh them)"
	@echo "make prometheus-deps  Debian's prometheus package (2.42: prometheus, promtool), if missing"
	@echo "make check-prometheus  deploy/prometheus on a real Prometheus scraping the services, dashboard queries too"
	@echo "make haproxy-deps  Debian's haproxy and wrk, if missing: the rolling-restart test behind a load balancer"

# Everything is installed at the versions pinned in requirements/ (see requirements/README.md).
$(STAMP): libs/sanicms/pyproject.toml services/*/pyproject.toml requirements-dev.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# -qq: errors only; pip shows setuptools' banners (an editable install's "Editable installation") at -q
	$(BIN)/python -m pip install -qq -c requirements/dev.txt $(PACKAGES) -r requirements-dev.txt
	touch $@

# Refresh the locks after changing a dependency range (uv picks the newest versions allowed).
LOCK := $(BIN)/uv pip compile -q --universal --python-version 3.11 --custom-compile-command 'make lock'

lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv
	$(LOCK) libs/sanicms/pyproject.toml -o requirements/runtime.txt
	$(LOCK) libs/sanicms/pyproject.toml --extra testing requirements-dev.txt -o requirements/dev.txt
	$(LOCK) bench/requirements.txt -c requirements/dev.txt -o requirements/bench.txt
	$(LOCK) requirements-browser.txt -c requirements/dev.txt -o requirements/browser.txt

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy --config-file services/mypy.ini services/*/*_service
	$(BIN)/python tools/private_access.py

# Coverage of the library's and the services' code in the test process (pyproject.toml's
# [tool.coverage]); below the floor, measured at 2026-12-07 and stated in the README, fails.
COVERAGE := $(BIN)/coverage
COVERAGE_FLOOR := 90

test: $(STAMP) lint
	$(COVERAGE) run -m pytest
	@total=$$($(COVERAGE) report --format=total) && \
	  echo "coverage: $$total% of the library's and services' lines and branches (floor $(COVERAGE_FLOOR)%; make coverage writes reports/)" && \
	  $(COVERAGE) report --format=total --fail-under=$(COVERAGE_FLOOR) >/dev/null || \
	  { echo "coverage is below the floor of $(COVERAGE_FLOOR)%: see make coverage"; exit 1; }

# The original design's reports, for the library and for each service run from its folder the
# unittest way (coverage run --source . -m sanicms tests): reports/<part>/coverage.xml,
# clover.xml (coverage2clover) and html/.
.PHONY: coverage
coverage: $(STAMP)
	rm -rf reports && mkdir -p reports/sanicms
	$(COVERAGE) run --data-file=reports/sanicms/.coverage --source libs/sanicms/sanicms -m pytest -q libs/sanicms/tests
	$(MAKE) -s coverage-reports DIR=reports/sanicms
	set -e; for s in $(SERVICES); do \
	  mkdir -p reports/$$s; \
	  (cd services/$$s && ../../$(COVERAGE) run --data-file=../../reports/$$s/.coverage \
	     --source . --omit 'tests/*' -m sanicms tests); \
	  $(MAKE) -s coverage-reports DIR=reports/$$s; \
	done
	@for d in reports/*/; do printf '%-10s %s%%\n' "$$(basename $$d)" "$$($(COVERAGE) report -i --data-file=$$d.coverage --format=total)"; done

.PHONY: coverage-reports
coverage-reports:
	$(COVERAGE) xml -q -i --data-file=$(DIR)/.coverage -o $(DIR)/coverage.xml
	$(BIN)/coverage2clover -i $(DIR)/coverage.xml -o $(DIR)/clover.xml
	$(COVERAGE) html -q -i --data-file=$(DIR)/.coverage -d $(DIR)/html

test-lib: $(STAMP)
	$(PYTEST) libs/sanicms/tests

# make test-city, test-order...: one service's own tests (make test-nope: "No rule to make target")
test-%: services/%/tests $(STAMP)
	$(PYTEST) services/$*/tests

test-e2e: $(STAMP)
	$(PYTEST) tests

# The Swagger UI and the Zipkin UI in a real browser: Debian's Chromium (apt-get, if missing) driven by
# Playwright, which downloads no browser of its own. Missing either fails here, where
# `make test` only skips. SCREENSHOTS=docs/img writes the screenshots there.
.PHONY: test-browser browser-deps
BROWSER_STAMP := $(VENV)/.browser-installed
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(BROWSER_STAMP): $(STAMP) requirements-browser.txt requirements/browser.txt
	$(BIN)/python -m pip install -q -c requirements/dev.txt -c requirements/browser.txt -r requirements-browser.txt
	touch $@

# What the browser test needs; CI runs it before `make test` so the test runs there too.
browser-deps: $(BROWSER_STAMP)
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

test-browser: browser-deps zipkin-deps
	BROWSER_TEST_REQUIRED=1 CHROMIUM=$(CHROMIUM) BROWSER_SCREENSHOTS=$(SCREENSHOTS) $(PYTEST) tests/browser

contract: $(STAMP)
	$(PYTEST) -s tests/test_contract.py

resilience: $(STAMP)
	$(PYTEST) -s tests/soak

# deploy/prometheus on a real Prometheus (Debian's package, 2.42) scraping the services, and
# every Grafana dashboard query run on it. `make test` runs the same test and skips it when
# the binary is missing; here a missing one fails. CI runs prometheus-deps before `make test`.
.PHONY: prometheus-deps check-prometheus
PROMETHEUS ?= /usr/bin/prometheus

prometheus-deps:
	@test -x $(PROMETHEUS) || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q prometheus; }

# Debian's haproxy and wrk, if missing: tests/test_rolling_restart.py restarts every instance behind
# haproxy under wrk load (make test skips it without them; CI installs them and requires it).
.PHONY: haproxy-deps
haproxy-deps:
	@command -v haproxy >/dev/null && command -v wrk >/dev/null || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q haproxy wrk; }

check-prometheus: $(STAMP) prometheus-deps
	PROMETHEUS_TEST_REQUIRED=1 $(PYTEST) -v tests/test_prometheus.py

# deploy/fluentd/fluent.conf on a real fluentd (FLUENTD=/path/to/fluentd, or one on PATH); without
# one the test says so and skips. deploy/fluentd/README.md builds fluentd v1.17.1 from source.
.PHONY: check-fluentd
check-fluentd: $(STAMP)
	$(PYTEST) -s -v tests/test_fluentd.py

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) bench/requirements.txt requirements/bench.txt
	$(BIN)/python -m pip install -q -c requirements/dev.txt -c requirements/bench.txt -r bench/requirements.txt
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

# Compose v2 (`docker compose`) where the plugin is there, else Debian's docker-compose 1.29:
# the shipped file works with both. COMPOSE=... picks one.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || \
             { command -v docker-compose >/dev/null && echo docker-compose; })
NO_COMPOSE = echo "make $@ needs Docker Compose: make compose-deps (Debian's docker-compose) or the v2 plugin"; exit 1

up:
	@test -n "$(COMPOSE)" || { $(NO_COMPOSE); }
	$(COMPOSE) up --build

down:
	@test -n "$(COMPOSE)" || { $(NO_COMPOSE); }
	$(COMPOSE) down

# Debian's docker-compose (1.29), if no Compose is installed; CI runs it before make test,
# whose compose test runs the real `docker-compose config` on the shipped file.
.PHONY: compose-deps compose-check
compose-deps:
	@command -v docker-compose >/dev/null || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q docker-compose; }

# docker-compose.yml run for real on this machine's engine: stand-in images for what cannot be
# pulled, every container healthy, a request through user, its trace in Zipkin (deploy/README.md).
# zipkin-deps: the jar Zipkin's stand-in is built with. COMPOSE_CHECK_ARGS=--help for the options.
compose-check: $(STAMP) compose-deps zipkin-deps
	$(BIN)/python deploy/compose_check.py $(COMPOSE_CHECK_ARGS)

# The real Zipkin server (UI included): the pinned exec jar from Maven Central into
# ~/.cache/sanicms (ZIPKIN_JAR=... for another), checksum checked, and Debian's JRE if `java`
# is missing. make test and make demo use it when it is there; CI runs this before make test.
.PHONY: zipkin-deps zipkin
zipkin-deps:
	$(PYTHON) deploy/zipkin.py install

zipkin:
	$(PYTHON) deploy/zipkin.py run

# The images in a real engine (outside make test): build, run against PostgreSQL, wait for
# (healthy), one request per service, docker stop exits 0. BASE_IMAGE defaults to the
# official python image; `make standin-base` makes a local one where pulls are impossible.
.PHONY: standin-base image-check

image-check: $(STAMP)
	$(BIN)/python deploy/image_check.py $(if $(BASE_IMAGE),--base-image '$(BASE_IMAGE)')

standin-base:
	sh deploy/standin-base.sh

demo: $(STAMP)
	cd deploy && ../$(BIN)/python demo.py

clean:
	rm -rf $(VENV) .demo deploy/.demo
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
