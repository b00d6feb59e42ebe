# The two commands: `make run` (the hub, simulated devices and a live view)
# and `make test` (lint, types, tests). Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit fuzz bench system-deps clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "earlgate needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

run: $(STAMP) system-deps
	$(BIN)/earlgate demo

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

# Test processes (pytest-xdist), each running whole test files: module
# fixtures (a browser, a relay) start once per file. TEST_WORKERS=0 runs in one.
TEST_WORKERS ?= 2

unit: $(STAMP) system-deps
	node --test tests/js/
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

test: lint typecheck unit

# The long property-based campaign: the same tests as `make test` runs, with
# many more generated examples each (about 20 minutes).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -m fuzz --timeout 0

# The short benchmarks (about 10 minutes); the ramps are longer: see docs/benchmarks.md.
bench: $(STAMP) system-deps
	$(BIN)/earlgate bench fanout --publishers 1000 --period 0.25 --duration 30 --update-benchmarks
	$(BIN)/earlgate bench scaleout --publishers 1000 --period 0.25 --duration 30 --update-benchmarks
	$(BIN)/earlgate bench connections -n 2000 --update-benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
