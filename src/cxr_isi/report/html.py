"""``cxr-isi report RUN_DIR``: one self-contained HTML page (figures embedded) and
``summary.json`` with the same numbers. A run with missing pieces gets a report that says what
is missing.

Sections: 1 verdicts, 2 what the model reads (the probes), 3 audit, 4 image sets, 5 ROC per
dataset and variant, 6 cross-dataset test, 7 cross-validation and DeLong, 8 explanations and lung
attention, 9 how the run was made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import nan
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from markupsafe import Markup

from cxr_isi._io import atomic_write
from cxr_isi.errors import CxrIsiError
from cxr_isi.evaluate.text import interval_text
from cxr_isi.logs import get_logger
from cxr_isi.lungs.hideseek import image_set_title
from cxr_isi.probes import probes
from cxr_isi.report import blocks, figures
from cxr_isi.report.sentences import cross_sentence
from cxr_isi.study.runfolder import (
    ATTENTION,
    CONFIG_JSON,
    CV,
    SANITY,
    SEPARATION,
    SPLIT,
    TRUTH,
    RunFolder,
    read_json,
)
from cxr_isi.study.tables import load_run
from cxr_isi.verdict.kinds import ACQUISITION, CAUSE, GEOMETRY, NONE, SHORTCUT, SOURCE, DatasetVerdict

log = get_logger("report")
SECTIONS = ("Verdict", "What the model reads", "Audit: sources and labels", "The image sets", "ROC per dataset and image set",
            "Cross-dataset test", "Cross-validation", "Explanations", "How this run was made")

WHAT_TO_DO = "What to do"  # a section of its own where remedies ran (cxr-isi remedy)
def _auc_ci(r: dict) -> str:
    """``0.946 (0.90-0.99)``: an AUC and its interval in one cell that never wraps."""
    return interval_text(r.get("auc", nan), r.get("auc_ci_low", nan), r.get("auc_ci_high", nan), digits=3,
                         style="short", absent="–")


def _pair(r: dict, a: str, b: str) -> str:
    return " / ".join(blocks.cell(r.get(k, nan), 2) for k in (a, b))


REGION_WORDS = {"fingerprint": "on the source marks", "lesion": "on the lesions", "lungs": "in the lungs"}


def _truth_answers(truth: pd.DataFrame) -> pd.DataFrame:
    """One row per explainer and model: the share of its maps' relevance on the marks, on the
    lesions and in the lungs (95% interval), each against the region's share of the image (what a
    map spread at random scores). The long table (every region, pointing) is the CSV."""
    rows = []
    for (method, train, test), g in truth.groupby(["method", "train_dataset", "test_dataset"], sort=False):
        row = {"explainer": METHOD_NAMES.get(method, method), "model trained on": train, "maps on": test}
        for region, words in REGION_WORDS.items():
            r = g[g["region"] == region]
            row[words] = _share(r.iloc[0]) if len(r) else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def _share(r: pd.Series) -> str:
    """``0.41 (0.35-0.47) / 0.08``: a map's mass in a region with its interval, then the region's area."""
    return f"{r['mass']:.2f} ({r['mass_ci_low']:.2f}-{r['mass_ci_high']:.2f}) / {r['area']:.2f}"


def _separation_answers(sep: pd.DataFrame) -> pd.DataFrame:
    """One row per question (test set, region, which model more than which), one column per
    explainer: its AUC with the DeLong interval."""
    rows = []
    for (test, region, more, than), g in sep.groupby(["test_dataset", "region", "more_in", "than_in"], sort=False):
        row = {"maps on": test, "region": REGION_WORDS.get(region, region), "more than": f"{more} > {than}"}
        for r in g.to_dict("records"):
            row[METHOD_NAMES.get(r["method"], r["method"])] = _auc_ci(r)
        rows.append(row)
    return pd.DataFrame(rows)


METHOD_NAMES = {"lime": "LIME", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++",
                "integrated_gradients": "Integrated Gradients"}
# What each explainer's panel shows: one caption per method, not LIME's under every figure.
METHOD_LEGENDS = {
    "lime": "LIME: the top-5 superpixels, green for and red against the positive class (the paper's Figures 10 "
            "and 11).",
    "gradcam": "Grad-CAM: the last convolutional layer's activations weighted by the positive class's gradient, "
               "upsampled; warm where the evidence for the positive class lies.",
    "gradcam++": "Grad-CAM++: Grad-CAM with per-pixel weights (several regions of one class are each credited); "
                 "warm where the evidence for the positive class lies.",
    "integrated_gradients": "Integrated Gradients: each pixel's attribution to the positive logit along the path "
                            "from a black image, at full resolution; warm where it raised the score (negative "
                            "attributions not shown).",
}


def check_sweep(sweep_dir: str | Path | None) -> None:
    """A ``--sweep`` folder that is not there is one line, before any work."""
    if sweep_dir is not None and not Path(sweep_dir).is_dir():
        raise CxrIsiError(f"{sweep_dir}: no such sweep folder (--sweep takes a folder made by cxr-isi sweep)")


class _Report:
    def __init__(self, run_dir: Path, sweep_dir: Path | None = None):
        check_sweep(sweep_dir)
        self.sweep_dir = sweep_dir
        self.folder = RunFolder(run_dir)
        self.dir = self.folder.root
        if not self.folder.is_run():
            raise CxrIsiError(f"{self.dir}: not a run folder (no {CONFIG_JSON}; make one with cxr-isi run)")
        self.run = load_run(self.dir)
        self.cfg = self.run["config"]
        self.res = self.run["results"]
        self.fig_dir = self.folder.figures_dir
        self.titles = {d["name"]: d.get("title") or d["name"] for d in self.cfg.get("datasets", [])}
        self.model = (self.cfg.get("models") or [None])[0]
        summary = read_json(self.folder.summary_path)
        if not isinstance(summary, dict):
            raise CxrIsiError(f"{self.folder.summary_path}: missing or unreadable; a run writes its verdicts there as "
                              "its last stage: finish it with cxr-isi run, or write the report with cxr-isi report "
                              "(which decides them first)")
        self.summary: dict = summary
        self.missing: list[str] = []

    def note_missing(self, what: str) -> Markup:
        self.missing.append(what)
        return blocks.missing(what)

    # 1
    def verdicts(self) -> str:
        parts = []
        for d in self.summary["datasets"].values():
            kind = d.get("verdict_kind", d["verdict"])
            cls = {SOURCE: "shortcut", ACQUISITION: "shortcut", CAUSE: "shortcut", GEOMETRY: "partial",
                   NONE: "none"}.get(kind, "")
            tags = ([f"audit: {d['audit_verdict']}, Cramér's V {d['cramers_v']:.2f}"]
                    if d.get("audit_verdict") and d.get("cramers_v") is not None else []) + [str(d["auc_from"])]
            ext = (d.get("external_estimate") or {}).get("sentence")
            strength = d["strength"] + (f" {ext[0].upper()}{ext[1:]} (the documentation: 'What it will score elsewhere')."
                                        if ext else "")
            parts.append(blocks.parts().verdict(cls, f"{d['title']}: {kind}", tags, d["reason"].rstrip("."), strength,
                                          d.get("note") or ""))
        parts.append(blocks.parts().para(self.summary["rule"], True))
        if self.summary.get("rule_error_rates"):
            parts.append(blocks.parts().para(self.summary["rule_error_rates"], True))
        for c in self.summary["cross"]:
            parts.append(blocks.parts().para(cross_sentence(c)))
        if not self.summary["cross"]:
            parts.append(blocks.missing("No cross-dataset test in this run (config: cross)."))
        shortcut = [n for n, d in self.summary["datasets"].items()
                    if d.get("verdict_kind") in (SOURCE, ACQUISITION, CAUSE) or d["verdict"] == SHORTCUT]
        if shortcut:
            todo = any(d.get("remedies") for d in self.summary["datasets"].values())
            parts.append(blocks.parts().para("A dataset with a shortcut rewards a classifier for what it can read outside "
                                       "the lungs; its test AUC says nothing about the disease. " + (
                                           "What each remedy did, measured on data the models never saw, is in "
                                           "'What to do' below." if todo else
                                           "Which remedy helps (intra-source balance, lungs only, group-robust "
                                           "training, last-layer retraining), measured on sources the model never "
                                           "saw: cxr-isi remedy MANIFEST -p LABEL --external OTHER.csv.")))
        return blocks.join(parts)

    # after 1, where remedies ran
    def remedies(self) -> str:
        """Per dataset the remedy table (home, without the lungs, elsewhere; paired differences to
        plain training), the figure of the AUC elsewhere by remedy, and the decision's sentence."""
        parts = []
        for name, d in self.summary["datasets"].items():
            r = d.get("remedies")
            if not r:
                continue
            table = pd.DataFrame(r["table"])
            parts.append(blocks.parts().heading(f"{self.titles.get(name, name)}: {r['kind']}"))
            parts.append(blocks.parts().para(r["sentence"][0].upper() + r["sentence"][1:] + "."))
            words = {"home": "home (its test split)", "boxed_out": "home, lungs boxed out (test time)",
                     "loso": "left-out sources (mean over sources)"}
            shown = pd.DataFrame([{
                "remedy": x["remedy"], "measured on": words.get(x["measure"], f"external: {x['measure']}"),
                "images": f"{x['images']} ({x['left_out_home']} left out: home's own)" if x.get("left_out_home")
                else x["images"], "AUC (95% CI)": interval_text(x["value"], x["ci_low"], x["ci_high"])
                if x["value"] is not None and x["value"] == x["value"] else "not computed",
                "vs plain (95% CI)": "–" if x["diff"] is None or x["diff"] != x["diff"] else (
                    f"{x['diff']:+.2f}" + ("" if x["diff_low"] is None or x["diff_low"] != x["diff_low"]
                                           else f" ({x['diff_low']:+.2f} to {x['diff_high']:+.2f})"))}
                for x in r["table"]])
            parts.append(blocks.table(shown, 2, wrap=True))
            if any(m not in ("home", "boxed_out") for m in table["measure"]):
                fig = figures.remedy_figure(table, self.fig_dir / f"remedies_{name}",
                                            f"{self.titles.get(name, name)}: AUC elsewhere by remedy")
                parts.append(blocks.image(fig, f"AUC elsewhere by remedy, {name}", "Each remedy's AUC on data it never "
                                  "saw, with its 95% interval; dashed: plain training's."))
            parts.append(blocks.parts().para(r["rule"], True))
            verdicts = r.get("verdicts") or {}
            if verdicts:
                parts.append(blocks.parts().para("What each model reads (the judge's rule on the home test split, the "
                                           "first training seed's model):"))
                parts.append(blocks.table(pd.DataFrame([{
                    "remedy": k, "reads": v["verdict_kind"] + (f" ({v['what']})" if v.get("what") else ""),
                    "why": v["reason"]} for k, v in verdicts.items()]), 1, wrap=True))
                parts.append(blocks.parts().para(r.get("verdict_rule", ""), True))
        return blocks.join(parts)

    # 2
    def probes(self) -> str:
        """Per dataset the evidence table, and each probe's figure and table as it declares them."""
        parts = []
        for name, d in self.summary["datasets"].items():
            parts.append(blocks.parts().heading(f"{self.titles.get(name, name)}: {d.get('verdict_kind', '')}"))
            rows = [{"evidence": e["probe"], "figure": e.get("figure"),
                     "95% CI": (f"{e['ci_low']:.2f}‑{e['ci_high']:.2f}" if e.get("ci_low") is not None
                                and e.get("ci_high") is not None else "–"),
                     "explains the residual": {True: "yes", False: "no"}.get(e.get("explains"), "–"),
                     "reading": e.get("sentence", "")} for e in d.get("evidence", [])]
            if len(rows) <= 2:
                parts.append(self.note_missing(f"No probes ran on {name} (config: probes.enabled)."))
            parts.append(blocks.table(pd.DataFrame(rows), 2, wrap=True))
            found = self.run.get("probes", {}).get(name, {})
            for probe in probes().values():  # each probe's figure and table, as it declares them
                record = found.get(probe.name) or {}
                fig = record.get("figure")
                if probe.caption and fig and (self.dir / fig).is_file():
                    parts.append(blocks.image(self.dir / fig, f"{probe.name.replace('_', ' ')}, {name}", probe.caption))
                rows = probe.table(record.get("details") or {}) if probe.table else []
                if rows:
                    parts.append(blocks.table(pd.DataFrame(rows), 2, wrap=True))
        return blocks.join(parts) or self.note_missing("No datasets in this run.")

    # 3
    def audit(self) -> str:
        parts = []
        for name, a in self.run["audits"].items():
            parts.append(blocks.parts().heading(self.titles[name]))
            if not a:
                parts.append(self.note_missing(f"No audit for {name}."))
                continue
            parts.append(blocks.parts().para(a["headline"]))
            rows = pd.DataFrame([{"source": s["source"], "positive": s["n_positive"], "negative": s["n_negative"],
                                  "positive share": s["positive_share"], "single class": "yes" if s["single_class"] else ""}
                                 for s in a["sources"]])
            figs = figures.source_label_bars(a, self.fig_dir / f"audit_{name}", self.titles[name])
            parts.append(blocks.image(figs, f"images per source, {name}"))
            parts.append(blocks.table(rows, 2))
            stats = pd.DataFrame([{"images": a["n_images"], "sources": a["n_sources"], "patients": a["n_patients"],
                                   "Cramér's V": a["cramers_v"], "NMI": a["nmi"],
                                   "single-class share": a["single_class_fraction"],
                                   "source-only AUC (out of fold)": a["source_only_auc"]}])
            parts.append(blocks.table(stats, 2))
            acq = pd.DataFrame(a.get("acquisition", []))
            if len(acq):
                constant = acq["note"].astype(str).eq("constant") if "note" in acq.columns else acq["auc"].isna()
                cols = [c for c in ("property", "auc", "oof_auc", "flagged", "note") if c in acq.columns]
                named = ", ".join(acq.loc[constant, "property"].astype(str))
                if constant.all():  # no table of headers without rows
                    parts.append(blocks.parts().para(f"Every acquisition property read is the same for all images "
                                               f"({named}): none of them can carry the label."))
                else:
                    parts.append(blocks.parts().para("Acquisition properties and how well each alone predicts the label "
                                               "(AUC; far from 0.5 either way is a confounder):"))
                    parts.append(blocks.table(acq.loc[~constant, cols], 2))
                    if constant.any():
                        parts.append(blocks.parts().para(f"constant: {named}"))
        return blocks.join(parts) or self.note_missing("No datasets in this run.")

    # 4
    def image_sets(self) -> str:
        from cxr_isi.data.cache import cache_pairs
        from cxr_isi.data.manifest import Manifest
        from cxr_isi.lungs.figure import hide_and_seek_figure

        parts = []
        for name in self.titles:
            path = self.folder.prepared_manifest(name)
            if not path.is_file():
                parts.append(self.note_missing(f"No prepared images for {name}."))
                continue
            frame = Manifest.read(path).frame
            frame = frame[(frame["mask_path"] != "") & (frame.get("lung_qc", "") == "")]
            if frame.empty:
                parts.append(self.note_missing(f"No image of {name} has a usable lung mask."))
                continue
            row = frame.iloc[0]
            size = self.cfg.get("segmentation", {}).get("size", 256)
            im, mk, _, _ = cache_pairs([row["path"]], [row["mask_path"]], size=size, resize="pad", origin=str(path))
            for suffix in (".svg", ".png"):
                out = hide_and_seek_figure(im.get(row["path"]), mk.get(row["mask_path"]) > 127,
                                           self.fig_dir / f"image_sets_{name}{suffix}")
            parts.append(blocks.image(out, f"five image sets, {name}", f"{self.titles[name]}: one image and its "
                              "four modified sets (lung mask by the U-Net)."))
        return blocks.join(parts)

    # 5
    def roc_split(self) -> str:
        if self.res.empty:
            return self.note_missing("No finished jobs: no ROC curves. Run cxr-isi run to make them.")
        curves, rows = {}, []
        own = self.res[(self.res["protocol"] == SPLIT) & (self.res["train_dataset"] == self.res["test_dataset"])]
        for (name, model), g in own.groupby(["train_dataset", "model"], sort=False):
            by_variant = {r.variant: self.folder.labels_scores(r.predictions) for r in g.itertuples()}
            by_variant = {v: ys for v, ys in by_variant.items() if len(np.unique(ys[0])) == 2}
            if by_variant:
                curves[f"{self.titles.get(name, name)} ({model})"] = by_variant
            for r in g.to_dict("records"):
                rows.append({"dataset": name, "model": model, "image set": image_set_title(r["variant"]), "n": r["n"],
                             "AUC (95% CI)": _auc_ci(r), "sens.": r.get("sensitivity", nan),
                             "spec.": r.get("specificity", nan), "acc. (Youden)": r.get("accuracy", nan),
                             "acc. at 0.5": r.get("accuracy_at_05", nan)})
        if not curves:
            return self.note_missing("No single-split results with both classes.") + (blocks.table(pd.DataFrame(rows)) if rows else "")
        out = figures.roc_panels(curves, self.fig_dir / "roc_split")
        return (blocks.image(out, "ROC per dataset and image set", "Test-split ROC of every image set; "
                     "AUC in the legend (the paper's Figures 4 and 5).") + blocks.table(pd.DataFrame(rows)))

    # 6
    def cross(self) -> str:
        if self.res.empty:
            return self.note_missing("No cross-dataset results.")
        cross = self.res[(self.res["protocol"] == SPLIT) & (self.res["train_dataset"] != self.res["test_dataset"])]
        if cross.empty:
            return self.note_missing("No cross-dataset test in this run (config: cross).")
        pairs, rows = {}, []
        for r in cross.to_dict("records"):
            y, s = self.folder.labels_scores(r["predictions"])
            if len(np.unique(y)) == 2:
                pairs[f"{r['train_dataset']} → {r['test_dataset']}"] = (
                    y, s, {"sensitivity": r.get("sensitivity", nan), "specificity": r.get("specificity", nan)})
            rows.append({"trained on": r["train_dataset"], "tested on": r["test_dataset"], "model": r["model"],
                         "n": r["n"], "left out (seen in training)": r.get("left_out_seen_in_training", 0),
                         "AUC (95% CI)": _auc_ci(r), "sens. / spec. at 0.5": _pair(r, "sensitivity_at_05",
                                                                                     "specificity_at_05"),
                         "sens. / spec. (Youden)": _pair(r, "sensitivity", "specificity"),
                         "acc. (Youden)": r.get("accuracy", nan)})
        if not pairs:
            return blocks.table(pd.DataFrame(rows))
        out = figures.cross_panels(pairs, self.fig_dir / "cross_dataset")
        return (blocks.image(out, "cross-dataset ROC", "Trained on one dataset's original images, tested on the "
                     "other's (the paper's Figure 6). Left out: test images the model saw in training, the "
                     "same file or a near-identical one.") + blocks.table(pd.DataFrame(rows)))

    # 7
    def cv(self) -> str:
        if self.res.empty or not (self.res["protocol"] == CV).any():
            return self.note_missing("No cross-validation in this run (config: cv.folds is 0, or no fold finished).")
        cvres = self.res[self.res["protocol"] == CV]
        groups: dict[str, dict] = {}
        for (a, b, variant), g in cvres.groupby(["train_dataset", "test_dataset", "variant"], sort=False):
            folds = self.folder.fold_predictions(g)
            if any(len(np.unique(y)) < 2 for y, _ in folds):
                continue
            key = self.titles.get(a, a) if a == b else f"{a} → {b}"
            groups.setdefault(key, {})[variant] = folds
        parts = []
        if groups:
            out = figures.cv_panels(groups, self.fig_dir / "cross_validation")
            parts.append(blocks.image(out, "cross-validation mean ROC", "Mean ROC over the folds with its 95% "
                              "band; dots: mean Youden point (the paper's Figures 7 to 9)."))
        cv = self.run["cv"]
        if not cv.empty:  # one readable row per group; every column stays in cv.csv
            rows = [{"trained on": r["train_dataset"], "tested on": r["test_dataset"],
                     "image set": image_set_title(r["variant"]), "model": r["model"], "folds": r["folds"],
                     "mean AUC (95% CI)": _auc_ci({"auc": r["auc_mean"], "auc_ci_low": r["auc_ci_low"],
                                                  "auc_ci_high": r["auc_ci_high"]}),
                     "sens. / spec. (mean)": _pair(r, "sensitivity_mean", "specificity_mean"),
                     "acc. (Youden)": r.get("youden_accuracy", nan)} for r in cv.to_dict("records")]
            parts.append(blocks.table(pd.DataFrame(rows)))
        d = self.run["delong"]
        if not d.empty:
            parts.append(blocks.parts().heading("Original vs lungs-boxed-out (DeLong's paired test)"))
            parts.append(blocks.parts().para("Are the two AUCs different on the same images? Significant means hiding the "
                                       "lungs changed what the model can do; not significant on a high AUC means the "
                                       "lungs were not needed."))
            parts.append(blocks.table(d.drop(columns=[c for c in ("protocol",) if c in d.columns]), 4))
        else:
            parts.append(self.note_missing("No DeLong comparison (needs original and lungs_boxed_out)."))
        return blocks.join(parts)

    # 8
    def explanations(self) -> str:
        att = self.run["attention"]
        panels = self.folder.explain_panels()
        if att.empty and not panels:
            return self.note_missing("No explanations in this run (config: explain.enabled).")
        parts = []
        for test, variant, model, method, p in panels:
            parts.append(blocks.image(p, f"{method} on {test}", f"{METHOD_NAMES.get(method, method)} on "
                              f"{self.titles.get(test, test)} test images ({variant}, {model}); one row per model, "
                              f"named by the data it was trained on. {METHOD_LEGENDS.get(method, '')}"))
        if not att.empty:
            out = figures.attention_bars(att, self.fig_dir / "lung_attention")
            parts.append(blocks.image(out, "lung attention", "Share of the positive attribution inside the lungs "
                              "(95% CI) against the lung area, what a map spread at random would score."))
        parts.append(self.explanations_truth())
        written = [n for n in (ATTENTION, TRUTH, SEPARATION, SANITY) if (self.dir / n).is_file()]
        if written:  # every row stays in the run folder; the page shows one answer per question
            parts.append(blocks.parts().files("Every row, in the run folder:", written))
        return blocks.join(parts)

    def explanations_truth(self) -> Markup:
        """Maps scored against the phantom's truth, the explainers ranked by how well they tell
        the models apart, and the randomisation test (only where a test set holds the truth)."""
        from cxr_isi.explain.truth import RANDOMISATION_FAILS_AT

        truth, sanity, sep = (self.folder.table(n) for n in (TRUTH, SANITY, SEPARATION))
        parts = []
        if not truth.empty:
            parts += [blocks.parts().heading("Explanations against the truth"),
                      blocks.parts().para("The phantoms know where the source marks (burned-in marker, collimation "
                                    "border) and the disease (the lesions) are. Each cell: the share of a map's "
                                    "positive relevance inside the region (95% t interval) / the region's share of "
                                    "the image, what a map spread at random scores. A model that reads the sources "
                                    "puts its relevance on the marks; one that reads the disease, on the lesions "
                                    "(the pointing game and every region are in the CSV below).")]
            parts.append(blocks.table(_truth_answers(truth)))
        if not sep.empty:
            parts += [blocks.parts().para("Which explainer tells the models apart: for each region, the AUC that the "
                                    "first model's maps put more relevance there than the second's, on the same "
                                    "images (DeLong 95% interval); higher ranks the explainer better for this "
                                    "task (the paper used LIME only)."),
                      blocks.table(_separation_answers(sep))]
        if not sanity.empty:
            sanity = sanity.assign(passes=sanity["rank_correlation"] <= RANDOMISATION_FAILS_AT)
            failed = sanity[~sanity["passes"]]
            note = (f"Failed by: {', '.join(sorted(set(failed['method'])))}: their maps stay alike when the model's "
                    "weights are re-drawn, so they show the image more than the model; read them with care."
                    if len(failed) else "Every explainer passes.")
            parts += [blocks.parts().heading("Sanity check: model randomisation"),
                      blocks.parts().para("Adebayo et al. (2018): the maps of a model whose weights are re-drawn must "
                                    "differ from the trained model's. Mean Spearman correlation of |map| between "
                                    f"the two; above {RANDOMISATION_FAILS_AT} fails. " + note),
                      blocks.table(sanity, 2)]
        return blocks.join(parts)

    def sweep(self) -> Markup:
        """The dose-response curves of a sweep, when one was given."""
        if self.sweep_dir is None:
            return Markup("")
        png, text = Path(self.sweep_dir) / "sweep.png", Path(self.sweep_dir) / "sweep.txt"
        if not png.is_file():
            return self.note_missing(f"No sweep figure in {self.sweep_dir} (run cxr-isi sweep --out there).")
        lines = text.read_text().splitlines() if text.is_file() else []
        return blocks.join([blocks.parts().heading("How much imbalance does it take? (phantom sweep)"),
                      blocks.image(png, "dose-response sweep", "Boxed-out, original and cross-test AUC (mean over folds, "
                           "95% bands) against the imbalance and the fingerprint strength; the audit's Cramér's V "
                           "and source-only AUC dashed on the same axis."),
                      *[blocks.parts().para(line) for line in lines]])

    # 9
    def how(self) -> str:
        r = self.run["run"]
        env = r.get("environment", {})
        hist = r.get("history", [])
        seconds: dict[str, float] = {}
        for h in hist:
            for k, v in (h.get("seconds") or {}).items():
                seconds[k] = seconds.get(k, 0) + v
        rows = [("config", r.get("config")), ("executor", r.get("executor")),
                ("jobs in the grid", r.get("n_grid_jobs")), ("sessions (runs resumed)", len(hist)),
                ("seed", self.cfg.get("seed")),
                *[(f"time: {k}", f"{v / 60:.1f} min") for k, v in seconds.items()],
                *[(k, v) for k, v in env.items()]]
        if not self.res.empty and "train_seconds" in self.res.columns:
            rows.append(("training time summed over jobs", f"{self.res.drop_duplicates('job_id')['train_seconds'].sum() / 60:.1f} min"))
        table = blocks.table(pd.DataFrame(rows, columns=["what", "value"]).astype(str))
        text = yaml.safe_dump(self.cfg, sort_keys=False)
        parts = [table]
        excluded = self.folder.excluded()
        if len(excluded):
            shown = excluded.head(20).assign(path=[Path(p).name for p in excluded["path"].head(20)])
            parts += [blocks.parts().heading(f"Images left out ({len(excluded)})"),
                      blocks.parts().para("Left out of every job of their dataset, with the reason (RUN/excluded.csv); "
                                    "the study ran on the rest."), blocks.table(shown)]
        return blocks.join([*parts, blocks.parts().heading("Config"), blocks.parts().pre(text)])

    def build(self, extra: Sequence[tuple[str, Callable[[dict], object]]] = ()) -> str:
        from importlib.resources import files

        bodies = [blocks.join([Markup(self.verdicts()), self.sweep()]), self.probes(), self.audit(), self.image_sets(), self.roc_split(), self.cross(),
                  self.cv(), self.explanations(), self.how()]
        css = (files("cxr_isi.report") / "templates" / "report.css").read_text(encoding="utf-8")
        sections = list(zip(SECTIONS, [Markup(b) for b in bodies], strict=True))
        todo = self.remedies()
        if todo:
            sections.insert(1, (WHAT_TO_DO, Markup(todo)))
        # sections of one's own: rendered from the summary, their text escaped unless it is markup
        sections += [(title, blocks.join([render(self.summary)])) for title, render in extra]
        return blocks.env().get_template("page.html.j2").render(
            name=self.cfg.get("name", "run"), description=self.cfg.get("description", ""), model=str(self.model),
            css=Markup(css), sections=sections)


