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
	$(BIN)/govcx serve --dev $(if $(PACK),--pack $(PACK),)

chat: install
	$(BIN)/govcx chat $(if $(PACK),--pack $(PACK),)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .govcx .pytest_cache
