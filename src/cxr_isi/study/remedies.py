"""The remedy table of a run: for plain training and each remedy, what it scores at home, at home
without the lungs, on each external set and leave-one-source-out, each with its 95% interval, and
its paired difference to plain training on the same images (:func:`remedy_table`); then the
decision of :mod:`cxr_isi.verdict.remedy` on it (:func:`remedy_summary`).

Intervals: one training seed gives DeLong's interval (paired DeLong for a difference); several
give the mean over seeds with a t interval (a seed is the unit: its split is the same, its model
another draw). Leave-one-source-out gives one AUC per left-out source: the mean over those
sources (and seeds) with a t interval over sources, the sources being the units of "elsewhere".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi.config import parse_model
from cxr_isi.data.labels import LabelMapping
from cxr_isi.data.manifest import Manifest, RowFilter
from cxr_isi.errors import CxrIsiError
from cxr_isi.evaluate.metrics import delong_test, mean_ci
from cxr_isi.remedies import PLAIN, check_external
from cxr_isi.study.config import ExperimentConfig
from cxr_isi.study.runfolder import RunFolder, read_json
from cxr_isi.verdict import remedy as rule
from cxr_isi.verdict.model import RULE as MODEL_RULE  # what each remedied model's verdict follows

HOME, BOXED_OUT, LOSO = "home", "boxed_out", "loso"
VERDICT = "verdict.json"  # remedies/<dataset>/<remedy>/: what the remedied model reads (study.remedy_judge)


def _figure(values: list[float], single: dict | None, clip: bool = True) -> dict:
    """An AUC (or a difference) with its interval: DeLong's for one value, a t interval over
    several."""
    values = [v for v in values if v == v]
    if not values:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    if len(values) == 1 and single is not None:
        return {"value": float(values[0]), "ci_low": single.get("ci_low"), "ci_high": single.get("ci_high"), "n": 1}
    ci = mean_ci(np.array(values), clip=clip)
    low, high = ci["ci_low"], ci["ci_high"]
    if not clip and low == low:  # a difference of two AUCs lies in [-1, 1] (two seeds' t interval does not)
        low, high = max(-1.0, low), min(1.0, high)
    return {"value": float(np.mean(values)), "ci_low": low, "ci_high": high, "n": len(values)}


def _count(value) -> int:
    """A count from a results row (absent, None or NaN in a run made before it was counted: 0)."""
    return 0 if value is None or value != value else int(value)


def _paired(run: RunFolder, mine: pd.DataFrame, plain: pd.DataFrame) -> dict:
    """The AUC difference to plain training on the same images, seed by seed."""
    diffs, single = [], None
    for seed, row in mine.groupby("seed"):
        base = plain[plain["seed"] == seed]
        if base.empty:
            continue
        a, b = run.predictions(row["predictions"].iloc[0]), run.predictions(base["predictions"].iloc[0])
        both = a.merge(b, on="id", suffixes=("", "_plain"))
        if len(np.unique(both["label"])) < 2:
            continue
        d = delong_test(both["label"].to_numpy(), both["score"].to_numpy(), both["score_plain"].to_numpy())
        diffs.append(d["difference"])
        single = d
    return _figure(diffs, single, clip=False)


def remedy_table(run: RunFolder, results: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One row per (remedy, measure): ``remedy, measure, test, value, ci_low, ci_high, n,
    images, left_out_home`` (an external set's images left out as home's own, by path or near-identical
    content), ``diff, diff_low, diff_high`` (the measure: ``home``, ``boxed_out``, ``loso``, or an external
    set's name); empty where the run trained no remedy."""
    if results.empty or "remedy" not in results.columns:
        return pd.DataFrame()
    r = results[(results["train_dataset"] == dataset) & results["protocol"].isin(["remedy", "loso"])]
    rows = []
    for name in dict.fromkeys(r["remedy"].dropna()):
        mine = r[r["remedy"] == name]
        plain = r[r["remedy"] == PLAIN]
        home = mine[(mine["protocol"] == "remedy") & (mine["test_dataset"] == dataset)]
        measures = [(HOME, dataset, home[home["test_variant"] == home["variant"]]),
                    (BOXED_OUT, dataset, home[home["test_variant"] == "lungs_boxed_out"])]
        for test in sorted(set(mine["test_dataset"]) - {dataset}):
            measures.append((test, test, mine[(mine["protocol"] == "remedy") & (mine["test_dataset"] == test)]))
        for measure, test, rows_of in measures:
            if rows_of.empty:
                continue
            base = plain[(plain["protocol"] == "remedy") & (plain["test_dataset"] == test)]
            base = base[base["test_variant"] == ("lungs_boxed_out" if measure == BOXED_OUT else base["variant"])]
            one = rows_of.iloc[0]
            fig = _figure(rows_of["auc"].tolist(), {"ci_low": one.get("auc_ci_low"), "ci_high": one.get("auc_ci_high")})
            diff = _paired(run, rows_of, base) if name != PLAIN else {"value": None, "ci_low": None, "ci_high": None}
            held = 0 if test == dataset else sum(_count(one.get(k)) for k in
                                                  ("left_out_seen_in_training", "left_out_held_by_home"))
            rows.append({"remedy": name, "measure": measure, "test": test, **fig, "images": int(one["n"]),
                         "left_out_home": held,
                         "diff": diff["value"], "diff_low": diff["ci_low"], "diff_high": diff["ci_high"]})
        loso = mine[mine["protocol"] == "loso"]
        if len(loso):
            per_source = loso.groupby("holdout")["auc"].mean()
            fig = _figure(per_source.tolist(), None if len(per_source) > 1 else
                          {"ci_low": loso["auc_ci_low"].iloc[0], "ci_high": loso["auc_ci_high"].iloc[0]})
            diff = {"value": None, "ci_low": None, "ci_high": None}
            if name != PLAIN:
                base = plain[plain["protocol"] == "loso"].groupby("holdout")["auc"].mean()
                common = per_source.index.intersection(base.index)
                d = (per_source[common] - base[common]).tolist()
                diff = _figure(d, None, clip=False) if len(d) > 1 else {"value": d[0] if d else None, "ci_low": None,
                                                            "ci_high": None}
            rows.append({"remedy": name, "measure": LOSO, "test": ", ".join(per_source.index.astype(str)), **fig,
                         "images": int(loso["n"].sum() / max(loso["seed"].nunique(), 1)),
                         "diff": diff["value"], "diff_low": diff["ci_low"], "diff_high": diff["ci_high"]})
    return pd.DataFrame(rows)


