"""The house steps move code, not numbers: a tiny study with its probes, a remedy run with every
remedy and their verdicts, and a judged model give the figures and words of the reference made
before the move (``tests/same_figures.py`` says how), to the digit on the machine that made it;
on another machine the same job ids and the same shape."""

import json
import math

import pytest

pytest.importorskip("torch")
from tests.same_figures import REFERENCE, collect, machine  # noqa: E402


def _differences(got, want, where: str = "", exact: bool = True) -> list[str]:
    """Where ``got`` is not ``want``: every key the same, and (``exact``) every word and figure
    the same to the digit. Elsewhere the shape alone: a tiny run's figures (an AUC on a dozen
    images) move across CPUs by more than any tolerance a documented figure carries."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{where}: keys {sorted(set(got) ^ set(want))}"] if set(got) != set(want) else []
        return out + [d for k in want if k in got for d in _differences(got[k], want[k], f"{where}.{k}", exact)]
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{where}: {len(got)} items, the reference {len(want)}"]
        pairs = enumerate(zip(got, want, strict=True))
        return [d for i, (g, w) in pairs for d in _differences(g, w, f"{where}[{i}]", exact)]
    numbers = (int, float)
    if isinstance(want, numbers) and isinstance(got, numbers) and not isinstance(want, bool):
        same = not exact or got == want or (math.isnan(got) and math.isnan(want))
        return [] if same else [f"{where}: {got!r}, the reference {want!r}"]
    if isinstance(want, str) and isinstance(got, str) and not exact:
        return []  # sentences quote the figures
    return [] if got == want else [f"{where}: {got!r}, the reference {want!r}"]


@pytest.mark.slow
def test_the_figures_are_those_of_the_reference(tmp_path):
    reference = json.loads(REFERENCE.read_text())
    got = collect(tmp_path)
    for name in ("remedy", "study"):  # the same jobs wherever it runs
        assert got[name]["jobs"] == reference["figures"][name]["jobs"], name
    same_machine = machine() == reference["machine"]
    found = _differences(got, reference["figures"], exact=same_machine)
    how = "to the digit: the machine that wrote it" if same_machine else "in shape: another machine"
    assert not found, f"{len(found)} differences from the reference ({how}):\n" + "\n".join(found[:30])


def test_a_moved_figure_is_found():
    want = {"a": {"auc": 0.81, "words": "reads the lungs"}, "jobs": ["x"]}
    assert not _differences(json.loads(json.dumps(want)), want)
    assert _differences({"a": {"auc": 0.8100001, "words": "reads the lungs"}, "jobs": ["x"]}, want)
    assert _differences({"a": {"auc": 0.81, "words": "reads the frame"}, "jobs": ["x"]}, want)
    assert _differences({"a": {"auc": 0.81}, "jobs": ["x"]}, want)
    assert not _differences({"a": {"auc": 0.84, "words": "x"}, "jobs": ["x"]}, want, exact=False)
    assert _differences({"a": {"auc": 0.84}, "jobs": ["x"]}, want, exact=False)
