# Set-up and everyday commands. `make demo` and `make test` are the only set-up a fresh machine needs:
# both create (or reuse) .venv and install what they need.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test bench lint venv clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m bayescausal.demo

test: $(STAMP)
	$(PY) -m pytest -q --durations=25

lint: $(STAMP)
	$(VENV)/bin/ruff check bayescausal tests benchmarks

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,reference]"
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
