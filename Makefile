# The targets below are the only commands of this project: CI runs `make test` (.ci/run).
#   make test    lint, type-check and run the test suite (what CI runs)
#   make lint    ruff + mypy only
#   make format  sort imports and format the code in place
#   make demo    serve the example configuration with live synthetic traffic and agents
#                (installs only the runtime dependencies when the dev install is not there)
#   make bench   run the engine, simulator, server and web console benchmarks (prints figures,
#                never fails on timing)
#   make mutate  mutation testing of the engine (mutmut; slow, not part of make test or CI):
#                MUTANTS='unirouter.engine.matching*' narrows it; prints survivors per module
#   make clean   remove the virtualenv, caches and build output
#   make fast    opt-in: a copy of the package under build/fast with the hot modules compiled by
#                mypyc (use it with PYTHONPATH=build/fast; see docs/performance.md)
#   make test-fast  the test suite against that compiled copy

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; pip runs again only when pyproject.toml is newer.
STAMP := $(VENV)/.installed
CODE := src tests bench
PIP_FLAGS := --quiet --disable-pip-version-check --no-input

.DEFAULT_GOAL := test
.PHONY: test lint format demo bench clean venv fast test-fast system-deps mutate

venv: $(STAMP)

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Editable install: the stamp only follows pyproject.toml, so the code under src/
# must be picked up live rather than copied into the venv.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) --editable '.[dev]'
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy --strict src/unirouter

test: lint system-deps
	$(BIN)/python -m pytest

# System packages the tests run for real: dovecot (the IMAP server of the email channel's tests)
# and Debian's chromium (the browser of the web tests, tests/web, driven by Playwright).
# Installed when missing, with apt-get (CI and developers' machines run as root).
system-deps:
	@test -x /usr/sbin/dovecot || { apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dovecot-imapd; }
	@test -x /usr/bin/chromium || { apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

format: $(STAMP)
	$(BIN)/ruff check --select I --fix $(CODE)
	$(BIN)/ruff format $(CODE)

# The demo needs only what unirouter needs to run (no test, lint or browser tools): a runtime
# install, shown as it goes, unless the full development install is already there.
RUN_STAMP := $(VENV)/.installed-run
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing unirouter and what it needs to run into $(VENV) (once; about a minute)..."
	$(BIN)/python -m pip install --disable-pip-version-check --no-input --progress-bar on --editable .
	@touch $@

demo: $(if $(wildcard $(STAMP)),$(STAMP),$(RUN_STAMP))
	$(BIN)/unirouter demo

bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/sim.py
	$(BIN)/python bench/sim_memory.py
	$(BIN)/python bench/theory.py
	$(BIN)/python bench/server.py
	$(BIN)/python bench/channels.py
	$(BIN)/python bench/sse_fanout.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/web.py

# The compiled build is a separate copy, never extension modules beside the sources: a stale .so
# in src/ would shadow every later edit of its .py. Rebuild after changing the code.
FAST := build/fast
FAST_MODULES := $(addprefix unirouter/engine/,clock.py dispatch.py engine.py events.py matching.py \
	plans.py queues.py state.py timers.py core.py views.py intake.py queueing.py offers.py \
	assignment.py ending.py affinity.py capacity.py presence.py deadlines.py settle.py install.py \
	checks.py) \
	$(addprefix unirouter/sim/,runner.py agenda.py traffic.py _arrivals.py) \
	$(addprefix unirouter/analytics/,kpis.py _kpi_state.py _kpi_series.py _kpi_tally.py)

fast: $(STAMP)
	rm -rf $(FAST)
	mkdir -p $(FAST)
	cp -R src/unirouter $(FAST)/unirouter
	find $(FAST) -name __pycache__ -type d -prune -exec rm -rf {} +
	cd $(FAST) && $(CURDIR)/$(BIN)/mypyc $(FAST_MODULES)
	@echo "compiled build in $(FAST): run with PYTHONPATH=$(FAST)"

# A compiled record class runs its __init__ when unpickled, so restoring an engine snapshot fails
# there (SnapshotCorrupt; a server replays its log): the snapshot tests run interpreted only
# (docs/performance.md).
test-fast: fast
	PYTHONPATH=$(FAST) $(BIN)/python -m pytest \
		--ignore=tests/test_engine_snapshot.py --ignore=tests/server/test_snapshots.py

# mutmut copies the tree to mutants/ and runs each mutant against the tests that reach it. Property
# tests would draw new examples per run, so the derandomized profile keeps verdicts repeatable.
MUTANTS ?=
mutate: $(STAMP)
	$(BIN)/python -m pip install $(PIP_FLAGS) --editable '.[dev,mutation]'
	HYPOTHESIS_PROFILE=ci nice $(BIN)/mutmut run $(MUTANTS) || true
	$(BIN)/python bench/mutation.py

clean:
	rm -rf $(VENV) build dist mutants .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -rf src/*.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
