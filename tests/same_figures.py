"""What a change of the code's shape must not move: every figure and word of a tiny study (with
its probes), of a remedy run (every remedy, their verdicts) and of a judged model, to the digit,
on the machine that recorded them.

A refactor (the house steps) moves code between rooms; it must not move a number. The reference
(``tests/reference/same_figures.json``) was written by ``python -m tests.same_figures --write``
on the code before the change; ``tests/test_same_figures.py`` makes the same figures again and
compares. Training is the same to the last digit only on the same machine (CPU kernels, library
versions: ``tests/figures.py``), so the digits are compared where the machine is the one that
wrote the reference, and elsewhere the job ids, the words and the shape (every key, every
verdict kind) are compared, and the figures within the tolerance they carry.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from pathlib import Path

import pandas as pd

JOB_HASH = re.compile(r"__[0-9a-f]{8}\b")
REFERENCE = Path(__file__).parent / "reference" / "same_figures.json"
SIZE = 48
# what differs between two runs of the same code: where and when it ran, and the files' own paths
# ("missing": the report's list of what a run lacks, which summary.json no longer holds)
VOLATILE = {"missing", "environment", "seconds", "started", "finished", "time", "figure", "written", "out_dir",
            "manifest", "origin", "path", "report", "config", "balance_on", "external", "checkpoint", "run_dir",
            "history"}


def machine() -> dict:
    """What decides whether two trainings agree to the last digit (the CPU, its kernel class, the
    libraries, the threads that sum in parallel)."""
    import numpy as np
    import torch

    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "capability": torch.backends.cpu.get_cpu_capability(), "cpu": cpu or platform.processor(),
            "threads": torch.get_num_threads()}


def _clean(value, root: str):
    """``value`` without what differs between two runs of the same code (paths under ``root``
    shown relative to it)."""
    if isinstance(value, dict):
        return {k: _clean(v, root) for k, v in sorted(value.items())
                if k not in VOLATILE and not k.endswith(("seconds", "per_second"))}
    if isinstance(value, list):
        return [_clean(v, root) for v in value]
    if isinstance(value, str):  # a job id's last part hashes its data files' stamps (their times): not kept
        return JOB_HASH.sub("__<data>", value.replace(root, "<root>"))
    return value


def collect(root: Path) -> dict:
    """Make the figures: a remedy run with every remedy, a tiny study with its probes and the fixed
    box, and the study's original-trained model judged on phantoms it never saw."""
    import cxr_isi as ci
    from cxr_isi.study.runfolder import RunFolder
    from cxr_isi.synth import SynthConfig, generate
    from tests.grids import tiny, write_config

    root.mkdir(parents=True, exist_ok=True)
    generate(SynthConfig(preset="isi", majority_share=0.8, n=160, size=SIZE, seed=0), root / "home", jobs=1)
    generate(SynthConfig(preset="balanced", n=48, size=SIZE, seed=1000), root / "ext", jobs=1)
    generate(SynthConfig(preset="isi", n=64, size=SIZE, seed=5), root / "judged_on", jobs=1)
    remedy = ci.remedy(root / "home" / "manifest.csv", positive="covid", out=root / "remedy",
                       external=root / "ext" / "manifest.csv", size=SIZE, epochs=2, loso_min_per_class=3)
    cfg = tiny()
    for d in cfg["datasets"]:
        d["synthetic"]["n"] = 64
    cfg["fixed_box"] = {"enabled": True, "variants": ["lungs_boxed_out"]}
    cfg["probes"] = {"enabled": True, "swap_pairs": 6, "acquisition_block": 8}
    run = ci.run_experiment(write_config(root / "tiny.yaml", cfg), out=root / "run")
    ci.write_report(run)
    folder = RunFolder(root / "run")
    original = next(j for j in folder.job_list() if j["dataset"] == "isi" and j["variant"] == "original"
                    and j["protocol"] == "split")
    judged = ci.judge(folder.checkpoint(original["id"]), root / "judged_on" / "manifest.csv", out=root / "judged",
                      positive="covid", swap_pairs=12, map_images=4)
    out: dict = {}
    for name, where in (("remedy", root / "remedy"), ("study", root / "run")):
        out[name] = {"jobs": sorted(JOB_HASH.sub("__<data>", j["id"]) for j in RunFolder(where).job_list()),
                     "summary": json.loads((where / "summary.json").read_text()),
                     "results": pd.read_csv(where / "results.csv").sort_values(["job_id", "test_dataset"])
                     .to_dict("records")}
    out["remedy"]["table"] = remedy.table.to_dict("records")
    out["judged"] = {"summary": json.loads((judged.out_dir / "summary.json").read_text()),
                     "judge": json.loads((judged.out_dir / "judge.json").read_text())}
    return json.loads(json.dumps(_clean(out, str(root)), default=str))


if __name__ == "__main__":
    import tempfile

    if "--write" not in sys.argv:
        sys.exit("usage: python -m tests.same_figures --write   (writes the reference from the code as it is)")
    with tempfile.TemporaryDirectory() as tmp:
        figures = collect(Path(tmp))
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps({"machine": machine(), "figures": figures}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {REFERENCE}")
