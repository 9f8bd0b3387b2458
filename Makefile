# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the package with its extras on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= torch,dev
# timm / segmentation-models-pytorch wait for a hub otherwise; this project never downloads at run time.
export HF_HUB_OFFLINE := 1

.PHONY: demo test test-fast bench lint docs docs-serve clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cxr-isi demo --out demo_out

# the suite includes `mkdocs build --strict` (tests/test_docs.py) and runs the tutorials' pages
test: $(STAMP) lint
	$(PY) -m pytest -n 2 --dist loadfile -q --durations=20

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "not realdata and not slow"

bench: $(STAMP)
	$(PY) benchmarks/run.py

# ruff; the layer contract (import-linter, pyproject.toml); the type checker over src/
lint: $(STAMP)
	$(VENV)/bin/ruff check -q src tests benchmarks
	$(VENV)/bin/lint-imports --no-cache > /dev/null || $(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy src/cxr_isi

# the documentation site: built strict into site/, or served with live reload at http://127.0.0.1:8000
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

clean:
	rm -rf $(VENV) demo_out site .pytest_cache