def write_report(run_dir: str | Path, sweep_dir: str | Path | None = None,
                 sections: Sequence[tuple[str, Callable[[dict], object]]] = ()) -> dict:
    """Render ``report.html`` (figures under ``figures/`` as PNG and SVG) from a run folder and
    the verdicts its ``summary.json`` holds (:func:`cxr_isi.study.summary.write_summary` decides
    them; this renders); ``sweep_dir``: also show a ``cxr-isi sweep`` folder's dose-response
    curves; ``sections``: sections of one's own after the report's, each a title and a function
    of the summary that returns its content (text, escaped, or markup made with
    :mod:`cxr_isi.report.blocks`). Returns the report's path, the summary, and what the run did not
    have (``missing``: one sentence each, naming the config key that adds it)."""
    rep = _Report(Path(run_dir), Path(sweep_dir) if sweep_dir else None)
    page = rep.build(sections)
    out = rep.folder.report_path
    atomic_write(out, lambda p: p.write_text(page, encoding="utf-8"))
    return {"report": out, "summary": rep.summary, "missing": rep.missing}


@dataclass(frozen=True)
class Report:
    """The written report and its verdicts.

    Attributes
    ----------
    path : Path
        ``report.html``.
    summary_path : Path
        ``summary.json`` (the same numbers as data).
    verdicts : dict
        Dataset name -> :class:`DatasetVerdict`.
    missing : list of str
        What the run did not have (each a sentence naming the config key that adds it).
    """

    path: Path
    summary_path: Path
    verdicts: dict[str, DatasetVerdict]
    missing: list[str]

    @classmethod
    def from_written(cls, written: dict, summary_path: Path) -> Report:
        """:func:`write_report`'s record as the API returns it."""
        return cls(path=Path(written["report"]), summary_path=Path(summary_path),
                   verdicts={name: DatasetVerdict.from_summary(name, d)
                             for name, d in written["summary"]["datasets"].items()},
                   missing=list(written["missing"]))
