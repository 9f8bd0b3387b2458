"""The remedies' known answer (issue 34), as docs/guide/remedies.md reports it: phantoms whose sources give
both classes with a partial imbalance (majority share 0.7 and 0.9, full fingerprints) and the
``balanced`` control, each over several seeds; the external set is a balanced phantom of other
sources (other fingerprints: seed + 1000). Each (case, seed) is one ``ci.remedy`` run folder
(resumable); the table pairs every remedy with plain training seed by seed on the external set
(mean paired difference, t interval over seeds) and gives the test-time lungs-boxed-out AUC.

    python benchmarks/remedies_known_answer.py OUT [--seeds 5] [--n 160] [--size 64] [--epochs 6]

Writes ``OUT/remedies_known_answer.csv`` (one row per case, seed, remedy and measure) and
``OUT/remedies_known_answer.md`` (the table of docs/guide/remedies.md). LOSO is off here (the external set is the
measuring stick; leave-one-source-out doubles the jobs five times over).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

CASES = (("share 0.7", {"preset": "isi", "majority_share": 0.7}),
         ("share 0.9", {"preset": "isi", "majority_share": 0.9}),
         ("balanced", {"preset": "balanced"}))


def run_cases(out: Path, seeds: int, n: int, size: int, epochs: int) -> pd.DataFrame:
    import cxr_isi as ci
    from cxr_isi.synth import SynthConfig, generate

    rows = []
    for case, block in CASES:
        for k in range(seeds):
            folder = out / case.replace(" ", "_") / f"seed{k}"
            home, ext = folder / "home", folder / "external"
            if not (home / "manifest.csv").is_file():
                generate(SynthConfig(**block, n=n, size=size, seed=k), home, jobs=1)
            if not (ext / "manifest.csv").is_file():
                generate(SynthConfig(preset="balanced", n=n, size=size, seed=k + 1000), ext, jobs=1)
            t0 = time.perf_counter()
            result = ci.remedy(home / "manifest.csv", positive="covid", out=folder / "run",
                               external=ext / "manifest.csv", size=size, epochs=epochs, seed=k, jobs=2, loso=False)
            seconds = time.perf_counter() - t0
            for r in result.table.to_dict("records"):
                rows.append({"case": case, "seed": k, "seconds": seconds, **r})
            print(f"{case} seed {k}: {result.kind}: {result.sentence[:160]} ({seconds:.0f} s)", flush=True)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per case and remedy: the external AUC (mean over seeds), the paired difference to plain
    (mean, t interval over seeds), and the test-time boxed-out AUC (mean)."""
    from cxr_isi.evaluate.metrics import mean_ci

    rows = []
    for (case, remedy), g in table.groupby(["case", "remedy"], sort=False):
        ext, box, home = (g[g["measure"] == m] for m in ("external", "boxed_out", "home"))
        d = ext["diff"].dropna().to_numpy(float)
        ci = mean_ci(d, clip=False) if len(d) > 1 else {"ci_low": np.nan, "ci_high": np.nan}
        e = mean_ci(ext["value"].to_numpy(float))
        rows.append({"case": case, "remedy": remedy, "seeds": len(ext), "home": home["value"].mean(),
                     "boxed_out": box["value"].mean(), "external": e["mean"], "external_low": e["ci_low"],
                     "external_high": e["ci_high"], "diff": d.mean() if len(d) else np.nan,
                     "diff_low": ci["ci_low"], "diff_high": ci["ci_high"],
                     "helped_in_seeds": int((ext["diff_low"] > 0).sum())})
    return pd.DataFrame(rows)


def markdown(s: pd.DataFrame) -> str:
    f = lambda v: "–" if v != v else f"{v:.2f}"  # noqa: E731
    lines = ["| case | remedy | seeds | home AUC | boxed-out AUC (test time) | external AUC (95% CI over seeds) | "
             "vs plain, paired (95% CI over seeds) | seeds where it helped |", "|---|---|---:|---|---|---|---|---:|"]
    for r in s.itertuples():
        diff = "–" if r.remedy == "plain" else f"{r.diff:+.3f} ({r.diff_low:+.3f} to {r.diff_high:+.3f})"
        lines.append(f"| {r.case} | {r.remedy} | {r.seeds} | {f(r.home)} | {f(r.boxed_out)} | "
                     f"{f(r.external)} ({f(r.external_low)}-{f(r.external_high)}) | {diff} | "
                     f"{'' if r.remedy == 'plain' else r.helped_in_seeds} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n", type=int, default=160)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=6)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    table = run_cases(a.out, a.seeds, a.n, a.size, a.epochs)
    table.to_csv(a.out / "remedies_known_answer.csv", index=False)
    s = summary(table)
    (a.out / "remedies_known_answer.md").write_text(markdown(s))
    print(markdown(s))
