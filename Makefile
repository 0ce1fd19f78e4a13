# Developer entry points. `make test ARGS='-k socket'` passes ARGS to pytest.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
JS_DEPS := tests/js/node_modules/.package-lock.json
ARGS ?=
# Run again on python-socketio's stock path (ROOMTIMER_FAST_PATH=off) by a full `make test`.
STOCK_PATH_TESTS := tests/controllers/test_sockets.py tests/controllers/test_sockets_js.py \
	tests/controllers/test_broadcasts.py tests/controllers/test_control_socket.py tests/events \
	tests/realtime/test_compat.py \
	tests/test_topology.py

.PHONY: run test lint migrate bench clean

# Reinstall only when pyproject.toml changes.
$(STAMP): pyproject.toml
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	touch $@

$(JS_DEPS): tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error

run: $(STAMP)
	$(VENV)/bin/roomtimer serve

test: $(STAMP) $(JS_DEPS)
	$(VENV)/bin/python -m pytest -q $(ARGS)
ifeq ($(strip $(ARGS)),)
	ROOMTIMER_FAST_PATH=off $(VENV)/bin/python -m pytest -q $(STOCK_PATH_TESTS)
endif

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

migrate: $(STAMP)
	$(VENV)/bin/roomtimer migrate

bench: $(STAMP)
	bash bench/run.sh $(ARGS)

clean:
	rm -rf $(VENV) tests/js/node_modules .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
