# The front door. `make help` lists the targets; `make run` and `make test`
# set up what they need on first use.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced

.DEFAULT_GOAL := help
.PHONY: help setup run test lint format bench mlflow-ui infra-plan clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --all-groups --compile-bytecode --python $(PYTHON)
	@touch $@

setup: $(STAMP) ## create .venv with the locked packages (control plane, model code, dev tools)

run: $(STAMP) ## the main job on the local target: register data, train, summary
	$(BIN)/mlops run

test: $(STAMP) ## run the whole test suite
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(STAMP) ## check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## reformat with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## benchmarks: pipeline vs its steps by hand; endpoint vs mlflow models serve; rows vs time and memory
	$(BIN)/python -u bench/pipeline_overhead.py
	$(BIN)/python -u bench/endpoint_latency.py
	$(BIN)/python -u bench/scale.py

STACK ?= dev
infra-plan: $(STAMP) ## what a Pulumi stack would create, and its policy verdicts, offline (STACK=dev|staging|prod)
	$(BIN)/python infra/plan.py $(STACK)

mlflow-ui: $(STAMP) ## browse local runs in the MLflow UI (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///.mlops/mlflow.db --host 127.0.0.1

clean: ## stop the local endpoint, then remove the local state (.mlops)
	@if [ -x $(BIN)/mlops ] && [ -d .mlops ]; then $(BIN)/mlops endpoint stop; fi
	rm -rf .mlops
