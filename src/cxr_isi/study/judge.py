"""``cxr-isi judge``: a verdict for a model trained anywhere, nothing retrained.

A study answers whether the *data* allows a shortcut (it trains models on hidden lungs). A
researcher with a model of their own asks whether *their* model took one. On their labelled test
images (with sources where the manifest has them) the shipped U-Net segments the lungs, then:

1. **Discrimination**: AUC with its DeLong interval on the original images; per source AUC,
   sensitivity, specificity and calibration error; a cut-off carried to each left-out source.
2. **Test-time hide-and-seek**: the model scores the five image sets and the fixed box, each AUC
   with a paired DeLong test against the original. The model never saw hidden lungs in training:
   a drop can be the shifted input as much as the missing lungs, so these figures are read with
   the swap, not alone.
3. **Lung swap** (the causal core, :mod:`cxr_isi.probes.swap`): lungs of one image in the
   frame of an image of the other label; does the score follow the frame or the lungs? Controls:
   same-label swaps (the pasting itself) and, where two sources share a label, swaps across
   sources against within one (the source's style inside the lungs).
4. **Source**: read from the model's pooled features (where the format keeps its layers) and from
   its scores alone, out of fold, overall and within each class.
5. **Maps**: occlusion (every format) and Integrated Gradients (where gradients flow) on a seeded
   subset of positive images: the share of relevance inside the lungs against the lung area.

The verdict (:mod:`cxr_isi.verdict.model`) names what the model reads: the lungs, the source's style inside the
lungs, outside the lungs (the frame, or the source through it), or inconclusive.
"""

from __future__ import annotations

import fnmatch
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from cxr_isi._environment import environment
from cxr_isi._io import atomic_write, check_not_input, file_lock, write_json
from cxr_isi.audit.imbalance import single_class_fraction, source_label_table
from cxr_isi.data.manifest import Manifest
from cxr_isi.data.splits import rows_marked_test
from cxr_isi.errors import CxrIsiError
from cxr_isi.evaluate.metrics import delong_test, youden
from cxr_isi.explain.attention import attention_summary, lung_attention
from cxr_isi.logs import get_logger
from cxr_isi.lungs.hideseek import TEST_TIME_SETS
from cxr_isi.models.scorer import ModelSpecError, Scorer
from cxr_isi.probes.base import images_and_masks
from cxr_isi.probes.evidence import gather_model_evidence
from cxr_isi.probes.per_source import leave_one_source_out, per_source_table
from cxr_isi.probes.source import source_auc
from cxr_isi.probes.swap import result_of, swap_figure
from cxr_isi.verdict import model as model_rule
from cxr_isi.verdict.error_rates import model_measured_sentence
from cxr_isi.verdict.kinds import MODEL_KINDS
from cxr_isi.verdict.model import RULE

log = get_logger("judge")

EXTERNAL_NOTE = ("No expected AUC on data from elsewhere for a judged model: the estimate (the documentation: "
                 "'What it will score elsewhere') reads models trained on this data without the lungs (cxr-isi run "
                 "with the fixed box and the acquisition probe), and a judged model is not retrained.")
KINDS = MODEL_KINDS
IMAGE_SETS = TEST_TIME_SETS
IG_PIXELS = 8 * 224 * 224  # images x pixels in one of Integrated Gradients' internal batches


@dataclass(frozen=True)
class ModelVerdict:
    """What a model reads, with the evidence (``ci.judge``'s result).

    Attributes
    ----------
    model : str
        The model file's name.
    kind : str
        One of :data:`KINDS`.
    reason : str
        One sentence: the figures that decided.
    what : str or None
        For ``reads outside the lungs``: ``the source`` or ``the frame``.
    auc : dict
        Image set -> ``{"auc", "ci_low", "ci_high", "delong_p"}`` (test time, this model).
    evidence : list of dict
        Every figure behind the verdict with its interval and one sentence.
    out_dir : Path
        Where ``summary.json``, ``judge.json``, ``scores.csv`` and ``report.html`` are.
    remedy : dict, optional
        ``judge --remedy dfr``: the refitted model's verdict and AUCs beside these
        (``remedy.json``).
    """

    model: str
    kind: str
    reason: str
    what: str | None
    auc: dict
    evidence: list[dict] = field(default_factory=list)
    out_dir: Path = Path(".")
    remedy: dict | None = None


