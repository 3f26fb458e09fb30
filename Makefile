# Two commands that work on a fresh machine: `make demo` and `make test`.
# Both create the virtual environment .venv on first use.

VENV ?= .venv
PY := $(VENV)/bin/python
# The first Python >= 3.12 found: python3.12, python3.13, python3, then pyenv's installs.
PYTHON ?= $(shell for p in python3.12 python3.13 python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.12 found; run make PYTHON=/path/to/python3.12 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,jax]"
	touch $@

.PHONY: setup demo test lint

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m bayesmix.demo

test: $(VENV)/.installed
	$(PY) -m pytest -n 2 --dist loadfile

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check bayesmix tests notebooks
	$(VENV)/bin/ruff format --check bayesmix tests notebooks
