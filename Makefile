# gridaios: two commands on a fresh Debian/Ubuntu machine: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench soak sysdeps clean

demo: sysdeps $(STAMP)
	$(BIN)/gridaios demo --auto-approve

test: sysdeps $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# 1,000 SIGKILLs of `gridaios run` against an OPC UA ledger device (about an hour; not in `make test`)
soak: $(STAMP)
	$(BIN)/python -m tests.soak.crash_soak --kills 1000 --workdir var/soak

sysdeps:
	@bash scripts/sysdeps.sh

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
