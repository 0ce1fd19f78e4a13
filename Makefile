# Developer entry points. `make test ARGS='-k socket'` passes ARGS to pytest.
PYTHON ?= python3
VENV := .venv
# `make run` installs what serving needs; `make test` and `make lint` add the dev tools.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
JS_DEPS := tests/js/node_modules/.package-lock.json
ARGS ?=
# Run again on python-socketio's stock path (ROOMTIMER_FAST_PATH=off) by a full `make test`.
STOCK_PATH_TESTS := tests/controllers/test_sockets.py tests/controllers/test_sockets_js.py \
	tests/controllers/test_broadcasts.py tests/controllers/test_control_socket.py tests/events \
	tests/realtime/test_compat.py \
	tests/test_topology.py

.PHONY: run test lint migrate bench clean js-deps

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changes.
$(RUNTIME_STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	touch $@ $(RUNTIME_STAMP)

$(JS_DEPS): tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error

# Optional: without npm the tests that drive the JavaScript client skip with a reason
# (and fail under CI=true, where every tool must be present).
js-deps:
	@if command -v npm >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(JS_DEPS); \
	else \
	  echo "npm not found: tests that need the Node socket.io-client will be skipped"; \
	fi

run: $(RUNTIME_STAMP)
	$(VENV)/bin/roomtimer serve

# Two pytest workers (pytest-xdist), each file's tests on one worker, files in collection
# order (tests marked `long` first: tests/support/plugin.py). Most tests wait on servers and
# clocks, so two at once take about half the time. TEST_WORKERS=0 runs them in this
# process, one after another.
TEST_WORKERS ?= 2
PYTEST := $(VENV)/bin/python -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: $(DEV_STAMP) js-deps
	$(PYTEST) $(ARGS)
ifeq ($(strip $(ARGS)),)
	ROOMTIMER_FAST_PATH=off $(PYTEST) $(STOCK_PATH_TESTS)
endif

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

migrate: $(RUNTIME_STAMP)
	$(VENV)/bin/roomtimer migrate

bench: $(DEV_STAMP)
	bash bench/run.sh $(ARGS)

clean:
	rm -rf $(VENV) tests/js/node_modules .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
