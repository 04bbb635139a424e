# The two commands of the README: `make run` (the main job on embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint venv system-deps bench mutation mutation-gate

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

## Debian's chromium for the browser test of the ops views, and Debian's prometheus (the server and
## promtool) for the monitoring test (need root and apt; skipped otherwise, and those tests are then
## skipped outside CI).
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "Could not install chromium; the browser test will not run."; \
	  else echo "chromium not installed (apt-get install chromium); the browser test will not run."; fi; \
	fi
	@if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      prometheus >/dev/null) || echo "Could not install prometheus; the monitoring test will not run."; \
	  else echo "prometheus not installed (apt-get install prometheus); the monitoring test will not run."; fi; \
	fi

## Set up and run every test (the real broker and a headless browser included), then lint.
test: venv system-deps
	$(BIN)/python -m pytest
	$(BIN)/ruff check .

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Set up and run the main job: broker, consumers, fleet simulator and web server on embedded defaults.
run: venv
	$(BIN)/python manage.py run_embedded

## Run every benchmark at its default sizes and print the table (docs/PERFORMANCE.md). Not part of CI.
bench: venv
	$(BIN)/python -m benchmarks

## Mutation testing, full run: every app's rules, repositories, handlers and views, the consumer loop,
## codecs and validation, against the fast tests; prints the scoreboard (docs/TESTING.md).
mutation: venv
	$(BIN)/python tools/mutation.py full --max-children $(or $(MUTATION_CHILDREN),2)

## The CI gate: the pure business modules must stay at 100 % (equivalents listed in tools/mutation_equivalents.txt).
mutation-gate: venv
	$(BIN)/python tools/mutation.py gate --max-children $(or $(MUTATION_CHILDREN),2)
