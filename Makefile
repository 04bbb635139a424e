# The two commands of the README: `make run` (the main job on embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint venv

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

## Set up and run every test (the real broker included), then lint.
test: venv
	$(BIN)/python -m pytest
	$(BIN)/ruff check .

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Set up and run the main job: broker, consumers and web server on the embedded defaults.
run: venv
	$(BIN)/python manage.py run_embedded

## Run every benchmark at its default sizes and print the table (docs/PERFORMANCE.md). Not part of CI.
bench: venv
	$(BIN)/python -m benchmarks
