# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv on first use and installs the application from the lock: every package at
# the version, and with the hashes, that requirements/app.lock names (the extras torch and dev of
# pyproject.toml, which keeps open ranges for those who install the package into their own
# environment). `make lock` makes the lock again after pyproject.toml changed (UPGRADE=1: every
# package to its newest release in range); `tests/lockfile.py`, in `make lint`, says where the two disagree.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK   := requirements/app.lock
LOCKER := .venv-lock
# timm / segmentation-models-pytorch wait for a hub otherwise; this project never downloads at run time.
export HF_HUB_OFFLINE := 1

.PHONY: demo test test-fast bench lint lock docs docs-serve clean

$(STAMP): $(LOCK) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# pip-tools rather than uv: pip-compile resolves with pip, which reads this machine's pip settings
# (the PyTorch wheels kept on disk); uv looks only at the registry, a CUDA build of several GB.
lock:
	test -x $(LOCKER)/bin/pip-compile || { $(PYTHON) -m venv $(LOCKER) \
		&& $(LOCKER)/bin/pip install -q pip==26.3 pip-tools==7.7.0; }
	$(LOCKER)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --extra torch --extra dev -c requirements/pins.txt \
		$(if $(UPGRADE),--upgrade) -o $(LOCK) pyproject.toml

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
	$(PY) tests/lockfile.py
	$(VENV)/bin/ruff check -q src tests benchmarks
	$(VENV)/bin/lint-imports --no-cache > /dev/null || $(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy src/cxr_isi

# the documentation site: built strict into site/, or served with live reload at http://127.0.0.1:8000
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

clean:
	rm -rf $(VENV) $(LOCKER) demo_out site .pytest_cache
