"""The shortcut monitor: what a model reads while it trains, every N epochs.

``cxr-isi judge`` says after training whether a model reads outside the lungs; most people never
export a model to ask. The monitor asks inside the training loop they already have: on a held-out
manifest (with sources where there are), it scores the test-time image sets that need no
retraining (original, lungs removed, boxed out, the fixed box: lung masks made once by the shipped
U-Net and kept), the lung swap with its controls, and decides the judge's verdict at that epoch
(:func:`cxr_isi.probes.evidence.gather_model_evidence`, :func:`cxr_isi.verdict.model.decide_evidence`).
It says from which epoch the boxed-out AUC's interval lies above chance ("from epoch 7 the model
scores 0.81 (95% CI 0.72-0.90) without the lungs"), can stop training there, and keeps the
weights of the last epoch whose verdict was "reads the lungs".

It never changes the training: no gradient is computed, each module's train/eval mode is restored
as it was, and the random states (Python's, NumPy's, torch's CPU and CUDA generators) are put back,
so a run with the monitor ends with the same weights as one without (a test trains twice).

One core (:class:`ShortcutMonitor`), thin adapters: :mod:`cxr_isi.lightning` (a Lightning
``Callback``), :mod:`cxr_isi.ignite` (an Ignite or MONAI engine handler), :mod:`cxr_isi.keras`
(a Keras ``Callback``); in a plain loop, call :meth:`ShortcutMonitor.check` after each epoch.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_isi._io import atomic_write, write_json
from cxr_isi.data.labels import LabelMapping
from cxr_isi.data.manifest import Manifest
from cxr_isi.data.splits import rows_marked_test
from cxr_isi.errors import CxrIsiError
from cxr_isi.evaluate.text import interval_text
from cxr_isi.lungs.hideseek import FIXED_BOX
from cxr_isi.models.scorer import Scorer
from cxr_isi.models.spec import ModelSpec
from cxr_isi.probes.base import images_and_masks
from cxr_isi.probes.evidence import gather_model_evidence
from cxr_isi.verdict import model as model_rule
from cxr_isi.verdict.kinds import READS_LUNGS

MONITORED_SETS = ("original", "lungs_removed", "lungs_boxed_out", FIXED_BOX)  # no retraining needed
HISTORY, TABLE, FIGURE, LUNGS_WEIGHTS = "monitor.json", "monitor.csv", "monitor.png", "last_reads_lungs.pt"


@dataclass(frozen=True)
class EpochCheck:
    """What the model read after one epoch.

    Attributes
    ----------
    epoch : int
        Epochs finished (1 after the first).
    auc : dict
        Image set -> ``{"auc", "ci_low", "ci_high"}`` (intervals None below 10 images a class).
    gap : float
        The original AUC less the boxed-out AUC: how much of what separates the classes the lungs
        carry.
    kind, what, reason : str
        The judge's verdict at this epoch (:mod:`cxr_isi.verdict.model`).
    """

    epoch: int
    auc: dict
    gap: float
    kind: str
    what: str | None
    reason: str

    @property
    def outside_above_chance(self) -> bool:
        """Whether the boxed-out AUC's interval lies above 0.5, as printed (a lower bound that
        prints 0.50 reaches chance): the model scores without the lungs."""
        low = self.auc["lungs_boxed_out"].get("ci_low")
        return low is not None and round(low, 2) > 0.5

    def metrics(self, prefix: str = "shortcut/") -> dict[str, float]:
        """Flat figures for a training loop's loggers (TensorBoard, CSV, Keras logs)."""
        out: dict[str, float] = {}
        for name, a in self.auc.items():
            out[f"{prefix}auc_{name}"] = float(a["auc"])
            for end in ("ci_low", "ci_high"):
                if a.get(end) is not None:
                    out[f"{prefix}auc_{name}_{end}"] = float(a[end])
        out[f"{prefix}boxed_out_gap"] = float(self.gap)
        out[f"{prefix}reads_lungs"] = float(self.kind == READS_LUNGS) if self.kind != "unknown" else float("nan")
        return out


