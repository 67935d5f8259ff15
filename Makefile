# gridaios: two commands on a fresh Debian/Ubuntu machine: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench sysdeps interop clean

demo: sysdeps $(STAMP)
	$(BIN)/gridaios demo --auto-approve

NODE_OPCUA := tests/interop/node-opcua

test: sysdeps $(STAMP) lint typecheck interop
	$(BIN)/python -m pytest -q

# The independent OPC UA server (node-opcua) used by interop tests, pinned by package-lock.json.
interop: $(NODE_OPCUA)/node_modules/.package-lock.json

$(NODE_OPCUA)/node_modules/.package-lock.json: $(NODE_OPCUA)/package-lock.json
	cd $(NODE_OPCUA) && npm ci --no-audit --no-fund --loglevel=error

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

sysdeps:
	@bash scripts/sysdeps.sh

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
