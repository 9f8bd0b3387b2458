"""Does ``requirements/app.lock`` still answer ``pyproject.toml``?

The application installs from the lock (``make demo``, ``make test``, ``.ci/run``); library users
install ``pyproject.toml``'s ranges. The two disagree when a requirement was added, removed or
narrowed in ``pyproject.toml`` and the lock was not made again (``make lock``). This reads both and
names each disagreement: a requirement of the extras the Makefile installs that the lock does not
pin, or pins outside its range, and a pin the lock says ``pyproject.toml`` asked for that it no
longer asks for.

Written by hand: ``pip-compile --dry-run`` answers the same only by resolving again (minutes, and
a registry), and pip-tools has no check mode (``uv lock --check`` does, for uv's own lock).
``python tests/lockfile.py`` prints one line per disagreement and exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "app.lock"
PYPROJECT = REPO / "pyproject.toml"
EXTRAS = ("torch", "dev")  # what the Makefile installs (EXTRAS there)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.M)
DIRECT = "cxr-isi (pyproject.toml)"


def pins(lock_text: str) -> dict[str, str]:
    """``{name: version}`` of every package the lock pins (names canonical)."""
    return {canonicalize_name(m.group(1)): m.group(2) for m in PIN.finditer(lock_text)}


def entries(lock_text: str) -> dict[str, str]:
    """``{name: its entry}``: each pin with its hashes and its ``# via`` notes."""
    found = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock_text):
        m = PIN.match(block)
        if m:
            found[canonicalize_name(m.group(1))] = block
    return found


def asked_for(lock_text: str) -> set[str]:
    """Names the lock says it pinned because ``pyproject.toml`` asked for them (its ``# via`` notes)."""
    return {name for name, block in entries(lock_text).items() if DIRECT in block}


def requirements(pyproject_text: str, extras: tuple[str, ...] = EXTRAS) -> list[Requirement]:
    """The requirements the application installs: the dependencies and the Makefile's extras, those
    whose markers hold on this machine."""
    project = tomllib.loads(pyproject_text)["project"]
    listed = list(project["dependencies"])
    for extra in extras:
        listed += project["optional-dependencies"][extra]
    env = default_environment()
    found = []
    for text in listed:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
            found.append(req)
    return found


def disagreements(pyproject_text: str, lock_text: str, extras: tuple[str, ...] = EXTRAS) -> list[str]:
    """Each way the lock no longer answers ``pyproject.toml``, one sentence each (empty: it does)."""
    locked = pins(lock_text)
    wanted = requirements(pyproject_text, extras)
    problems = []
    for req in wanted:
        name = canonicalize_name(req.name)
        if name not in locked:
            problems.append(f"pyproject.toml asks for {req} and the lock pins no {req.name}")
        elif not req.specifier.contains(locked[name], prereleases=True):
            problems.append(f"pyproject.toml asks for {req} and the lock pins {req.name}=={locked[name]}")
    for name in sorted(asked_for(lock_text) - {canonicalize_name(r.name) for r in wanted}):
        problems.append(f"the lock pins {name}=={locked[name]} for pyproject.toml, which no longer asks for it")
    return problems


def main() -> int:
    problems = disagreements(PYPROJECT.read_text(), LOCK.read_text())
    for line in problems:
        print(f"{LOCK.relative_to(REPO)}: {line}; run `make lock`")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
