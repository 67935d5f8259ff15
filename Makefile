# gridaios: two commands on a fresh Debian/Ubuntu machine: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The demo needs only the runtime; the suite also needs forecasting, ONNX and the LLM.
DEMO_STAMP := $(VENV)/.installed-demo
# llama-cpp-python compiles llama.cpp from source (about 10 min on 2 cores). Build portable
# AVX2 kernels: a native build emits AMX/AVX-512 code that traps (SIGILL) on this CPU.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: demo demo-bridge test lint typecheck unit bench soak sysdeps interop clean dist lock

# Every Python dependency is pinned with its hashes (pip-tools' pip-compile --generate-hashes):
# dev.lock is what `make test` installs (runtime + every extra + the bridge), demo.lock its
# subset for `make demo` (no extras), edge.lock what an edge box runs (no test tools) and what
# `make dist` puts in the wheelhouse. `make lock` refreshes all three after a pyproject.toml
# change, keeping every pin that still fits.
LOCK      := requirements/dev.lock
EDGE_LOCK := requirements/edge.lock
DEMO_LOCK := requirements/demo.lock
PIP_TOOLS := pip-tools==7.6.2

demo: sysdeps $(DEMO_STAMP)
	$(BIN)/gridaios demo --auto-approve

# The demo with its battery behind the firmware bridge (a subprocess) over mosquitto.
demo-bridge: sysdeps $(DEMO_STAMP)
	$(BIN)/gridaios demo --bridge --auto-approve

NODE_OPCUA := tests/interop/node-opcua
# axe-core for the console's accessibility check (tests/browser/test_console_alarms.py)
AXE := tests/browser/axe
SPARKPLUG_EDGE := tests/interop/pysparkplug

# Both cores: each test file stays on one worker (--dist loadfile), so a module's servers,
# brokers and ports are never shared across processes.
PYTEST_XDIST ?= -n 2 --dist loadfile

test: sysdeps $(STAMP) lint typecheck interop
	$(BIN)/python -m pytest -q $(PYTEST_XDIST)

# The independent OPC UA server (node-opcua) used by interop tests, pinned by package-lock.json.
interop: $(NODE_OPCUA)/node_modules/.package-lock.json $(SPARKPLUG_EDGE)/site/.installed \
	$(AXE)/node_modules/.package-lock.json

$(AXE)/node_modules/.package-lock.json: $(AXE)/package-lock.json
	cd $(AXE) && npm ci --no-audit --no-fund --loglevel=error

# The independent Sparkplug B edge (pysparkplug): paho-mqtt 1.x, so in its own directory.
$(SPARKPLUG_EDGE)/site/.installed: $(SPARKPLUG_EDGE)/requirements.txt $(DEMO_STAMP)
	rm -rf $(SPARKPLUG_EDGE)/site
	$(BIN)/pip install -q --no-deps --target $(SPARKPLUG_EDGE)/site -r $<
	touch $@

$(NODE_OPCUA)/node_modules/.package-lock.json: $(NODE_OPCUA)/package-lock.json
	cd $(NODE_OPCUA) && npm ci --no-audit --no-fund --loglevel=error

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

# The demo needs only the runtime: demo.lock (dev.lock's pins for it, no compile), hash-checked.
$(DEMO_STAMP): pyproject.toml firmware-bridge/pyproject.toml $(DEMO_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r $(DEMO_LOCK)
	$(BIN)/python -m pip install -q --no-deps -e . -e firmware-bridge
	$(BIN)/python -m pip check
	touch $(DEMO_STAMP)

# Everything from the lock, hash-checked; then the project itself, editable, adding nothing
# (--no-deps), and `pip check` fails if pyproject.toml wants something the lock lacks.
$(STAMP): $(DEMO_STAMP) $(LOCK)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e . -e firmware-bridge
	$(BIN)/python -m pip check
	touch $(STAMP)

# A wheelhouse for a box with no index: the project's wheels, every locked runtime dependency
# as a wheel (llama-cpp-python built here with the portable CMAKE args), and requirements.txt
# with the sha256 of each wheel shipped. Install: see README "Install on an edge box".
dist: $(STAMP) $(EDGE_LOCK)
	rm -rf dist/wheelhouse && mkdir -p dist/wheelhouse
	$(BIN)/python -m pip wheel -q --no-deps -w dist/wheelhouse . ./firmware-bridge
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(BIN)/python -m pip wheel -q --no-deps --require-hashes -w dist/wheelhouse -r $(EDGE_LOCK)
	$(BIN)/python packaging/wheelhouse.py dist/wheelhouse
	cp packaging/gridaios.service dist/wheelhouse/

# Re-resolve after a dependency change in a pyproject.toml (pins that still fit are kept).
lock:
	test -x var/lock-venv/bin/pip-compile || \
		($(PYTHON) -m venv var/lock-venv && var/lock-venv/bin/pip install -q '$(PIP_TOOLS)')
	var/lock-venv/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --extra dev --extra forecast --extra ml \
		--extra llm -o $(LOCK) pyproject.toml firmware-bridge/pyproject.toml
	var/lock-venv/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --extra forecast --extra ml --extra llm \
		-c $(LOCK) -o $(EDGE_LOCK) pyproject.toml firmware-bridge/pyproject.toml
	var/lock-venv/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links \
		-c $(LOCK) -o $(DEMO_LOCK) pyproject.toml firmware-bridge/pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