def read_remedy_verdicts(run: RunFolder, dataset: str) -> dict[str, dict]:
    """``{remedy: verdict record}`` written by :func:`cxr_isi.study.remedy_judge.remedy_verdicts`
    (empty where none ran)."""
    root = run.root / "remedies" / dataset
    out = {}
    for path in sorted(root.glob(f"*/{VERDICT}")) if root.is_dir() else []:
        record = read_json(path)
        if isinstance(record, dict):
            out[path.parent.name] = record
    return out


def remedy_summary(run: RunFolder, results: pd.DataFrame, dataset: str, external: list[str],
                   sources_left_out: list[str], refused: str = "") -> dict | None:
    """The dataset's "What to do": the table as records, each remedy's verdict (what its model
    reads, by the judge's rule:
    :func:`cxr_isi.study.remedy_judge.remedy_verdicts`), and the remedy rule's decision (which
    remedy helped most, by how much, or that none did and why); None where no remedy ran."""
    table = remedy_table(run, results, dataset)
    if table.empty:
        return None
    decision = rule.decide(table.to_dict("records"), external, sources_left_out)
    found = read_remedy_verdicts(run, dataset)
    verdicts = {name: {k: found[name].get(k) for k in ("verdict_kind", "what", "reason", "measured")}
                for name in dict.fromkeys(table["remedy"]) if name in found}
    return {"table": table.to_dict("records"), "best": decision.what, "sentence": decision.reason,
            "kind": decision.kind, "rule": rule.RULE, "verdicts": verdicts, "verdict_rule": MODEL_RULE,
            "external": external, "sources_left_out": sources_left_out, "refused": refused}


def _refuse_home_copies(home: Manifest, external: list[Path]) -> None:
    """One line where an external set holds nothing but home's own images (the same files, or
    byte copies under other names): what it would score is home again. Part of a set shared with
    home is left out of its test by the study (and counted in the table)."""
    import os

    from cxr_isi.study.plan import file_sha256

    def digest(path: str) -> str | None:
        try:
            return file_sha256(Path(path))
        except OSError:
            return None  # a missing file is named where the set's files are checked

    home_paths = {os.path.realpath(p) for p in home.paths}
    home_digests = {digest(p) for p in home.paths} - {None}
    for p in external:
        paths = Manifest.read(p).paths
        if paths and all(os.path.realpath(q) in home_paths or digest(q) in home_digests for q in paths):
            raise CxrIsiError(f"{p}: every one of its {len(paths)} images is home's own (the same file, or the same "
                              "bytes under another name); an external set comes from elsewhere")


