"""The remedies on real data (issue 34), as docs/guide/remedies.md reports them: each case one ``ci.remedy``
run folder (resumable) on ../shared/data (cxr256 and nih256), small_cnn at 96 px, 10 epochs, one
training seed:

- ``isi``: cxr256's intra-source imbalanced subset (ieee8023 + Figure1 covid vs Kermany normal,
  every source one class): balancing, GroupDRO and DFR are refused there (no source gives both
  classes); lungs only runs, measured on Actualmed (covid and normal from one other hospital);
- ``both``: cxr256's covid and normal images of every source that gives both (Actualmed,
  Hannover, Figure1 and the ieee8023 publishers with both: a real partial imbalance, about nine
  covid to one normal): all four remedies, measured leaving out each source with 5 or more images
  of each class;
- ``nih``: nih256 (one hospital, pneumonia vs no finding) measured on Kermany (pneumonia vs normal,
  another hospital, children); ``kermany``: the reverse. One source: nothing to balance, the
  groups are the labels; lungs only, GroupDRO (here: class-balanced) and DFR run.

    python benchmarks/remedies_real.py OUT [--shared ../shared/data] [--cases isi,both,nih,kermany]

Writes ``OUT/remedies_real.csv`` (every row of every case's remedy table, with its verdicts) and
``OUT/remedies_real.md`` (the table of docs/guide/remedies.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

SIZE, EPOCHS = 96, 10


def manifests(shared: Path, out: Path) -> dict[str, Path]:
    """The cases' manifests, written under ``OUT/data`` (filtered rows of the shared ones)."""
    from cxr_isi.data.manifest import Manifest

    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    cxr = Manifest.read(shared / "cxr256" / "manifest.csv")
    f = cxr.frame
    two = f[f["label"].isin(["covid", "normal"])]
    both = two.groupby("source")["label"].transform("nunique") == 2
    isi = f[(f["dataset"].isin(["ieee8023", "figure1"]) & (f["label"] == "covid"))
            | ((f["dataset"] == "kermany") & (f["label"] == "normal"))]
    written = {"isi": isi, "actualmed": two[two["dataset"] == "actualmed"],
               "both": two[both & (two["dataset"] != "kermany")], "kermany": f[f["dataset"] == "kermany"]}
    paths = {}
    for name, rows in written.items():
        cxr.with_frame(rows).write(data / f"{name}.csv")
        paths[name] = data / f"{name}.csv"
    paths["nih"] = shared / "nih256" / "manifest.csv"
    return paths


def cases(paths: dict[str, Path]) -> dict[str, dict]:
    pneumonia = {"positive": ["pneumonia", "other_pneumonia"], "negative": ["normal"]}
    covid = {"positive": ["covid"], "negative": ["normal"]}
    one_source = ["lungs_only", "group_dro", "dfr"]
    return {
        "isi": {"manifest": paths["isi"], "labels": covid, "external": [paths["actualmed"]], "remedies": ["lungs_only"],
                "loso": False},
        "both": {"manifest": paths["both"], "labels": covid, "external": [], "remedies": None, "loso": True},
        "nih": {"manifest": paths["nih"], "labels": pneumonia, "external": [paths["kermany"]], "remedies": one_source,
                "loso": False},
        "kermany": {"manifest": paths["kermany"], "labels": pneumonia, "external": [paths["nih"]],
                    "remedies": one_source, "loso": False},
    }


def run_cases(out: Path, shared: Path, names: list[str]) -> pd.DataFrame:
    import cxr_isi as ci

    rows = []
    for name, c in cases(manifests(shared, out)).items():
        if name not in names:
            continue
        t0 = time.perf_counter()
        r = ci.remedy(c["manifest"], positive=c["labels"]["positive"], negative=c["labels"]["negative"],
                      out=out / name, external=c["external"] or None, remedies=c["remedies"], size=SIZE,
                      epochs=EPOCHS, seed=0, jobs=2, loso=c["loso"])
        seconds = time.perf_counter() - t0
        for x in r.table.to_dict("records"):
            v = r.verdicts.get(x["remedy"], {})
            rows.append({"case": name, "seconds": seconds, "kind": r.kind, "sentence": r.sentence, **x,
                         "verdict": v.get("verdict_kind", "") + (f" ({v['what']})" if v.get("what") else "")})
        print(f"{name}: {r.kind}: {r.sentence} ({seconds:.0f} s)", flush=True)
    return pd.DataFrame(rows)


def markdown(t: pd.DataFrame) -> str:
    def fig(v, lo, hi, signed=False):
        if v != v or v is None:
            return "–"
        f = "{:+.2f}" if signed else "{:.2f}"
        return f.format(v) + ("" if lo != lo or lo is None else f" ({f.format(lo)} to {f.format(hi)})")

    lines = ["| case | remedy | home AUC | boxed-out AUC (test time) | elsewhere | AUC elsewhere (95% CI) | "
             "vs plain, paired (95% CI) | what the model reads |", "|---|---|---|---|---|---|---|---|"]
    for (case, remedy), g in t.groupby(["case", "remedy"], sort=False):
        m = g.set_index("measure")
        away = [x for x in m.index if x not in ("home", "boxed_out")]
        for i, where in enumerate(away or ["–"]):
            e = m.loc[where] if where in m.index else None
            lines.append(
                f"| {case} | {remedy} | {fig(*m.loc['home', ['value', 'ci_low', 'ci_high']]) if i == 0 else ''} | "
                f"{fig(*m.loc['boxed_out', ['value', 'ci_low', 'ci_high']]) if i == 0 else ''} | "
                f"{where if e is None else (e['test'] if where == 'loso' else where)} | "
                f"{'–' if e is None else fig(e['value'], e['ci_low'], e['ci_high'])} | "
                f"{'–' if e is None or remedy == 'plain' else fig(e['diff'], e['diff_low'], e['diff_high'], True)} | "
                f"{g['verdict'].iloc[0] if i == 0 else ''} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--cases", default="isi,both,nih,kermany")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    table = run_cases(a.out, a.shared, a.cases.split(","))
    table.to_csv(a.out / "remedies_real.csv", index=False)
    (a.out / "remedies_real.md").write_text(markdown(table))
    print(markdown(table))
