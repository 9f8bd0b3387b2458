"""What each remedied model reads: the judge's rule (:mod:`cxr_isi.verdict.model`) on plain
training's and every remedy's model of a remedy run, over the home test split.

The remedy table says whether a remedy helped elsewhere; this says whether the model it made
still reads outside the lungs. Evidence as ``cxr-isi judge`` gathers it, with the run's own lung
masks and fixed box: the test-time image sets' AUCs and the lung swap with its controls (no maps:
the swap decides where it can). A model trained and tested on the lungs alone (``lungs_only``)
reads the lungs by construction: said so, not measured.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi._io import write_json
from cxr_isi.data.manifest import Manifest
from cxr_isi.data.splits import rows_marked_test
from cxr_isi.errors import CxrIsiError
from cxr_isi.lungs.hideseek import fixed_box_of_masks
from cxr_isi.models.scorer import load_scorer
from cxr_isi.probes.base import images_and_masks
from cxr_isi.probes.evidence import gather_model_evidence
from cxr_isi.probes.lung_swap import VERSION as SWAP_VERSION
from cxr_isi.study.config import ExperimentConfig
from cxr_isi.study.plan import Job, file_sha256, fixed_box_of, stable_hash
from cxr_isi.study.remedies import VERDICT
from cxr_isi.study.runfolder import UNIT_STAMP, RunFolder, stamp_matches, write_stamp
from cxr_isi.verdict import model as model_rule
from cxr_isi.verdict.kinds import INCONCLUSIVE, READS_LUNGS

VERSION = 2  # 2: image-set AUCs ranked by log-odds


def remedy_verdicts(cfg: ExperimentConfig, run_dir: Path, jobs: list[Job]) -> None:
    """Judge plain training's and each remedy's model (the first training seed) of every trained
    dataset; write ``remedies/<dataset>/<remedy>/verdict.json``. Resumable: a verdict is kept
    while its job and its checkpoint's content are the same."""
    run = RunFolder(run_dir)
    for d in (d for d in cfg.datasets if d.train):
        firsts: dict[str, Job] = {}
        for j in sorted((j for j in jobs if j.protocol == "remedy" and j.dataset == d.name
                         and run.job_record(j.id) is not None), key=lambda j: j.train.get("seed", 0)):
            firsts.setdefault(str(j.remedy), j)
        if not firsts:
            continue
        m = Manifest.read(run.prepared_manifest(d.name)).with_labels(d.label_mapping)
        test = rows_marked_test(m)[0]
        paths, images, masks = images_and_masks(test, cfg.train.size, cfg.train.resize)
        rows = test.frame.assign(_y=test.y).set_index("path").loc[paths]
        box: tuple[float, float, float, float] | None
        try:
            box = fixed_box_of(run.root, d.name, cfg)
        except CxrIsiError:
            box = fixed_box_of_masks(masks) if len(masks) else None
        for name, job in firsts.items():
            target = run.root / "remedies" / d.name / name
            identity = stable_hash({"job": job.id, "checkpoint": file_sha256(run.checkpoint(job.id)),
                                    "version": VERSION, "swap": SWAP_VERSION, "swap_pairs": cfg.probes.swap_pairs,
                                    "seed": cfg.seed})
            if stamp_matches(target / UNIT_STAMP, identity) and (target / VERDICT).is_file():
                continue
            write_json(target / VERDICT, judge_remedy(job, run.checkpoint(job.id), images, masks, rows, box,
                                                      seed=cfg.seed, swap_pairs=cfg.probes.swap_pairs))
            write_stamp(target / UNIT_STAMP, identity)


def judge_remedy(job: Job, checkpoint: Path, images: np.ndarray, masks: np.ndarray, rows: pd.DataFrame, box,
                 *, seed: int, swap_pairs: int) -> dict:
    """One remedied model's verdict record: kind, what, reason, and the figures read.

    Parameters
    ----------
    job : Job
        The remedy's training job (its image set says what the model sees).
    checkpoint : Path
        The job's ``best.pt``.
    images, masks : arrays (N, H, W)
        The home test images with usable lung masks, at the training geometry.
    rows : DataFrame
        Their manifest rows (``_y`` the label, ``source``), in the same order.
    box : tuple or None
        The dataset's fixed box (fractions of the side).
    """
    base = {"remedy": job.remedy, "job": job.id, "what": None}
    if job.image_set != "original":
        return {**base, "verdict_kind": READS_LUNGS, "measured": False,
                "reason": (f"by construction: trained and tested on the {job.image_set.replace('_', '-')} images, "
                           "nothing outside the lungs reaches it (whether the lungs carry their source's style "
                           "is not tested here)")}
    y = rows["_y"].to_numpy()
    if len(y) < 4 or min((y == 1).sum(), (y == 0).sum()) < 2 or box is None:
        return {**base, "verdict_kind": INCONCLUSIVE, "measured": False,
                "reason": f"too few test images with usable lung masks ({len(y)}) to judge the model"}
    found = gather_model_evidence(load_scorer(checkpoint), images, masks, y,
                                  sources=rows["source"].astype(str).to_numpy(), box=box, seed=seed,
                                  swap_pairs=swap_pairs)
    decision = model_rule.decide_evidence(found)
    auc = found.auc
    swap = None if found.swap is None else {k: v for k, v in found.swap.items()
                                       if k not in ("swaps", "made", "base", "swap_scores")}
    return {**base, "verdict_kind": decision.kind, "what": decision.what, "reason": decision.reason,
            "measured": True, "auc": auc, "lung_swap": swap, "n_images": len(y)}
