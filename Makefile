# twinml: `make demo` runs the CRT what-if demo, `make test` the test suite.
# Both create .venv on first use; torch 2.13.0 (CPU) is installed first so
# that the package's `torch>=2.4` range pulls no CUDA build.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.installed-base
TEST := $(VENV)/.installed-test
BENCH := $(VENV)/.installed-bench

.PHONY: demo test test-all bench lint clean

$(BASE): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e .
	touch $@

$(TEST): $(BASE)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

$(BENCH): $(BASE)
	$(BIN)/python -m pip install -q -e ".[bench]"
	touch $@

demo: $(BASE)
	$(BIN)/twinml demo

test: $(TEST)
	$(BIN)/python -m pytest

test-all: $(TEST)
	$(BIN)/python -m pytest -m "slow or not slow"

bench: $(BENCH)
	$(BIN)/python experiments/benchmarks/eikonal.py
	$(BIN)/python experiments/benchmarks/circulation.py

lint: $(TEST)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .twinml-cache twinml-out
