"""The tutorials run as written (``docs/tutorials/*.md``, each in an empty folder) and print what
their pages show; the summaries they write have every key documented on the summary.json page."""

from __future__ import annotations

import json
import re

import pytest

from tests.grids import REPO
from tests.tutorials import run_page

PAGES = sorted((REPO / "docs" / "tutorials").glob("*.md"))


def _keys(value, depth: int) -> set[str]:
    if not isinstance(value, dict) or depth == 0:
        return set()
    found = set(value)
    for v in value.values():
        found |= _keys(v, depth - 1)
    return found


def _documented(summary: dict, skip: set[str]) -> list[str]:
    page = (REPO / "docs" / "reference" / "summary-json.md").read_text()
    listed = set(re.findall(r"`([a-z_]+)`", page))
    found = set(summary)
    for name, entry in summary.get("datasets", {}).items():
        skip = skip | {name}
        found |= set(entry)
    for entry in summary.get("cross", []):
        found |= set(entry)
    return sorted(found - listed - skip)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_the_tutorial_runs_as_written(page, tmp_path):
    pytest.importorskip("torch")
    problems = run_page(page, tmp_path)
    assert not problems, "\n".join(problems)
    if page.stem == "study":
        assert not _documented(json.loads((tmp_path / "run" / "summary.json").read_text()), set())
    if page.stem == "judge-your-model":
        assert not _documented(json.loads((tmp_path / "judged" / "summary.json").read_text()), set())
