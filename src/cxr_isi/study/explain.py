"""The runner's explanation stage: every dataset's single-split models explained side by side on
the same positive test images of each dataset (the paper's Figures 10 and 11), and the lung
attention of each model gathered into ``RUN_DIR/lung_attention.csv``. Where the test set holds
the truth (phantoms), the maps' relevance in each true region (``explain_truth.csv``), how well
each region's relevance tells one training set's model from another's
(``explain_separation.csv``) and the model-randomisation test (``explain_sanity.csv``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxr_isi._io import read_csv_or_empty, write_csv
from cxr_isi.logs import get_logger
from cxr_isi.study.config import ExperimentConfig
from cxr_isi.study.plan import Job, job_manifest, stable_hash
from cxr_isi.study.runfolder import (
    ATTENTION,
    SANITY,
    SEPARATION,
    SPLIT,
    TRUTH,
    UNIT_STAMP,
    RunFolder,
    stamp_matches,
    write_stamp,
)

log = get_logger("study")


def explain_models(cfg: ExperimentConfig, run_dir: Path, jobs: list[Job], prepared: dict[str, Path]) -> pd.DataFrame:
    """Explain, resumably; returns the lung attention table (also written as CSV)."""
    from cxr_isi.explain.run import explain_run

    run = RunFolder(run_dir)
    datasets = {d.name: d for d in cfg.datasets}
    tables: list[pd.DataFrame] = []
    truth: list[pd.DataFrame] = []
    sanity: list[pd.DataFrame] = []
    separation: list[dict] = []
    for variant in cfg.explain.variants:
        for model in cfg.models:
            split_jobs = [j for j in jobs if j.protocol == SPLIT and j.variant == variant and j.model == model]
            checkpoints = {j.dataset: run.checkpoint(j.id) for j in split_jobs if run.checkpoint(j.id).is_file()}
            if not checkpoints:
                log.warning("no trained %s model on %s to explain", model, variant)
                continue
            for test in datasets:
                manifest = job_manifest(prepared[test], datasets[test], None, "test")
                for method in cfg.explain.methods:
                    out = run.explain_dir(test, variant, model, method)
                    n = cfg.explain.lime_images if method == "lime" else cfg.explain.n_images
                    identity = stable_hash({"jobs": [j.id for j in split_jobs], "method": method, "n": n,
                                            "samples": cfg.explain.lime_samples, "seed": cfg.seed,
                                            "truth": 1, "sanity": cfg.explain.sanity,
                                            **({"ig_steps": cfg.explain.ig_steps}
                                               if method == "integrated_gradients" else {})})
                    stamp = out / UNIT_STAMP
                    if not stamp_matches(stamp, identity):
                        table = explain_run(checkpoints, manifest, out, [method], n_images=n, seed=cfg.seed,
                                            num_samples=cfg.explain.lime_samples, sanity=cfg.explain.sanity,
                                            ig_steps=cfg.explain.ig_steps)
                        write_csv(out / ATTENTION, table)
                        write_stamp(stamp, identity)
                    table = read_csv_or_empty(out / ATTENTION)
                    if len(table):
                        table.insert(1, "test_dataset", test)
                        table["figure"] = str((out / f"{method}.png").relative_to(run.root))
                        tables.append(table)
                    for name, into in (("truth.csv", truth), ("randomisation.csv", sanity)):
                        part = read_csv_or_empty(out / name)
                        if len(part):
                            part.insert(1, "test_dataset", test)
                            into.append(part)
                    separation += _separation(out, list(checkpoints), method, test, variant, model)
    result = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    run.write_table(ATTENTION, result)
    run.write_table(TRUTH, pd.concat(truth, ignore_index=True) if truth else pd.DataFrame())
    run.write_table(SANITY, pd.concat(sanity, ignore_index=True) if sanity else pd.DataFrame())
    run.write_table(SEPARATION, pd.DataFrame(separation))
    return result


def _separation(out: Path, models: list[str], method: str, test: str, variant: str, model: str) -> list[dict]:
    """For every ordered pair of training sets (A, B) and true region: the AUC that A's model
    puts more relevance there than B's, on the same test images."""
    from cxr_isi.explain.truth import separation

    per = {m: read_csv_or_empty(out / f"truth_{m}_{method}.csv") for m in models}
    rows = []
    for a in models:
        for b in models:
            if a == b or not len(per[a]) or not len(per[b]):
                continue
            for region in ("fingerprint", "lesion"):
                col = f"mass_{region}"
                if col in per[a].columns and col in per[b].columns:
                    rows.append({"test_dataset": test, "variant": variant, "model": model, "method": method,
                                 "region": region, "more_in": a, "than_in": b,
                                 **separation(per[a][col].to_numpy(float), per[b][col].to_numpy(float))})
    return rows

