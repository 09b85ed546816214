# The front door. `make help` lists the targets; `make run` and `make test`
# set up what they need on first use.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced
# Azurite, the Azure Storage emulator the Azure target's tests run against. 3.35.0 is
# the newest release that supports Node.js 20 and Debian 12's 18 (3.36 wants 21, 3.37 22).
AZURITE_VERSION := 3.35.0
AZURITE_DIR := $(TOOLS)/azurite
AZURITE := $(AZURITE_DIR)/node_modules/.bin/azurite-blob
# Named after the version, so a new pin installs again.
AZURITE_STAMP := $(AZURITE_DIR)/.installed-$(AZURITE_VERSION)

.DEFAULT_GOAL := help
# The MLflow UI's port (`make mlflow-ui MLFLOW_PORT=5001` when 5000 is taken).
MLFLOW_PORT ?= 5000

.PHONY: help setup llm-setup azurite run finetune test lint format bench mlflow-ui infra-plan clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --all-groups --no-group llm --compile-bytecode --python $(PYTHON)
	@rm -f $(VENV)/.synced-llm-*
	@touch $@

setup: $(STAMP) ## create .venv with the locked packages (control plane, model code, dev tools)

# The text-generation kind's packages: the llm dependency group, and torch's CPU build
# from PyTorch's index (PyPI's Linux build pulls gigabytes of CUDA libraries). The
# sync above removes them (it makes .venv exactly the lock), hence its stamp's removal.
TORCH_VERSION := 2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
LLM_STAMP := $(VENV)/.synced-llm-$(TORCH_VERSION)

# Not compiled ahead (uv would compile the whole of .venv again): the few modules
# of torch and transformers a process imports compile on first use.
$(LLM_STAMP): $(STAMP)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --all-groups --inexact --python $(PYTHON)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
	  --retries 1 --index-url $(TORCH_INDEX) "torch==$(TORCH_VERSION)"
	@touch $@

llm-setup: $(LLM_STAMP) ## add the text-generation kind's packages to .venv: torch (CPU build), transformers, peft

# npm comes with Node.js. Without it, Debian and Ubuntu get both from apt (as root, or
# through sudo); anywhere else the message says what to install.
$(AZURITE_STAMP):
	@if ! command -v npm >/dev/null 2>&1; then \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "Azurite needs npm: install Node.js 18 or newer with npm, then run make test again" >&2; exit 1; \
	  elif [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else echo "Azurite needs npm: as root, run apt-get install nodejs npm, then make test again" >&2; exit 1; \
	  fi; \
	  echo "npm is missing: installing nodejs and npm with apt-get"; \
	  $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm; \
	fi
	npm install --prefix $(AZURITE_DIR) --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)
	@test -x $(AZURITE)
	@rm -f $(AZURITE_DIR)/.installed-*
	@touch $@

azurite: $(AZURITE_STAMP) ## install Azurite (the Azure Storage emulator) under .tools with npm

# The model `make run` works on (a folder under models/): `make run MODEL=wine-cultivar`.
MODEL ?= credit-default

run: $(STAMP) ## the main job on the local target for MODEL (default credit-default): register data, train, gate, register, deploy, summary
	$(BIN)/mlops --model $(MODEL) run

finetune: $(LLM_STAMP) ## the text-generation sample (models/number-words): build the tiny base model, fine-tune, gate, register, deploy
	$(BIN)/mlops --model number-words run

# The two installs (Python packages, Azurite from npm) wait on the network and the disk
# more than on the CPU: side by side, a fresh clone's `make test` starts sooner.
# Whole files to each worker, in the order tests/conftest.py gives them (longest first).
test: ## run the whole test suite
	@$(MAKE) --no-print-directory -j2 $(LLM_STAMP) $(AZURITE_STAMP)
	$(BIN)/pytest -n 3 --dist loadfile --no-loadscope-reorder

lint: $(STAMP) ## check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## reformat with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(LLM_STAMP) ## benchmarks (pipeline vs steps by hand, endpoint vs mlflow models serve, rows vs time and memory, monitor vs reading, evaluate with vs without explanations, generation served vs in-process); exit 1 on a missed aim, BENCH_FLAGS=--report-only to only report
	@status=0; \
	$(BIN)/python -u bench/pipeline_overhead.py $(BENCH_FLAGS) || status=1; \
	$(BIN)/python -u bench/endpoint_latency.py $(BENCH_FLAGS) || status=1; \
	$(BIN)/python -u bench/scale.py $(BENCH_FLAGS) || status=1; \
	$(BIN)/python -u bench/monitor.py $(BENCH_FLAGS) || status=1; \
	$(BIN)/python -u bench/generation_latency.py $(BENCH_FLAGS) || status=1; \
	$(BIN)/python -u bench/explanations.py $(BENCH_FLAGS) || status=1; \
	exit $$status

STACK ?= dev
PLATFORM_STACK ?= shared
infra-plan: $(STAMP) ## what the platform stack and an environment stack would create, and the policy verdicts, offline (STACK=dev|staging|prod)
	$(BIN)/python infra/plan.py --project platform $(PLATFORM_STACK)
	$(BIN)/python infra/plan.py $(STACK)

mlflow-ui: $(STAMP) ## browse MODEL's local runs in the MLflow UI (http://127.0.0.1:5000; another port: MLFLOW_PORT=5001)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///.mlops/models/$(MODEL)/mlflow.db --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

clean: ## stop the local endpoints (every model's, in every environment), then remove the local state (.mlops)
	@if [ -x $(BIN)/mlops ] && [ -d .mlops ]; then \
	  for state in .mlops/models/*/ .mlops/envs/*/models/*/; do \
	    [ -d "$$state" ] || continue; \
	    model=$$(basename "$$state"); env=$$(basename "$$(dirname "$$(dirname "$$state")")"); \
	    [ "$$env" = .mlops ] && flag="" || flag="--env $$env"; \
	    $(BIN)/mlops $$flag --model "$$model" endpoint stop || exit 1; \
	  done; \
	fi
	rm -rf .mlops
