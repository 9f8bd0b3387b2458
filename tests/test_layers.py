"""The stages import in one direction only: a stage may use the ones before it, never after."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cxr_isi"
ORDER = ["data", "synth", "audit", "lungs", "models", "train", "evaluate", "explain", "probes", "experiments",
         "report"]


def imported_stages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for n in names:
            parts = n.split(".")
            if parts[0] == "cxr_isi" and len(parts) > 1 and parts[1] in ORDER:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("stage", ORDER)
def test_stage_imports_only_earlier_stages(stage):
    rank = ORDER.index(stage)
    for path in sorted((SRC / stage).rglob("*.py")):
        later = {s for s in imported_stages(path) if ORDER.index(s) > rank}
        assert not later, f"{path.relative_to(SRC)} imports later stages {sorted(later)}"
