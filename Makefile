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

.PHONY: demo demo-bridge test lint typecheck unit bench soak sysdeps interop clean

demo: sysdeps $(DEMO_STAMP)
	$(BIN)/gridaios demo --auto-approve

# The demo with its battery behind the firmware bridge (a subprocess) over mosquitto.
demo-bridge: sysdeps $(DEMO_STAMP)
	$(BIN)/gridaios demo --bridge --auto-approve

NODE_OPCUA := tests/interop/node-opcua
# axe-core for the console's accessibility check (tests/browser/test_console_alarms.py)
AXE := tests/browser/axe
SPARKPLUG_EDGE := tests/interop/pysparkplug

test: sysdeps $(STAMP) lint typecheck interop
	$(BIN)/python -m pytest -q

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

$(DEMO_STAMP): pyproject.toml firmware-bridge/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e . -e firmware-bridge
	touch $(DEMO_STAMP)

$(STAMP): $(DEMO_STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(BIN)/python -m pip install -q -e '.[dev,forecast,ml,llm]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
