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

.PHONY: setup demo test lint browser docs

setup: $(VENV)/.installed

# The main job: every candidate of models/faithful.toml fitted on a local Dask cluster,
# compared by PSIS-LOO; the report is written to results/faithful/report.html.
demo: $(VENV)/.installed
	$(VENV)/bin/bayesmix run models/faithful.toml

test: $(VENV)/.installed browser
	$(PY) -m pytest -n 2 --dist loadfile --durations=20

# The report test renders the page in headless Chromium (Debian's package). Installed here
# when missing and apt-get may be used (as root); otherwise that one check is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the report's browser check"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: no chromium and no root apt-get: the report's browser check will be skipped" >&2; \
	  fi; }

# The documentation site, warnings as errors, into docs/_build/html. The notebooks are
# rendered from their stored outputs (the test suite executes them).
$(VENV)/.docs-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

docs: $(VENV)/.docs-installed
	rm -rf docs/_build docs/generated
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check bayesmix tests notebooks
	$(VENV)/bin/ruff format --check bayesmix tests notebooks
