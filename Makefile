# Two commands do all the set-up: `make run` (train + evaluate the default task) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=
# pytest-xdist workers (test files are the unit, so a module's fixtures are built once); 0: serial.
TEST_WORKERS ?= 2

.PHONY: run test lint format bench venv clean-venv browser

venv: $(STAMP)

# Reinstall whenever a dependency declaration or the lock changes.
$(STAMP): pyproject.toml core/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ./core -e '.[dev,demo]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/train.py $(ARGS)

test: $(STAMP) browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(ARGS)

# The demo's browser test drives Debian's Chromium; install it where missing (as root, e.g. CI).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else \
	    echo "the demo's browser test needs: apt-get install chromium chromium-driver"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python core/benchmarks/lstm_bench.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
