"""The runner's probe stage: for every dataset, the probes of ``cxr_isi.probes`` over its
prepared rows and its jobs' outputs; each result in ``probes/<probe>/<dataset>/result.json``
and all of them in ``RUN/probes.csv``. Resumable: a result whose inputs have not changed is kept.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxr_isi._io import write_json
from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import get_logger
from cxr_isi.probes import ProbeInput, ProbeResult, get_probe, probe_version
from cxr_isi.study.config import ExperimentConfig
from cxr_isi.study.plan import Job, fixed_box_of, stable_hash
from cxr_isi.study.runfolder import (
    CV,
    PROBE_RESULT,
    PROBES,
    SPLIT,
    UNIT_STAMP,
    RunFolder,
    read_json,
    stamp_matches,
    write_stamp,
)

log = get_logger("study")


def probe_inputs(cfg: ExperimentConfig, run: RunFolder, jobs: list[Job]) -> dict[str, tuple[ProbeInput, list[str]]]:
    """Per dataset, what its probes read, and the ids of the jobs behind it."""
    model = cfg.models[0]
    out = {}
    for d in (d for d in cfg.datasets if d.train):
        own = [j for j in jobs if j.dataset == d.name and j.model == model and run.job_record(j.id) is not None]
        checkpoints: dict[str, Path] = {}
        predictions: dict[str, pd.DataFrame] = {}
        folds: dict[str, list[tuple[int, pd.DataFrame]]] = {}
        for j in own:
            ev = next((e for e in j.evaluations if e.dataset == d.name), None)
            if ev is None or run.metrics(j.id, ev.id) is None:
                continue
            pred = run.predictions(run.predictions_rel(j.id, ev.id))
            if j.protocol == SPLIT:
                checkpoints[j.image_set] = run.checkpoint(j.id)
                predictions[j.image_set] = pred
            elif j.protocol == CV and j.fold is not None:
                folds.setdefault(j.image_set, []).append((j.fold, pred))
        manifest = Manifest.read(run.prepared_manifest(d.name)).with_labels(d.label_mapping)
        inp = ProbeInput(dataset=d.name, title=d.title or d.name, manifest=manifest, lungs=run.lung_table(d.name),
                         segmentation_size=cfg.segmentation.size, audit=run.audit(d.name), checkpoints=checkpoints,
                         predictions=predictions,
                         fold_predictions={k: [p for _, p in sorted(v, key=lambda t: t[0])] for k, v in folds.items()},
                         size=cfg.train.size, resize=cfg.train.resize, out_dir=run.root, seed=cfg.seed,
                         settings=cfg.probes.model_dump(), fixed_box=_fixed_box(run, d.name, cfg))
        out[d.name] = (inp, sorted(j.id for j in own))
    return out


def _fixed_box(run: RunFolder, dataset: str, cfg: ExperimentConfig) -> tuple[float, float, float, float] | None:
    try:
        return fixed_box_of(run.root, dataset, cfg)
    except CxrIsiError:
        return None


def run_probes(cfg: ExperimentConfig, run_dir: Path, jobs: list[Job]) -> pd.DataFrame:
    """Run every configured probe on every dataset (resumably); return the ``probes.csv`` table."""
    run = RunFolder(run_dir)
    rows = []
    for dataset, (inp, job_ids) in probe_inputs(cfg, run, jobs).items():
        for name in cfg.probes.names:
            target = run.probe_dir(name, dataset)
            identity = stable_hash({"jobs": job_ids, "settings": cfg.probes.model_dump(), "seed": cfg.seed,
                                    "probe": name, "version": probe_version(name)})
            stamp = target / UNIT_STAMP
            if not stamp_matches(stamp, identity):
                inp.out_dir = target
                try:
                    result = get_probe(name)(inp)
                except Exception as exc:  # noqa: BLE001 - one probe failing must not lose the others
                    log.error("probe %s on %s failed: %s", name, dataset, exc)
                    result = ProbeResult.not_applicable(name, dataset, "", f"The probe failed: "
                                                        f"{type(exc).__name__}: {exc}".splitlines()[0])
                if result.figure:
                    result.figure = str(Path(result.figure).resolve().relative_to(run.root.resolve()))
                write_json(target / PROBE_RESULT, result.as_dict())
                write_stamp(stamp, identity)
            record = read_json(target / PROBE_RESULT) or {}
            rows.append({k: record.get(k) for k in ("probe", "dataset", "measure", "estimate", "ci_low", "ci_high",
                                                    "n", "explains", "sentence", "figure")})
    table = pd.DataFrame(rows)
    run.write_table(PROBES, table)
    return table


def read_probe_results(run_dir: Path) -> dict[str, dict[str, dict]]:
    """``{dataset: {probe: result}}`` of a run folder (what the report and the verdict read)."""
    run = RunFolder(run_dir)
    out: dict[str, dict[str, dict]] = {}
    root = run.root / "probes"
    for path in sorted(root.glob(f"*/*/{PROBE_RESULT}")) if root.is_dir() else []:
        record = read_json(path)
        if isinstance(record, dict):
            dataset, probe = record.get("dataset", path.parent.name), record.get("probe", path.parent.parent.name)
            out.setdefault(dataset, {})[probe] = record
    return out
