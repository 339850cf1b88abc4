# Entry points for people and CI. `make test` on a fresh Debian bookworm machine installs
# what it needs and runs every check:
#   1. Debian packages (scripts/system-deps.sh): QuickFIX C++ library + examples for the
#      interop tests, g++ and Python headers to build the `quickfix` wheel. Only as root or
#      with password-less sudo; otherwise it says what is missing and interop tests skip.
#   2. .venv with this package installed editable, extras dev + interop (the quickfix wheel
#      builds from source once, ~6 minutes; pip caches it). Redone only when pyproject.toml
#      changes (stamp file .venv/.installed).
#   3. the QuickFIX example executor unpacked to .venv/bin/qf-executor.
#   4. the console's chart library (npm chart.js) into gateway/console/web/node_modules.
#   5. ruff, mypy, pytest (the browser tests drive Debian's chromium, installed in step 1).
# REQUIRE_INTEROP=1 makes a missing interop piece an error instead of a skip.

SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config/gateway.toml
PYTEST_ARGS ?=
REQUIRE_INTEROP ?= 0
export PYTHON REQUIRE_INTEROP

.PHONY: test lint install system-deps executor console-assets run gateway check-config clean distclean

# All three checks run even when one fails, so one CI run shows every problem.
# pytest exits 5 when it collects no tests: not a failure while the suite grows.
test: install
	@failed=""; \
	echo "+ ruff check ."; $(BIN)/ruff check . || failed="$$failed ruff"; \
	echo "+ mypy"; $(BIN)/mypy || failed="$$failed mypy"; \
	echo "+ pytest $(PYTEST_ARGS)"; $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; \
	elif [ $$rc -ne 0 ]; then failed="$$failed pytest"; fi; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

install: $(STAMP) executor console-assets

system-deps:
	@scripts/system-deps.sh

$(BIN)/python: | system-deps
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | system-deps $(BIN)/python
	@if ! $(BIN)/python -m pip install -e '.[dev,interop]'; then \
	  if [ "$(REQUIRE_INTEROP)" = 1 ]; then exit 1; fi; \
	  echo "*** the interop extra (quickfix) did not install: interop tests will be skipped."; \
	  echo "*** Fix the cause, then: rm $(STAMP) && make test"; \
	  $(BIN)/python -m pip install -e '.[dev]'; \
	fi
	touch $@

executor: | $(BIN)/python
	@scripts/qf-executor.sh $(BIN)/qf-executor

# The demo: LP simulators, the gateway on $(CONFIG) and an OMS flow; Ctrl-C stops it.
run: install
	$(BIN)/fixgw demo --gateway $(CONFIG)

# The gateway alone, for your own OMS and LPs.
gateway: install
	$(BIN)/fixgw run --config $(CONFIG)

check-config: install
	$(BIN)/fixgw check-config $(CONFIG)

# The console's browser libraries, from npm (pinned by package-lock.json, never committed).
CONSOLE_WEB := gateway/console/web
CHART_JS := $(CONSOLE_WEB)/node_modules/chart.js/package.json
console-assets: $(CHART_JS)

$(CHART_JS): $(CONSOLE_WEB)/package.json $(CONSOLE_WEB)/package-lock.json | system-deps
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(CONSOLE_WEB) --no-audit --no-fund && touch $@; \
	else echo "*** npm not found: the console draws no charts and its browser tests skip."; fi

clean:
	rm -rf build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis tests/artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

# Also the virtualenv. The state directory (sequence numbers, message stores) is kept.
distclean: clean
	rm -rf $(VENV) $(CONSOLE_WEB)/node_modules