class LiveTorchScorer(Scorer):
    """A ``torch.nn.Module`` being trained, scored as it is now: its input made by the spec
    (channels, normalisation), on the device its parameters are on, without a gradient. Unlike
    the judge's scorers it changes nothing of the module (no memory-format conversion, no mode)."""

    def __init__(self, module, spec: ModelSpec, name: str = "model in training"):
        from cxr_isi.models.formats.base import Preprocess

        super().__init__(name, "torch", spec.filled(channels=3, normalise="imagenet", layout="nchw"))
        self.module = module
        self.pre = Preprocess(self.spec)

    def _raw_log_odds(self, images: np.ndarray) -> np.ndarray:
        import torch

        from cxr_isi.models.formats.base import positive_log_odds

        param = next(self.module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1).to(device)
        with torch.inference_mode():
            out = self.module(self.pre.to(device)(x))
            return positive_log_odds(out, self.spec, self.origin).double().cpu().numpy()


@contextmanager
def untouched(module=None) -> Iterator[None]:
    """Everything a check could change, put back as it was: each module's train/eval mode,
    Python's, NumPy's and torch's random states (CPU and CUDA), torch's thread count and its
    deterministic-algorithms setting.

    Parameters
    ----------
    module : torch.nn.Module, optional
        Put in eval mode inside; every submodule's mode restored after.

    Returns
    -------
    context manager
    """
    states: dict = {"python": random.getstate(), "numpy": np.random.get_state()}
    try:
        import torch

        states["torch"] = torch.get_rng_state()
        states["threads"] = torch.get_num_threads()
        states["deterministic"] = (torch.are_deterministic_algorithms_enabled(),
                                   torch.is_deterministic_algorithms_warn_only_enabled())
        if torch.cuda.is_available():
            states["cuda"] = torch.cuda.get_rng_state_all()
    except ImportError:
        torch = None  # type: ignore[assignment]
    modes = [(m, m.training) for m in module.modules()] if module is not None and hasattr(module, "modules") else []
    if module is not None and hasattr(module, "eval"):
        module.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        random.setstate(states["python"])
        np.random.set_state(states["numpy"])
        if torch is not None:
            torch.set_rng_state(states["torch"])
            if torch.get_num_threads() != states["threads"]:
                torch.set_num_threads(states["threads"])
            mode, warn_only = states["deterministic"]
            if (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) \
                    != states["deterministic"]:
                torch.use_deterministic_algorithms(mode, warn_only=warn_only)
            if "cuda" in states:
                torch.cuda.set_rng_state_all(states["cuda"])


