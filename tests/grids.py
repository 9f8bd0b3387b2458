"""Small experiment grids shared by the runner, executor, study and report tests."""

from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
NUMBERS = ["auc", "auc_ci_low", "sensitivity", "specificity", "accuracy", "val_auc", "epochs"]


def tiny(**over) -> dict:
    """A grid small enough for a unit test: two phantom sets, two variants, 2-fold CV."""
    cfg = {
        "name": "tiny", "seed": 0,
        "datasets": [{"name": "isi", "synthetic": {"preset": "isi", "n": 40, "size": 64, "seed": 0}},
                     {"name": "bal", "synthetic": {"preset": "balanced", "n": 40, "size": 64, "seed": 1}}],
        "models": ["small_cnn"], "variants": ["original", "lungs_boxed_out"],
        "split": {"test_size": 0.25, "val_size": 0.2},
        "cv": {"folds": 2, "variants": ["original"], "cross": True},
        "cross": [{"train": "isi", "test": "bal"}],
        "train": {"size": 32, "epochs": 2, "patience": 2, "batch_size": 8, "threads": 1},
        "segmentation": {"size": 64},
    }
    for k, v in over.items():
        cfg[k] = v
    return cfg


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def numbers(run_dir: Path) -> pd.DataFrame:
    r = pd.read_csv(run_dir / "results.csv")
    return r.sort_values(["job_id", "test_dataset"]).reset_index(drop=True)
