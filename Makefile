PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACK ?=

.PHONY: install serve chat test lint bench clean

$(BIN)/govcx: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(BIN)/govcx

install: $(BIN)/govcx

serve: install
	GOVCX_DEV=1 $(BIN)/govcx serve --dev $(if $(PACK),--pack $(PACK),)

chat: install
	GOVCX_DEV=1 $(BIN)/govcx chat $(if $(PACK),--pack $(PACK),)

# The acme eval suite gates CI on its measured pass rate (97.6%, 81/83, on 2026-11-26;
# the failing cases are listed in the issue notes), then the test suite runs.
EVAL_FAIL_UNDER ?= 0.95

test: install
	GOVCX_HOME=$$(mktemp -d) $(BIN)/govcx eval run src/govcx/packs/acme/evals/*.yaml \
		--fail-under $(EVAL_FAIL_UNDER)
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .govcx .pytest_cache
