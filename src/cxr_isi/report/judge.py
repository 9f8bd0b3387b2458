"""The report of ``cxr-isi judge``: the same page as a study's (template, parts, style), with
the model's verdict at the top and every figure behind it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from cxr_isi._io import atomic_write
from cxr_isi.errors import CxrIsiError
from cxr_isi.evaluate.text import interval_text
from cxr_isi.report import blocks

SECTIONS = ("Verdict", "Test-time hide-and-seek", "Lung swap", "Per source", "Source in the model",
            "Where the model looks", "The model and its spec")
CLASS = {"reads the lungs": "none", "reads outside the lungs": "shortcut", "reads the source inside the lungs": "shortcut",
         "reads the lungs and outside them": "partial"}


def _ci(d: dict | None, key: str = "auc") -> str:
    d = d or {}
    return interval_text(d.get(key), d.get("ci_low"), d.get("ci_high"), digits=3, style="short", absent="–",
                         without=" (no interval: too few images)")


def _p(p: float | None) -> str:
    if p is None or p != p:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def write_judge_report(out_dir: str | Path) -> Path:
    """``report.html`` from ``judge.json`` in ``out_dir`` (self-contained: figures embedded)."""
    from importlib.resources import files

    out = Path(out_dir)
    source = out / "judge.json"
    if not source.is_file():
        raise CxrIsiError(f"{out}: no judge.json (make one with cxr-isi judge)")
    d = json.loads(source.read_text())
    p = blocks.parts()
    what = f" ({d['what']})" if d.get("what") else ""
    verdict = [p.verdict(CLASS.get(d["verdict_kind"], "partial"), f"{d['model']}: {d['verdict_kind']}{what}",
                         [d["format"]], d["reason"], f"{d['n_images']} images ({d['n_positive']} positive, "
                         f"{d['n_negative']} negative, {d['n_sources']} source(s)); {d['n_left_out']} left out "
                         "(no usable lung mask)", " ".join(x for x in (d.get("split_note", ""),
                                                                    d.get("source_note", "")) if x)),
               p.para("Rule: " + d["rule"], small=True)]
    if d.get("rule_error_rates"):
        verdict.append(p.para(d["rule_error_rates"], small=True))
    aucs = pd.DataFrame([{"image set": k, "AUC (95% CI)": _ci(v), "DeLong p vs original": _p(v["delong_p"])}
                         for k, v in d["auc"].items()])
    hide = [p.para(d["note"]), blocks.table(aucs)] + ([p.para(d["external_note"], small=True)]
                                                 if d.get("external_note") else [])
    swap = d.get("lung_swap")
    swaps = [p.para(swap["sentence"])] if swap else [blocks.missing("No lung swap: the model tells no pair of opposite "
                                                              "labels apart by 0.2.")]
    if swap and swap.get("figure") and Path(swap["figure"]).is_file():
        swaps.append(blocks.image(Path(swap["figure"]), "lung swap", "frame donor, lung donor, swapped image, with scores"))
    effect = (swap or {}).get("details", {}).get("source_in_lungs")
    if effect:
        swaps.append(p.para(f"Same label, lungs from a source more (or less) often positive than the frame's: the score moves "
                            f"{effect['signed_shift']:+.3f} toward the donor source's usual label (95% CI {effect['ci_low']:.3f} "
                            f"to {effect['ci_high']:.3f}, {effect['n']} swaps)."))
    elif swap:
        swaps.append(p.para("No two sources of one label differ in their share of positives by 0.2 or more: whether the "
                            "model reads the source's style inside the lungs cannot be tested on these images."))
    per = ([blocks.table(pd.DataFrame(d["per_source"]))] if d["per_source"] else [blocks.missing(d.get("source_note") or "One source.")])
    if d.get("leave_one_source_out"):
        per += [p.heading("A cut-off chosen on the other sources"), blocks.table(pd.DataFrame(d["leave_one_source_out"]))]
    rows = []
    for frm, entry in (d.get("source_readability") or {}).items():
        for part, v in (entry or {}).items():
            rows.append({"from": frm, "images": part, "macro AUC of the source (95% CI)": _ci(v),
                         "sources": (v or {}).get("n_sources")})
    src = [blocks.table(pd.DataFrame(rows))] if rows else [blocks.missing(d.get("source_note") or "No sources to read.")]
    maps = []
    for name, m in (d.get("maps") or {}).items():
        if m.get("inside_share") is None:  # every map empty: nothing raised the score anywhere
            maps.append(p.para(f"{name}: no positive relevance on any of the {m.get('n_empty', 0)} positive images "
                               "(no part of them raised the score): where the model looks is unknown here."))
        else:
            maps.append(p.para(f"{name}: {m['inside_share']:.2f} of the positive relevance inside the lungs (95% CI "
                               f"{m['ci_low']:.2f}-{m['ci_high']:.2f}) on {m['n']} positive images; the lungs cover "
                               f"{m['lung_area_share']:.2f} of the image (what a map spread at random scores)."))
        if m.get("figure") and Path(m["figure"]).is_file():
            maps.append(blocks.image(Path(m["figure"]), name))
    if not maps:
        maps = [blocks.missing("No maps (--map-images 0, or no positive image).")]
    spec = blocks.table(pd.DataFrame([{"key": k, "value": str(v)} for k, v in d["spec"]["spec"].items()]))
    how = [p.para(f"{d['model']} ({d['format']}); features: {d['spec']['features']}; gradients: "
                  f"{d['spec']['gradients']}; seed {d['seed']}; test manifest {d['manifest']}."), spec]
    bodies = [verdict, hide, swaps, per, src, maps, how]
    css = (files("cxr_isi.report") / "templates" / "report.css").read_text(encoding="utf-8")
    page = blocks.env().get_template("page.html.j2").render(
        name=d["model"], description="a model judged on its test images, nothing retrained", model=d["model"],
        css=Markup(css), sections=list(zip(SECTIONS, [blocks.join(b) for b in bodies], strict=True)))
    target = out / "report.html"
    atomic_write(target, lambda q: q.write_text(page, encoding="utf-8"))
    return target
