"""The stages import in one direction only. The rule itself is an import-linter contract
(``[tool.importlinter]`` in pyproject.toml, checked by ``make lint``, part of ``make test``);
these tests keep the contract honest: it covers every module of the package, it says the same
order as the package docstring, and it breaks when a stage imports a later one."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "cxr_isi"


def contract_layers() -> list[list[str]]:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    return [[m.strip().removeprefix("cxr_isi.") for m in layer.split("|")] for layer in cfg["layers"]]


def test_the_contract_covers_every_module():
    named = {m for layer in contract_layers() for m in layer}
    present = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
               if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert present - named == set(), f"modules outside the layer contract: {sorted(present - named)}"


def test_the_package_docstring_says_the_contracts_order():
    import cxr_isi

    said = re.search(r"``(data ->.*?)``", cxr_isi.__doc__, re.S).group(1).replace("\n", " ").split(" -> ")
    order = [m for layer in reversed(contract_layers()) for m in layer if m in said]
    assert order == [s.strip() for s in said]


@pytest.mark.skipif(shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None,
                    reason="import-linter not installed (pip install -e '.[dev]')")
def test_the_contract_breaks_on_an_import_against_the_flow(tmp_path):
    lint = str(Path(sys.executable).parent / "lint-imports")
    ok = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout[-2000:]
    bad = SRC / "data" / "_layer_probe_tmp.py"
    bad.write_text("from cxr_isi.report import html  # noqa\n")
    try:
        broken = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    finally:
        bad.unlink()
    assert broken.returncode != 0 and "cxr_isi.data is not allowed to import cxr_isi.report" in broken.stdout
