# `make demo` runs the quickstart on the embedded default; `make test` runs the tests.
# Both create .venv and install everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench eval-locomo clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) examples/quickstart.py

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check agentmem tests eval examples
	$(PY) -m mypy agentmem

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) eval/bench_core.py

eval-locomo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m agentmem.eval locomo --data ../shared/data/locomo \
		--out eval/results/locomo --retrieval-only --overwrite

clean:
	rm -rf $(VENV)
