"""One training engine for every loop of the package (the classifier and the lung U-Net).

The engine owns what every loop needs and what is easy to get subtly different: the epoch
count, validation after each epoch, the best-epoch rule (a score, ties broken by a second
figure), early stopping, a time budget, the resume checkpoint (``last.pt``: weights, optimiser,
schedule, random state, progress), the settings check on resume, the "finished" flag (a run
that stopped early stays stopped when resumed) and ``history.json`` (written atomically after
every epoch). Each caller gives its model and three functions: one epoch of training, the
validation figures, and how to save its best model.

Under ``torch.distributed`` only the main process validates and writes; its figures are
broadcast so every process stops at the same epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from cxr_isi._checkpoints import load_resume, read_checkpoint, save_resume
from cxr_isi._io import write_json
from cxr_isi.errors import CxrIsiError
from cxr_isi.logs import get_logger
from cxr_isi.progress import progress_bar

log = get_logger("train")
LAST, HISTORY = "last.pt", "history.json"


def new_state() -> dict:
    """The progress record a fresh run starts from."""
    return {"epoch": 0, "best_score": -math.inf, "best_tiebreak": -math.inf, "best_epoch": 0,
            "history": [], "seconds": 0.0, "images": 0, "finished": False}


def _broadcast(figures: dict) -> dict:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box = [figures]
        dist.broadcast_object_list(box, src=0)
        return box[0]
    return figures


def check_same_data(out_dir: str | Path, data: str | None, ck: dict | None = None) -> None:
    """Refuse to resume (or to call finished) a run folder whose ``last.pt`` was trained on other
    data: ``data`` is the stamp of what the run reads (images by content, labels, split). A run
    without a stamp is taken as it is (``data`` None)."""
    last = Path(out_dir) / LAST
    if data is None or (ck is None and not last.exists()):
        return
    ck = ck if ck is not None else read_checkpoint(last)
    if ck.get("data") != data:
        raise CxrIsiError(f"{last}: this run folder holds a run on other data (other images, labels or split, "
                          "or an image file changed since); use a new output folder")


class TrainingEngine:
    """Epochs, validation, best model, early stopping, resume and history for one run.

    Parameters
    ----------
    out_dir : path
        The run folder (``last.pt`` and ``history.json`` go there).
    net, optimizer, scheduler, generator
        What the resume checkpoint saves and restores (the scheduler steps once per epoch).
    epochs, patience : int
        At most ``epochs``; stop when the best epoch is ``patience`` epochs old.
    settings : str
        Everything that decides the run, as text: resuming with other settings is an error.
    max_minutes : float, optional
        Stop after the epoch that passes this much training time.
    is_main : bool
        False on the non-main processes of a distributed run (they neither validate nor write).
    extra : dict, optional
        Written into ``last.pt`` beside the state (format, model name...).
    """

    def __init__(self, out_dir: str | Path, net, optimizer, scheduler, generator, *, epochs: int,
                 patience: int, settings: str, max_minutes: float | None = None, is_main: bool = True,
                 extra: dict | None = None, progress: bool = True, description: str = "training",
                 score_name: str = "score", data: str | None = None):
        self.out = Path(out_dir)
        self.net, self.opt, self.sched, self.gen = net, optimizer, scheduler, generator
        self.epochs, self.patience, self.settings = epochs, patience, settings
        self.max_minutes, self.is_main, self.extra = max_minutes, is_main, dict(extra or {})
        self.data = data
        if data is not None:
            self.extra["data"] = data
        self.progress, self.description, self.score_name = progress, description, score_name
        self.state = new_state()

    def resume(self) -> dict:
        """Restore ``last.pt`` when the folder has one (same settings only); the state."""
        last = self.out / LAST
        if last.exists():
            ck = read_checkpoint(last)
            if ck.get("settings", ck.get("config")) != self.settings:
                raise CxrIsiError(f"{last}: this run folder holds a run with other settings; "
                                  "use a new output folder or the same settings")
            check_same_data(self.out, self.data, ck)
            self.state = {**new_state(), **load_resume(ck, self.net, self.opt, self.sched, self.gen)}
            log.info("resuming %s at epoch %d", self.out, self.state["epoch"])
        return self.state

    def _save(self) -> None:
        if self.is_main:
            save_resume(self.out / LAST, self.net, self.opt, self.sched, self.gen, self.state,
                        settings=self.settings, **self.extra)
            write_json(self.out / HISTORY, self.state)

    def run(self, train_epoch: Callable[[int], dict], validate: Callable[[], dict],
            save_best: Callable[[dict], None], pause_after: int | None = None) -> dict:
        """Train until done; return the state.

        ``train_epoch(epoch)`` trains one epoch and returns ``{"loss": float, "images": int}``;
        ``validate()`` returns ``{"score": float, "tiebreak": float, ...}`` (higher is better for
        both; further keys go into the history); ``save_best(record)`` writes the best model.
        ``pause_after``: return after this many epochs of this call with the run left resumable
        (``state["finished"]`` stays False), for a scheduler's wall-time limit or to continue
        the run in another mode (one process or several).
        """
        self.out.mkdir(parents=True, exist_ok=True)
        s = self.state
        t_start = time.perf_counter()
        first = s["epoch"]
        with progress_bar(self.progress and self.is_main) as bar:
            task = bar.add_task(self.description, total=self.epochs, completed=s["epoch"])
            while s["epoch"] < self.epochs and not s["finished"]:
                t0 = time.perf_counter()
                trained = train_epoch(s["epoch"])
                self.sched.step()
                dt = time.perf_counter() - t0
                s["seconds"] += dt
                s["images"] += int(trained.get("images", 0))
                s["epoch"] += 1
                figures = _broadcast(validate() if self.is_main else {})
                record = {"epoch": s["epoch"], "loss": trained.get("loss", math.nan),
                          **{k: v for k, v in figures.items() if k not in ("score", "tiebreak")},
                          "seconds": dt, "lr": self.sched.get_last_lr()[0]}
                s["history"].append(record)
                if (figures["score"], figures.get("tiebreak", 0.0)) > (s["best_score"], s["best_tiebreak"]):
                    s["best_score"], s["best_tiebreak"] = figures["score"], figures.get("tiebreak", 0.0)
                    s["best_epoch"] = s["epoch"]
                    if self.is_main:
                        save_best(record)
                self._save()
                bar.update(task, advance=1, description=f"{self.description}: {self.score_name} "
                           f"{figures['score']:.4f} (best {s['best_score']:.4f} @ {s['best_epoch']})")
                if s["epoch"] - s["best_epoch"] >= self.patience:
                    log.info("early stop at epoch %d (best %d)", s["epoch"], s["best_epoch"])
                    break
                if self.max_minutes and (time.perf_counter() - t_start) / 60 > self.max_minutes:
                    log.warning("time budget of %.1f min reached at epoch %d", self.max_minutes, s["epoch"])
                    break
                if pause_after is not None and s["epoch"] - first >= pause_after and s["epoch"] < self.epochs:
                    log.info("paused at epoch %d of %d; resume to continue", s["epoch"], self.epochs)
                    return s
        if not s["finished"]:
            # A finished run stays finished: resuming it after an early stop must not train on.
            s["finished"] = True
            self._save()
        return s
