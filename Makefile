# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the package with its extras on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= torch,dev
# timm / segmentation-models-pytorch wait for a hub otherwise; this project never downloads at run time.
export HF_HUB_OFFLINE := 1

.PHONY: demo test test-fast bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cxr-isi demo --out demo_out

test: $(STAMP)
	$(VENV)/bin/ruff check -q src tests benchmarks
	$(PY) -m pytest -n 2 --dist loadfile -q

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "not realdata and not slow"

bench: $(STAMP)
	$(PY) benchmarks/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo_out .pytest_cache
