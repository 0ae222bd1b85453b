# The two commands that open the README. Both work on a fresh machine: they create the virtualenv,
# install exactly the versions in requirements.lock, and start the stack themselves.
VENV ?= .venv
comma := ,
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)
# Extras the lock and the dev install cover (the server read models' clients are optional at run time).
EXTRAS := dev,opensearch,qdrant
PYTEST_ARGS ?=
# Extra rounds of the fault tests (worker kills, broker restart, database outage) after the full
# suite, so every CI run repeats them; `make faults` runs more on demand.
FAULT_ROUNDS ?= 2
FAULT_TESTS := tests/integration/test_faults.py tests/integration/test_resilience.py tests/integration/test_shared_read_models.py

.PHONY: demo test install lock lint typecheck unit integration faults stack-up stack-down clean promtool browser

demo: install
	$(PY) -m ragstream.demo

test: install lint typecheck promtool browser
	@set -e; \
	if $(VENV)/bin/ragstream stack status >/dev/null 2>&1; then started=0; else started=1; fi; \
	$(VENV)/bin/ragstream stack up --with-opensearch; \
	status=0; RAGSTREAM_TEST_SKIP_STACK_UP=1 $(VENV)/bin/pytest $(PYTEST_ARGS) || status=$$?; \
	round=1; while [ $$status = 0 ] && [ $$round -le $(FAULT_ROUNDS) ]; do \
		echo "fault tests, extra round $$round of $(FAULT_ROUNDS)"; \
		RAGSTREAM_TEST_SKIP_STACK_UP=1 $(VENV)/bin/pytest -q $(FAULT_TESTS) || status=$$?; \
		round=$$((round + 1)); \
	done; \
	if [ $$started = 1 ]; then $(VENV)/bin/ragstream stack down; fi; \
	exit $$status

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip setuptools wheel
	$(VENV)/bin/pip install -q -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-*
	touch $@

# Refresh requirements.lock after changing dependencies in pyproject.toml (then commit both).
lock:
	$(VENV)/bin/pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml $(foreach e,$(subst $(comma), ,$(EXTRAS)),--extra $(e)) \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --quiet -o requirements.lock

# promtool validates the alert rules; from Debian's prometheus package (the server is not started).
promtool:
	@command -v promtool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null; } || echo "promtool unavailable: alert-rule checks will be skipped"

# The console's browser tests drive Debian's chromium with Playwright (from PyPI, in the lock); the
# browser comes from apt here, never downloaded by the test tool. Without root they are skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null; } || echo "chromium unavailable: the console's browser tests will be skipped"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -m "unit or contract" $(PYTEST_ARGS)

integration: install stack-up
	RAGSTREAM_TEST_SKIP_STACK_UP=1 $(VENV)/bin/pytest -m integration $(PYTEST_ARGS)

# The fault tests alone, FAULT_ROUNDS rounds (for example `make faults FAULT_ROUNDS=10`).
faults: install
	$(VENV)/bin/ragstream stack up --with-opensearch
	for round in $$(seq $(FAULT_ROUNDS)); do RAGSTREAM_TEST_SKIP_STACK_UP=1 $(VENV)/bin/pytest -q $(FAULT_TESTS) || exit 1; done

stack-up: install
	$(VENV)/bin/ragstream stack up

stack-down: install
	$(VENV)/bin/ragstream stack down

clean:
	-$(VENV)/bin/ragstream stack down
	rm -rf .stack .mypy_cache .ruff_cache .pytest_cache
