"""The application installs from ``requirements/app.lock``; the lock answers ``pyproject.toml``,
and a lock that no longer does is named (``tests/lockfile.py``, run by ``make lint``)."""

from __future__ import annotations

from tests.lockfile import LOCK, PYPROJECT, REPO, disagreements, entries, pins

PROJECT = """
[project]
dependencies = ["numpy>=1.24", "pandas>=2.0"]
[project.optional-dependencies]
torch = ["torch>=2.4"]
dev = ["pytest>=8"]
"""
LOCKED = """
numpy==2.4.6 \\
    --hash=sha256:aa
    # via
    #   cxr-isi (pyproject.toml)
    #   pandas
pandas==3.1.1 \\
    --hash=sha256:bb
    # via cxr-isi (pyproject.toml)
torch==2.14.1 \\
    --hash=sha256:cc
    # via cxr-isi (pyproject.toml)
pytest==9.0.0 \\
    --hash=sha256:dd
    # via cxr-isi (pyproject.toml)
"""


def test_the_shipped_lock_answers_pyproject():
    assert not disagreements(PYPROJECT.read_text(), LOCK.read_text())
    locked = pins(LOCK.read_text())
    assert locked["torch"] and locked["scikit-learn"] and locked["pytest"]
    assert not [name for name, entry in entries(LOCK.read_text()).items() if "--hash=sha256:" not in entry]


def test_the_makefile_installs_the_lock_with_its_hashes():
    makefile = (REPO / "Makefile").read_text()
    assert "--require-hashes -r $(LOCK)" in makefile and "LOCK   := requirements/app.lock" in makefile
    assert "-e \".[" not in makefile  # no install from the ranges


def test_a_lock_that_no_longer_answers_is_named():
    assert not disagreements(PROJECT, LOCKED)
    narrowed = PROJECT.replace("numpy>=1.24", "numpy>=2.5")
    assert disagreements(narrowed, LOCKED) == [
        "pyproject.toml asks for numpy>=2.5 and the lock pins numpy==2.4.6"]
    added = PROJECT.replace('"pytest>=8"', '"pytest>=8", "hypothesis>=6"')
    assert disagreements(added, LOCKED) == ["pyproject.toml asks for hypothesis>=6 and the lock pins no hypothesis"]
    removed = PROJECT.replace('"pandas>=2.0"', "").replace('"numpy>=1.24", ', '"numpy>=1.24"')
    assert disagreements(removed, LOCKED) == [
        "the lock pins pandas==3.1.1 for pyproject.toml, which no longer asks for it"]


def test_a_requirement_for_another_platform_is_not_asked_of_this_lock():
    other = PROJECT.replace('"pytest>=8"', '"pytest>=8", "pywin32>=300; sys_platform == \'win32\'"')
    assert not disagreements(other, LOCKED)