LOCK = ".judge.lock"
OUTPUTS = ("summary.json", "judge.json", "scores.csv", "report.html", "lung_swap.png", "remedy.json",
           "lungs/manifest.csv")
PREVIOUS = ("map_*.png", "lung_swap.png", "remedy.json")  # what a previous judge left that this one may not write


def _refuse_overwrite(out: Path, inputs: list[Path]) -> None:
    """No command writes over its own input: no file the judge writes (its tables, figures,
    report, the lung masks and the refitted model under ``lungs/`` and ``dfr/``) may be the
    model, the manifest or another input."""
    for name in OUTPUTS:
        check_not_input(out / name, inputs)
    root = out.resolve()
    for given in (p.resolve() for p in inputs if p.exists()):
        owned = (given.parent == root and any(fnmatch.fnmatch(given.name, g) for g in PREVIOUS)) or any(
            given.is_relative_to(root / sub) for sub in ("lungs", "dfr"))
        if owned:
            raise CxrIsiError(f"{given}: lies where cxr-isi judge writes its own outputs in {out}; give another "
                              "--out (no command overwrites its input)")


def _clear_previous(out: Path) -> None:
    """A folder a previous judge wrote: its figures that this judge may not write again (a map
    method not run, no lung swap, no remedy) are removed, so no other model's figure stands
    beside this model's report."""
    if not (out / "judge.json").is_file():
        return
    for pattern in PREVIOUS:
        for f in out.glob(pattern):
            f.unlink(missing_ok=True)
    if (out / "dfr" / "judge.json").is_file():  # a previous model's refitted twin
        shutil.rmtree(out / "dfr")


def _source_readability(feats: np.ndarray | None, base: np.ndarray, y: np.ndarray, sources: np.ndarray,
                        patients: np.ndarray, seed: int) -> dict:
    """The source from the model's features and from its score alone: overall and within each class."""
    found: dict = {}
    for what, x in (("features", feats), ("score", base[:, None])):
        if x is None:
            found[what] = None
            continue
        entry = {"all": source_auc(x, sources, patients, seed)}
        for cls, word in ((1, "positive"), (0, "negative")):
            entry[word] = source_auc(x[y == cls], sources[y == cls], patients[y == cls], seed)
        found[what] = entry
    return found


