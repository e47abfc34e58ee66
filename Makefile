PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACK ?=
# `langgraph dev` (the `studio` extra) lives in a venv of its own: langgraph-api pins
# protobuf<7, grpcio<1.82 and jsonschema-rs<0.45, which the `dev` extra's schemathesis does
# not allow beside it. `make test` points tests/api/test_langgraph_dev.py at its `langgraph`.
STUDIO_VENV ?= .venv-studio
STUDIO_BIN := $(STUDIO_VENV)/bin
GOVCX_LANGGRAPH_CLI ?= $(abspath $(STUDIO_BIN)/langgraph)

.PHONY: install studio serve chat test lint bench clean mutation

$(BIN)/govcx: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(BIN)/govcx

install: $(BIN)/govcx

$(STUDIO_BIN)/langgraph: pyproject.toml
	$(PY) -m venv $(STUDIO_VENV)
	$(STUDIO_BIN)/pip install --quiet --upgrade pip
	$(STUDIO_BIN)/pip install --quiet -e '.[studio]'
	@touch $(STUDIO_BIN)/langgraph

studio: $(STUDIO_BIN)/langgraph

serve: install
	GOVCX_DEV=1 $(BIN)/govcx serve --dev $(if $(PACK),--pack $(PACK),)

chat: install
	GOVCX_DEV=1 $(BIN)/govcx chat $(if $(PACK),--pack $(PACK),)

# The acme eval suites gate CI in three parts: the safety suites (guards, approvals) and
# every escalation case must all pass; the whole set is gated on its measured pass rate
# (95.5%, 84/88, on 2026-12-06, with no eval turn copied from the training examples:
# tests/evals/test_acme_suite.py fails on any overlap; the failing cases are knowledge
# answers that escalate, listed in the issue notes). Then the test suite runs.
EVAL_FAIL_UNDER ?= 0.95
ACME_EVALS := src/govcx/packs/acme/evals

test: install studio
	GOVCX_HOME=$$(mktemp -d) $(BIN)/govcx eval run $(ACME_EVALS)/guards.yaml \
		$(ACME_EVALS)/approvals.yaml --quiet
	GOVCX_HOME=$$(mktemp -d) $(BIN)/govcx eval run $(ACME_EVALS)/*.yaml --tag route-escalated --quiet
	GOVCX_HOME=$$(mktemp -d) $(BIN)/govcx eval run $(ACME_EVALS)/*.yaml \
		--fail-under $(EVAL_FAIL_UNDER)
	GOVCX_LANGGRAPH_CLI=$(GOVCX_LANGGRAPH_CLI) $(BIN)/python -m pytest -q

# Mutation testing of the governance core (gate, approvals, executor, audit; configured in
# pyproject.toml [tool.mutmut]). Not part of `make test`: it takes tens of minutes on two
# cores. Prints killed / survived / timeouts per file and the mutation score.
MUTATION_CHILDREN ?= 2
MUTANTS ?=

mutation: install
	$(BIN)/mutmut run --max-children $(MUTATION_CHILDREN) $(MUTANTS) > mutants.log 2>&1 || \
		(tail -n 40 mutants.log; exit 1)
	$(BIN)/mutmut results --all true | $(BIN)/python tests/mutation_score.py

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(STUDIO_VENV) .govcx .pytest_cache mutants mutants.log
