"""What a run will cost before it runs (``cxr-isi run CONFIG --plan``): every job, the images it
reads, and its time estimated from training rates measured on the development machine.

The rates are figures from ``make bench`` (``benchmarks/bench_train.py``) on the 2-core CPU:
``small_cnn`` and ``vgg16_gap`` measured; the other backbones scaled from VGG-16's by their
forward FLOPs (a convolution network's CPU training rate follows its FLOPs closely). A rate
scales with the inverse square of the input side. Inference (validation and test scoring) is
taken at three times the training rate (no backward pass); each epoch's validation is taken
as 15% of the training images (the default split). Early stopping can only shorten a job: the
estimate is for every epoch. No GPU rate is recorded yet (no device was lent).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cxr_isi.study.plan import Job

CPU_RATES = {"small_cnn": (89.0, 128), "vgg16_gap": (2.9, 224)}  # training img/s at side (px), 2-core CPU
FORWARD_GFLOPS_224 = {"vgg16_gap": 15.5, "resnet50": 4.1, "densenet121": 2.9}  # torchvision's figures
INFERENCE_SPEEDUP = 3.0


def training_rate(model: str, size: int) -> float | None:
    """Estimated training images per second of ``model`` at ``size`` on the 2-core CPU (None
    when neither measured nor scalable)."""
    if model in CPU_RATES:
        rate, side = CPU_RATES[model]
    elif model in FORWARD_GFLOPS_224:
        vgg, side = CPU_RATES["vgg16_gap"]
        rate = vgg * FORWARD_GFLOPS_224["vgg16_gap"] / FORWARD_GFLOPS_224[model]
    else:
        return None
    return rate * (side / size) ** 2


@dataclass
class JobCost:
    """One job's images and estimated seconds."""

    job: str
    dataset: str
    image_set: str
    model: str
    fold: str
    size: int
    epochs: int
    train_images: int
    test_images: int
    seconds: float


def estimate_jobs(jobs: list[Job], splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The cost of each job.

    Parameters
    ----------
    jobs : list of Job
        From :func:`~cxr_isi.study.plan.plan_jobs`.
    splits : dict
        Per dataset, its rows with ``split`` (and ``fold`` for cross-validation), as checked.

    Returns
    -------
    DataFrame
        One :class:`JobCost` per row; ``seconds`` is NaN where no rate is known.
    """
    rows = []
    for job in jobs:
        frame = splits[job.dataset]
        if job.fold is None:
            n_train = int((frame["split"] != "test").sum())
        else:
            n_train = int((frame["fold"].to_numpy() != job.fold).sum())
        n_test = 0
        for e in job.evaluations:
            other = splits[e.dataset]
            n_test += int((other["split"] == "test").sum() if e.fold is None else (other["fold"] == e.fold).sum())
        size, epochs = int(job.train.get("size", 256)), int(job.train.get("epochs", 1))
        rate = training_rate(job.model, size)
        seconds = (epochs * n_train / rate + (epochs * 0.15 * n_train + n_test) / (INFERENCE_SPEEDUP * rate)
                   if rate else float("nan"))
        rows.append(JobCost(job.id, job.dataset, job.image_set, job.model,
                            "split" if job.fold is None else f"fold {job.fold}", size, epochs, n_train, n_test,
                            float(seconds)))
    return pd.DataFrame([r.__dict__ for r in rows])
