# precode: `make demo` pre-codes the example transcript, `make test` runs the tests.
# Both create the virtual environment .venv themselves.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-fast lint serve bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# torch first, pinned, so that pip takes the CPU build and no CUDA packages
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# The first command that needs the built-in model trains it into the machine's cache (once per
# machine, every PRECODE_HOME shares it; see README "First use").
demo: $(STAMP)
	$(BIN)/precode code examples/clinic_pharmacist_interview.txt --out demo-output/clinic_pharmacist_interview.jsonl
	$(BIN)/precode code examples/clinic_pharmacist_interview.txt --out demo-output/clinic_pharmacist_interview.html
	$(BIN)/precode show demo-output/clinic_pharmacist_interview.jsonl
	@echo "Also written: demo-output/clinic_pharmacist_interview.html (open it in a browser; it works offline)"

test: $(STAMP)
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check corpus models training eval service tests

serve: $(STAMP)
	$(BIN)/precode serve

bench: $(STAMP)
	$(BIN)/precode bench quality
	$(BIN)/precode bench speed
	$(BIN)/precode bench scale

clean:
	rm -rf $(VENV) demo-output .pytest_cache
