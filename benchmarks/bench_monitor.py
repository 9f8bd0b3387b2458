"""The shortcut monitor's cost (issue 45): one check of a model on 200 held-out images at 128 px
(the four test-time image sets, the lung swap, the verdict; the lung masks made once before),
and its overhead on the demo's training: ``small_cnn`` at 96 px, 6 epochs, batches of 16, on the
demo's ``isi`` phantoms (240 at 128 px), a check after every epoch (N = 1) on the 20% of patients
held out. Target: at most 10% more time than the same training without the monitor (the
baseline, measured in the same run). The lung masks, made once before the first epoch, are
reported beside it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

EPOCHS, SIZE, BATCH = 6, 96, 16
TARGET = 0.10
REPEATS = 3  # each training timed three times, the median kept


def _train(x: np.ndarray, y: np.ndarray, monitor=None) -> float:
    import torch

    from cxr_isi.models import create_model

    torch.manual_seed(0)
    model = create_model("small_cnn")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x)[:, None], torch.from_numpy(y)
    t0 = time.perf_counter()
    for epoch in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(xt)).split(BATCH):
            opt.zero_grad()
            out = model(xt[idx]).reshape(-1)
            torch.nn.functional.binary_cross_entropy_with_logits(out, yt[idx]).backward()
            opt.step()
        if monitor is not None:
            monitor.check(model, epoch + 1)
    return time.perf_counter() - t0


def _images(root: Path, paths) -> np.ndarray:
    from cxr_isi.data.resize import read_squares

    return read_squares([str(root / p) for p in paths], SIZE, "pad").astype(np.float32)


def run():
    import torch

    from cxr_isi.monitor import ShortcutMonitor
    from cxr_isi.synth import SynthConfig, generate

    torch.set_num_threads(2)
    spec = {"size": SIZE, "channels": 1, "normalise": "none"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        m = generate(SynthConfig(preset="isi", n=240, size=128, seed=0, disease_strength=0.6), root / "demo", jobs=1)
        frame = m.frame.copy()
        patients = sorted(frame["patient_id"].astype(str).unique())
        held = frame["patient_id"].astype(str).isin(patients[::5]).to_numpy()
        frame.assign(split=np.where(held, "test", "train")).to_csv(root / "demo" / "heldout.csv", index=False)
        train = frame[~held]
        x, y = _images(root / "demo", train["path"]), (train["label"] == "covid").to_numpy(np.float32)
        _train(x[:32], y[:32])  # torch's first passes (allocations, kernel choice) paid before any timing
        monitor = ShortcutMonitor(root / "demo" / "heldout.csv", out=root / "mon", positive="covid", spec=spec)
        t0 = time.perf_counter()
        monitor.prepare()
        masks = time.perf_counter() - t0
        light = ShortcutMonitor(root / "demo" / "heldout.csv", out=root / "mon", positive="covid", spec=spec,
                                image_sets=("original", "lungs_boxed_out"), verdict=False)
        slow = ShortcutMonitor(root / "demo" / "heldout.csv", out=root / "mon", positive="covid", spec=spec, every=3)
        cases = {f"demo training ({len(train)} images, {EPOCHS} epochs), no monitor": None,
                 f"a full check every epoch (N = 1, {int(held.sum())} held out)": monitor,
                 "two sets, no verdict, every epoch (N = 1)": light,
                 "a full check every 3 epochs (N = 3)": slow}
        for watcher in (light, slow):
            watcher.prepare()
        times: dict[str, list[float]] = {case: [] for case in cases}
        for _ in range(REPEATS):  # interleaved, so that a slow moment of the machine falls on every case alike
            for case, watcher in cases.items():
                if watcher is not None:
                    watcher.history.clear()
                times[case].append(_train(x, y, watcher))
        alone = float(np.median(times[next(iter(cases))]))
        for i, case in enumerate(cases):
            value = float(np.median(times[case]))
            row = {"case": case, "value": value, "unit": "s"}
            if i == 0:
                row["baseline"] = True
            else:
                overhead = value / alone - 1
                row["note"] = (f"overhead {overhead:.0%} (target <= {TARGET:.0%}: "
                               f"{'met' if overhead <= TARGET else 'missed'})")
            rows.append(row)
        rows[1]["note"] += f"; lung masks once, before: {masks:.1f} s"

        generate(SynthConfig(preset="isi", n=200, size=128, seed=5), root / "held200", jobs=1)
        big = ShortcutMonitor(root / "held200" / "manifest.csv", out=root / "mon200", positive="covid",
                              spec={"size": 128, "channels": 1, "normalise": "none"})
        big.prepare()
        from cxr_isi.models import create_model

        torch.manual_seed(0)
        model = create_model("small_cnn")
        times = []
        for epoch in (1, 2, 3):
            t0 = time.perf_counter()
            big.check(model, epoch)
            times.append(time.perf_counter() - t0)
        scored = pd.Series(times)
        rows += [{"case": "one check, 200 held-out images at 128 px (median of 3)", "value": float(scored.median()),
                  "unit": "s per check", "note": "4 image sets, lung swap (24 pairs, controls), the verdict"}]
    return "The shortcut monitor: its cost per check and on the demo's training", rows


if __name__ == "__main__":
    for r in run()[1]:
        print(r)