def remedy_config(manifest: Path, mapping: LabelMapping, *, external: list[Path] | None = None,
                  remedies: list[str] | None = None, seeds: int = 1, model: str = "small_cnn", size: int = 128,
                  epochs: int = 20, seed: int = 0, where: list[dict] | None = None, loso_min_per_class: int = 5,
                  balance: str = "subsample", group_robust: str = "dro", loso: bool = True) -> ExperimentConfig:
    """The study ``cxr-isi remedy`` runs: plain training and each remedy on ``manifest``'s original
    images (the same split and seeds), each scored at home, without the lungs, on every external
    manifest (whole) and leave-one-source-out; beside them the study's own verdict (a model on the
    lungs-boxed-out images, with the fixed-box control, on the single split). The external sets
    are checked first (one line).

    Returns
    -------
    ExperimentConfig
    """
    ext = [Path(p) for p in (external or [])]
    seen: dict[Path, Path] = {}
    for p in ext:
        first = seen.setdefault(p.resolve(), p)
        if first is not p:
            raise CxrIsiError(f"{p}: given twice as --external ({first} is the same file); each external set once")
        if p.resolve() == Path(manifest).resolve():
            raise CxrIsiError(f"{p}: the external set is home's own manifest; an external set comes from elsewhere")
    home = Manifest.read(manifest)
    if where:
        home = home.filter(RowFilter.from_data(where))
    home_labels = set(home.frame["label"].astype(str))
    for p in ext:
        check_external(p, mapping, home_labels=home_labels)
    if ext:
        _refuse_home_copies(home, ext)
    names = [f"external{i + 1}" if len(ext) > 1 else "external" for i in range(len(ext))]

    def title(p: Path) -> str:  # "manifest.csv" says nothing: its folder's name does
        return p.parent.name if p.stem == "manifest" and p.parent.name else p.stem

    labels = mapping.model_dump()
    data = {
        "name": "remedies", "description": f"remedies for a shortcut on {Path(manifest).name}", "seed": seed,
        "datasets": [{"name": "home", "title": title(Path(manifest)), "manifest": str(Path(manifest).absolute()),
                      "labels": labels, "filter": where or []},
                     *({"name": n, "title": title(p), "manifest": str(p.absolute()), "labels": labels, "train": False}
                       for n, p in zip(names, ext, strict=True))],
        # the study's own verdict beside the remedies: the boxed-out model and its fixed-box control
        "models": [model], "variants": ["original", "lungs_boxed_out"], "cv": {"folds": 0},
        "fixed_box": {"enabled": True, "variants": ["lungs_boxed_out"], "cv": False},
        "cross": [{"train": "home", "test": n} for n in names],
        "train": {"size": size, "epochs": epochs},
        "remedies": {"enabled": True, "seeds": seeds, "loso": loso, "loso_min_per_class": loso_min_per_class,
                     "balance": balance, "group_robust": group_robust,
                     **({"names": remedies} if remedies is not None else {})},
    }
    return parse_model(ExperimentConfig, data, "cxr-isi remedy")


@dataclass
class RemedyResult:
    """What to do about a shortcut: each remedy against plain training, measured where the model
    never was.

    Attributes
    ----------
    path : Path
        The run folder (``report.html``, ``summary.json``, ``results.csv``).
    table : DataFrame
        One row per remedy (``plain`` first) and measure (``home``, ``boxed_out``, each external
        set, ``loso``): ``value, ci_low, ci_high`` (AUC, 95%), ``diff, diff_low, diff_high`` (the
        paired difference to plain training).
    kind : str
        ``a remedy helped``, ``no remedy helped`` or ``not measured elsewhere``.
    best : str or None
        The remedy that helped most.
    sentence : str
        The decision in one sentence, with its figures.
    verdicts : dict
        Remedy (``plain`` too) -> what its model reads by the judge's rule on the home test
        split (``verdict_kind``, ``what``, ``reason``, ``measured``).
    """

    path: Path
    table: pd.DataFrame
    kind: str
    best: str | None
    sentence: str
    verdicts: dict = field(default_factory=dict)


def remedy_result(out: str | Path, dataset: str = "home") -> RemedyResult:
    """A finished remedy run's result, as its ``summary.json`` holds it.

    Parameters
    ----------
    out : path
        The remedy run folder.
    dataset : str
        The trained dataset's name (``home`` for ``cxr-isi remedy``).

    Returns
    -------
    RemedyResult
    """
    folder = RunFolder(out)
    s = (read_json(folder.summary_path) or {})["datasets"][dataset]["remedies"]
    return RemedyResult(path=Path(out), table=pd.DataFrame(s["table"]), kind=s["kind"], best=s["best"],
                        sentence=s["sentence"], verdicts=s.get("verdicts") or {})
