# Two commands do all the set-up: `make run` (train + evaluate the default task) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: run test lint format bench venv clean-venv

venv: $(STAMP)

# Reinstall whenever a dependency declaration or the lock changes.
$(STAMP): pyproject.toml core/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ./core -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/train.py $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python scripts/bench_core.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