class ShortcutMonitor:
    """Checks what a model reads every ``every`` epochs, on a held-out manifest.

    Parameters
    ----------
    manifest : str, Path or Manifest
        Held-out images (path, label, source where known, patient); a ``split`` column keeps its
        test rows. Never the images the model trains on.
    out : str or Path
        Where the lung masks (``lungs/``, made once), ``monitor.json``, ``monitor.csv``, the figure
        and the kept weights go.
    positive, negative : list of str, optional
        The labels of each class, unless the manifest's are binary.
    spec : ModelSpec or dict, optional
        What the model takes (``size``, ``channels``, ``normalise``, ``output``); by default 224
        px, 3 channels, ImageNet normalisation, one logit.
    every : int
        Check after every this many epochs.
    seed : int
        Fixes the swap's pairs (the same every check).
    swap_pairs : int
        Opposite-label pairs for the lung swap.
    stop : bool
        Ask the loop to stop at the first check whose boxed-out interval lies above chance.
    keep_lungs : bool
        Keep the weights of the last check whose verdict was "reads the lungs"
        (``last_reads_lungs.pt``, a state dict).
    image_sets : sequence of str
        The sets scored, ``original`` and ``lungs_boxed_out`` among them (fewer: a cheaper check).
    verdict : bool
        Run the lung swap and decide the judge's verdict at each check (False: the AUCs alone, a
        cheaper check; the verdict is then "unknown").
    """

    def __init__(self, manifest: str | Path | Manifest, *, out: str | Path = "shortcut_monitor",
                 positive: list[str] | str | None = None, negative: list[str] | None = None,
                 spec: ModelSpec | dict | None = None, every: int = 1, seed: int = 0, swap_pairs: int = 24,
                 stop: bool = False, keep_lungs: bool = False, image_sets: tuple[str, ...] = MONITORED_SETS,
                 verdict: bool = True, progress: bool = False):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise CxrIsiError(f"every={every!r}: check after every 1 or more epochs (a whole number)")
        self.manifest, self.out, self.positive, self.negative = manifest, Path(out), positive, negative
        self.spec = spec if isinstance(spec, ModelSpec) else ModelSpec(**(spec or {}))
        self.every, self.seed, self.swap_pairs, self.stop, self.keep_lungs = every, seed, swap_pairs, stop, keep_lungs
        missing = {"original", "lungs_boxed_out"} - set(image_sets)
        unknown = set(image_sets) - set(MONITORED_SETS)
        if missing or unknown:
            raise CxrIsiError(f"image_sets={list(image_sets)!r}: " + (f"needs {sorted(missing)}" if missing else
                              f"{sorted(unknown)} need retraining; one of {', '.join(MONITORED_SETS)}"))
        self.image_sets, self.verdict = tuple(image_sets), verdict
        self.progress = progress
        self.history: list[EpochCheck] = []
        self._data: tuple | None = None

    # -- the held-out images, their lung masks made once -------------------------------------
    def prepare(self) -> None:
        """Read the held-out manifest and segment its lungs (once; a second call does nothing)."""
        if self._data is not None:
            return
        with untouched(None):  # the segmenter seeds and draws too: the training's random states stay as they were
            self._prepare()

    def _prepare(self) -> None:
        from cxr_isi.lungs.segmentation import segment_manifest

        m = self.manifest if isinstance(self.manifest, Manifest) else Manifest.read(self.manifest)
        if self.positive:
            positive = [self.positive] if isinstance(self.positive, str) else list(self.positive)
            mapping = LabelMapping(positive=positive, negative=self.negative)
            m = m.with_labels(mapping.check_present(m.frame["label"], m.origin))
        elif m.label_mapping is None:
            raise CxrIsiError(f"{m.origin}: say which labels are positive (positive=[...])")
        m = rows_marked_test(m)[0]
        m.check_files()
        seg = segment_manifest(m, self.out / "lungs", progress=self.progress)
        size = int(self.spec.size or 224)
        paths, images, masks = images_and_masks(seg, size, self.spec.resize or "pad")
        rows = seg.frame.assign(_y=seg.y).drop_duplicates("path").set_index("path").loc[paths]
        y = rows["_y"].to_numpy()
        if min((y == 1).sum(), (y == 0).sum()) < 2:
            raise CxrIsiError(f"{m.origin}: too few held-out images of one class with usable lung masks "
                              f"({int((y == 1).sum())} positive, {int((y == 0).sum())} negative)")
        from cxr_isi.lungs.hideseek import fixed_box_of_masks

        self._data = (images, masks, y, rows["source"].astype(str).to_numpy(), fixed_box_of_masks(masks))

    # -- one check ---------------------------------------------------------------------------
    def due(self, epoch: int) -> bool:
        """Whether a check is due after ``epoch`` epochs (1-based)."""
        return epoch % self.every == 0

    def check(self, model, epoch: int) -> EpochCheck | None:
        """What ``model`` reads after ``epoch`` epochs (1-based); None where no check is due.

        ``model`` is a ``torch.nn.Module`` (scored through the spec) or a
        :class:`~cxr_isi.models.scorer.Scorer`. Nothing of the training changes (:func:`untouched`).
        """
        if not self.due(epoch):
            return None
        self.prepare()
        assert self._data is not None
        images, masks, y, sources, box = self._data
        module = getattr(model, "module", model) if isinstance(model, Scorer) else model
        scorer = model if isinstance(model, Scorer) else LiveTorchScorer(model, self.spec)
        with untouched(module if hasattr(module, "modules") else None):
            found = gather_model_evidence(scorer, images, masks, y, sources=sources, box=box, seed=self.seed,
                                          swap_pairs=self.swap_pairs, image_sets=self.image_sets,
                                          swap=self.verdict)
            decision = model_rule.decide_evidence(found) if self.verdict else None
        kind, what, reason = ((decision.kind, decision.what, decision.reason) if decision is not None else
                              ("unknown", None, "no verdict asked (verdict=False): the AUCs alone"))
        auc = {k: {"auc": v["auc"], "ci_low": v["ci_low"], "ci_high": v["ci_high"]} for k, v in found.auc.items()}
        result = EpochCheck(epoch, auc, float(auc["original"]["auc"] - auc["lungs_boxed_out"]["auc"]), kind, what,
                            reason)
        self.history.append(result)
        if self.keep_lungs and result.kind == READS_LUNGS and hasattr(model, "state_dict"):
            self._keep(model)
        self.write()
        return result

    def should_stop(self) -> bool:
        """Whether the loop should stop now (``stop`` and the last check scores without the lungs)."""
        return bool(self.stop and self.history and self.history[-1].outside_above_chance)

    def _keep(self, model) -> None:
        import torch

        self.out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        atomic_write(self.out / LUNGS_WEIGHTS, lambda p: torch.save(state, p))

    # -- what it says ------------------------------------------------------------------------
    def first_outside(self) -> EpochCheck | None:
        """The first check whose boxed-out AUC's interval lies above chance (None: none yet)."""
        return next((c for c in self.history if c.outside_above_chance), None)

    def sentence(self) -> str:
        """One line: from which epoch the model scores without the lungs, or that it has not."""
        if not self.history:
            return "no epoch checked yet"
        first = self.first_outside()
        if first is None:
            last = self.history[-1].auc["lungs_boxed_out"]
            if last["ci_low"] is None:  # too few held-out images of a class for an interval: not "at chance"
                return (f"up to epoch {self.history[-1].epoch} unknown whether the model scores without the lungs: "
                        f"boxed out {last['auc']:.2f} with no interval (fewer than 10 held-out images of a class)")
            return (f"up to epoch {self.history[-1].epoch} the model does not score above chance without the lungs "
                    f"(boxed out {interval_text(last['auc'], last['ci_low'], last['ci_high'])})")
        b = first.auc["lungs_boxed_out"]
        return (f"from epoch {first.epoch} the model scores {interval_text(b['auc'], b['ci_low'], b['ci_high'])} "
                "without the lungs")

    def table(self) -> pd.DataFrame:
        """One row per check: epoch, each set's AUC and interval, the gap, the verdict."""
        rows = []
        for c in self.history:
            row: dict = {"epoch": c.epoch}
            for name, a in c.auc.items():
                row.update({f"{name}_auc": a["auc"], f"{name}_ci_low": a["ci_low"], f"{name}_ci_high": a["ci_high"]})
            rows.append({**row, "boxed_out_gap": c.gap, "verdict": c.kind, "what": c.what})
        return pd.DataFrame(rows)

    def write(self) -> None:
        """``monitor.json`` (every check, the sentence) and ``monitor.csv`` under ``out``."""
        self.out.mkdir(parents=True, exist_ok=True)
        write_json(self.out / HISTORY, {"sentence": self.sentence(), "every": self.every,
                                        "checks": [asdict(c) for c in self.history]})
        table = self.table()
        atomic_write(self.out / TABLE, lambda p: table.to_csv(p, index=False))

    def figure(self) -> Path | None:
        """The AUCs over epochs with their intervals (``monitor.png`` and ``.svg``)."""
        from cxr_isi.report.monitor import epoch_figure

        if not self.history:
            return None
        first = self.first_outside()
        return epoch_figure(self.table(), self.out / FIGURE, first.epoch if first else None)

    @classmethod
    def read(cls, out: str | Path) -> dict:
        """A monitor folder's ``monitor.json``."""
        path = Path(out) / HISTORY
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CxrIsiError(f"{path}: not a monitor's record ({type(exc).__name__})") from None