def _maps(scorer: Scorer, images: np.ndarray, masks: np.ndarray, y: np.ndarray, n: int, seed: int,
          out: Path) -> dict:
    """Occlusion (and Integrated Gradients where gradients flow) on up to ``n`` positive images:
    the share of relevance inside the lungs, with the lung area as chance."""
    from cxr_isi.explain.base import Explainer
    from cxr_isi.explain.figure import overlay_panel
    from cxr_isi.explain.integrated_gradients import IntegratedGradientsExplainer
    from cxr_isi.explain.occlusion import OcclusionExplainer

    pos = np.flatnonzero(y == 1)
    pick = np.sort(np.random.default_rng(seed).permutation(pos)[:n])
    if not len(pick):
        return {}
    found, panels = {}, {}
    side = images.shape[-1]
    # an 8 x 8 grid of patches; Integrated Gradients' internal batches bounded by pixels (its
    # backward pass keeps every activation: 256 images of 224 px through a ResNet-50 is 25 GB)
    methods: list[tuple[str, Explainer]] = [("occlusion", OcclusionExplainer(scorer, window=side // 8,
                                                                             stride=side // 8))]
    if scorer.supports_gradients:
        methods.append(("integrated_gradients", IntegratedGradientsExplainer(
            scorer.torch_module(), internal_batch_size=max(1, IG_PIXELS // (side * side)))))
    for name, explainer in methods:
        with explainer:
            maps = explainer.explain(images[pick])
        summary = attention_summary(lung_attention(maps, masks[pick]))
        found[name] = summary
        panels[name] = maps
    try:
        for name, maps in panels.items():
            overlay_panel(images[pick][:6], {scorer.name: maps[:6]}, name, out / f"map_{name}.png")
            found[name]["figure"] = str(out / f"map_{name}.png")
    except Exception as exc:  # noqa: BLE001 - a figure is never worth losing the figures for
        log.warning("map figure not drawn (%s)", exc)
    return found


def _not_constant(scorer: Scorer, log_odds: np.ndarray) -> None:
    """One line where the model gives every image the same log-odds (its probability printed)."""
    if float(np.ptp(log_odds)) < 1e-7:
        raise ModelSpecError(f"{scorer.origin}: the model gives the same score ({expit(log_odds[0]):.6g}) to all "
                             f"{len(log_odds)} "
                             "images it was shown: check the spec (normalisation, channels, output)")


def _first_batch(scorer: Scorer, manifest: Manifest, y: np.ndarray, size: int, resize: str, n: int = 4) -> None:
    """A few images of each class scored before any work is done or written: a wrong spec
    (channels, size, output width), NaN or constant outputs are one line now."""
    from cxr_isi.data.resize import read_squares

    read = []
    for cls in (1, 0):  # the first readable images of each class: an unreadable one is left out
        got = 0            # later wherever its row is, as the segmentation leaves it out (and counts it)
        for i in np.flatnonzero(y == cls):
            if got == n:
                break
            try:
                read.append(read_squares([manifest.paths[i]], size, resize))
                got += 1
            except CxrIsiError:
                continue
    if not read:
        return
    images = np.concatenate(read)
    log_odds = scorer.log_odds(images)
    _not_constant(scorer, log_odds)
    _deterministic(scorer, images, expit(log_odds))


TRAIN_MODE_GAP = 1e-4  # a probability that moves this much between two passes over one image is not the model's


def _deterministic(scorer: Scorer, images: np.ndarray, scores: np.ndarray) -> None:
    """The same images scored again, one at a time, must score the same: a model saved in
    training mode (dropout draws anew, BatchNorm uses each batch's statistics) gives other
    numbers each pass, and no verdict on it would be repeatable."""
    again = scorer.score(images, batch_size=1)
    gap = float(np.max(np.abs(again - scores))) if len(scores) else 0.0
    if gap > TRAIN_MODE_GAP:
        raise ModelSpecError(f"{scorer.origin}: the model's scores change between two passes over the same "
                             f"{len(scores)} images (by up to {gap:.3g}): it was saved in training mode (dropout, "
                             "or BatchNorm on each batch's statistics); save or export it after model.eval()")


def judge_model(scorer: Scorer, manifest: Manifest, out_dir: str | Path, *, seed: int = 0, swap_pairs: int = 48,
                map_images: int = 16, progress: bool = False, inputs: list[Path] | None = None) -> ModelVerdict:
    """Judge ``scorer`` on a labelled test manifest (label mapping attached); write the results.

    Parameters
    ----------
    scorer : Scorer
        The model (:func:`~cxr_isi.models.scorer.load_scorer`).
    manifest : Manifest
        Test images with labels (mapping attached) and, where known, sources and patients.
    out_dir : path
        ``summary.json``, ``judge.json``, ``scores.csv``, figures; ``lungs/`` the segmentation
        (resumable).
    seed : int
        Fixes the swap pairs, the map subset and the out-of-fold splits.
    swap_pairs : int
        Opposite-label pairs for the lung swap.
    map_images : int
        Positive images for the occlusion and gradient maps (0: none).
    inputs : list of Path, optional
        Files the output must not overwrite (the model and the manifest).

    Returns
    -------
    ModelVerdict
    """
    out = Path(out_dir)
    _refuse_overwrite(out, [Path(p) for p in (inputs or [])])
    manifest, split_note = rows_marked_test(manifest)
    y_all = manifest.y
    for cls, word in ((1, "positive"), (0, "negative")):
        if (y_all == cls).sum() < 2:
            raise CxrIsiError(f"{manifest.origin}: {int((y_all == cls).sum())} {word} image(s); an AUC needs at "
                              "least two of each class")
    manifest.check_files()
    size, resize = int(scorer.spec.size or 224), scorer.spec.resize
    _first_batch(scorer, manifest, y_all, size, resize)
    out.mkdir(parents=True, exist_ok=True)
    with file_lock(out / LOCK, busy=f"{out}: another cxr-isi judge is writing here; wait for it to end, or "
                   "give another --out"):
        _clear_previous(out)
        return _judge(scorer, manifest, out, seed=seed, swap_pairs=swap_pairs, map_images=map_images,
                      progress=progress, split_note=split_note, size=size, resize=resize)


def _judge(scorer: Scorer, manifest: Manifest, out: Path, *, seed: int, swap_pairs: int, map_images: int,
           progress: bool, split_note: str, size: int, resize: str) -> ModelVerdict:
    """:func:`judge_model`'s work, its inputs checked and its folder locked."""
    from cxr_isi.lungs.segmentation import segment_manifest

    seg = segment_manifest(manifest, out / "lungs", progress=progress)
    paths, images, masks = images_and_masks(seg, size, resize)
    left_out = len(manifest) - len(paths)
    rows = seg.frame.assign(_y=seg.y).set_index("path").loc[paths]
    y = rows["_y"].to_numpy()
    if min((y == 1).sum(), (y == 0).sum()) < 2:
        raise CxrIsiError(f"{manifest.origin}: too few images of one class with usable lung masks "
                          f"({int((y == 1).sum())} positive, {int((y == 0).sum())} negative)")
    sources = rows["source"].astype(str).to_numpy()
    patients = rows["patient_id"].astype(str).to_numpy()
    found = gather_model_evidence(scorer, images, masks, y, sources=sources, seed=seed, swap_pairs=swap_pairs,
                                  features=True)
    base, feats, scores, auc, box = (found.log_odds["original"], found.features, found.log_odds, found.auc,
                                     found.box)
    _not_constant(scorer, base)
    table = pd.DataFrame({"path": paths, "label": rows["label"].to_numpy(), "y": y, "source": sources,
                          "patient_id": patients, **{f"score_{k}": expit(v) for k, v in scores.items()},
                          **{f"log_odds_{k}": v for k, v in scores.items()}})
    atomic_write(out / "scores.csv", lambda p: table.to_csv(p, index=False))
    pred = pd.DataFrame({"label": y, "score": expit(base), "log_odds": base, "source": sources})
    n_sources = found.n_sources
    association: dict[str, float | None]
    if n_sources > 1:
        per_source = per_source_table(pred).to_dict("records")
        loso = leave_one_source_out(pred).to_dict("records")
        source_table = source_label_table(pd.Series(sources), rows["label"].reset_index(drop=True), y)
        association = {"cramers_v": found.cramers_v, "single_class_fraction": single_class_fraction(source_table)}
        readability = _source_readability(feats, base, y, sources, patients, seed)
        source_note = ""
    else:
        per_source, loso, readability = [], [], {}
        association = {"cramers_v": None, "single_class_fraction": None}
        source_note = ("the manifest names one source (or none): per-source figures, the cut-off carried across "
                       "sources, the source readability and the cross-source swap control are skipped")
    swap_result = None
    if found.swap is not None:
        swap_result = result_of(found.swap, scorer.name, y, images, lambda *a: swap_figure(
            *a, title=f"{scorer.name}: lungs of one image in the frame of another", out_dir=out)).as_dict()
    maps = _maps(scorer, images, masks, y, map_images, seed, out) if map_images else {}
    cut = youden(y, base)
    cut = {**cut, "threshold_log_odds": cut["threshold"], "threshold": float(expit(cut["threshold"]))}
    evidence = [{"probe": f"auc_{k}", "figure": v["auc"], "ci_low": v["ci_low"], "ci_high": v["ci_high"],
                 "sentence": f"AUC on {k.replace('_', ' ')}" + (f" (DeLong p against original {v['delong_p']:.3g})"
                                                               if v["delong_p"] is not None else "")}
                for k, v in auc.items()]
    if swap_result:
        evidence.append({"probe": "lung_swap", "figure": swap_result["estimate"], "ci_low": swap_result["ci_low"],
                         "ci_high": swap_result["ci_high"], "sentence": swap_result["sentence"]})
    for name, m in maps.items():
        evidence.append({"probe": f"map_{name}", "figure": m["inside_share"], "ci_low": m["ci_low"],
                         "ci_high": m["ci_high"], "sentence": f"{name}: share of positive relevance inside the "
                         f"lungs on {m['n']} positive images (lung area {m['lung_area_share']:.2f})"})
    for what_from, entry in readability.items():
        head = (entry or {}).get("all")
        if head:
            evidence.append({"probe": f"source_from_{what_from}", "figure": head["auc"], "ci_low": head["ci_low"],
                             "ci_high": head["ci_high"], "sentence": f"macro AUC of the source from the model's "
                             f"{what_from} (out of fold, {head['n_sources']} sources)"})
    decision = model_rule.decide_evidence(found, maps, evidence)
    kind, reason, what = decision.kind, decision.reason, decision.what
    summary = {
        "model": scorer.name, "format": scorer.format, "verdict_kind": kind, "reason": reason, "what": what,
        "sentence": f"{scorer.name}: {kind}" + (f" ({what})" if what else "") + f": {reason}.",
        "rule": RULE, "rule_error_rates": model_measured_sentence(),
        "evidence": evidence, "auc": auc, "n_images": len(paths), "n_left_out": left_out,
        "n_positive": int((y == 1).sum()), "n_negative": int((y == 0).sum()), "n_sources": n_sources,
        "source_note": source_note, "split_note": split_note, "fixed_box": list(box), "youden": cut,
        "note": ("The hidden-lung AUCs are measured at test time on a model trained on whole images: a drop "
                 "can be the shifted input as much as the missing lungs; the lung swap and its controls decide."),
        "external_estimate": None, "external_note": EXTERNAL_NOTE,
    }
    details = {**summary, "spec": scorer.describe(), "per_source": per_source, "leave_one_source_out": loso,
               "association": association, "source_readability": readability, "lung_swap": swap_result,
               "maps": maps, "seed": seed, "manifest": str(manifest.origin),
               "environment": environment(),
               # what the rule read, as it read it: the verdict can be decided again from these alone
               "rule_inputs": {"auc": auc, "swap": found.swap,
                               "split_by_class": model_rule.split_by_class(found.cramers_v), "maps": maps},
               "lung_qc_flagged": int((seg.frame["lung_qc"] != "").sum())}
    write_json(out / "judge.json", details)
    write_json(out / "summary.json", summary)
    return ModelVerdict(scorer.name, kind, reason, what, auc, evidence, out)


def judge_dfr(scorer: Scorer, manifest: Manifest, balance_on: Manifest, out_dir: str | Path, before: ModelVerdict, *,
              seed: int = 0, swap_pairs: int = 48, map_images: int = 16, progress: bool = False) -> dict:
    """``judge --remedy dfr``: the model's last layer refitted on group-balanced features of
    ``balance_on`` (:mod:`cxr_isi.remedies.last_layer`), written again (``OUT/dfr/``), and judged
    on the same test images as the model as given; ``OUT/remedy.json`` holds both verdicts and
    each image set's AUC before and after, with the paired difference on the same images."""
    from cxr_isi.remedies.last_layer import refit_last_layer, save_refitted

    out = Path(out_dir)
    refitted, record = refit_last_layer(scorer, balance_on, seed=seed)
    written = save_refitted(refitted, record, out / "dfr")
    after = judge_model(refitted, manifest, out / "dfr", seed=seed, swap_pairs=swap_pairs, map_images=map_images,
                        progress=progress)
    a = pd.read_csv(out / "scores.csv")
    b = pd.read_csv(out / "dfr" / "scores.csv")
    both = a.merge(b, on="path", suffixes=("", "_dfr"))
    y = both["y"].to_numpy()
    compared = {}
    for name in IMAGE_SETS:
        d = delong_test(y, both[f"log_odds_{name}_dfr"].to_numpy(), both[f"log_odds_{name}"].to_numpy())
        compared[name] = {"before": before.auc[name]["auc"], "after": after.auc[name]["auc"],
                          "difference": d["difference"], "ci_low": d["ci_low"], "ci_high": d["ci_high"]}
    o = compared["original"]
    result = {"remedy": "dfr", "balance_on": str(balance_on.origin), "refit": record, "written": written,
              "before": {"verdict_kind": before.kind, "what": before.what, "reason": before.reason},
              "after": {"verdict_kind": after.kind, "what": after.what, "reason": after.reason}, "auc": compared,
              "sentence": (f"after DFR on {Path(str(balance_on.origin)).name} ({record['n_images']} images, "
                           f"{record['per_group']} per source x label group): {after.kind}"
                           + (f" ({after.what})" if after.what else "") + f", was {before.kind}; AUC on these images "
                           f"{o['before']:.2f} -> {o['after']:.2f} (paired difference {o['difference']:+.2f}, 95% CI "
                           f"{o['ci_low']:+.2f} to {o['ci_high']:+.2f})")}
    write_json(out / "remedy.json", result)
    return result
