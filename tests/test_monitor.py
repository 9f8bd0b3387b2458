"""The shortcut monitor inside training loops (a plain loop, Lightning, Keras, Ignite/MONAI): on
phantoms whose answer is known it sees the model learn the sources' marks (the boxed-out AUC's
interval rises above chance) where the sources split by class, and not where they are balanced;
it never changes the training (the same weights with and without it); it can stop the run."""

import json
import os

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from cxr_isi.errors import CxrIsiError  # noqa: E402
from cxr_isi.monitor import ShortcutMonitor  # noqa: E402
from cxr_isi.synth import SynthConfig, generate  # noqa: E402
from cxr_isi.verdict.kinds import READS_BOTH, READS_OUTSIDE  # noqa: E402

SIZE = 48
SPEC = {"size": SIZE, "channels": 1, "normalise": "none"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Per preset: training images and labels, and a held-out manifest (every third patient)."""
    root = tmp_path_factory.mktemp("monitor")
    found = {}
    for preset, seed in (("isi", 0), ("balanced", 1)):
        m = generate(SynthConfig(preset=preset, n=120, size=SIZE, seed=seed), root / preset, jobs=1)
        frame = m.frame.copy()
        patients = sorted(frame["patient_id"].astype(str).unique())
        held = frame["patient_id"].astype(str).isin(patients[::3])
        frame.assign(split=np.where(held, "test", "train")).to_csv(root / preset / "heldout.csv", index=False)
        train = frame[~held.to_numpy()]
        x = np.stack([np.asarray(Image.open(root / preset / p).convert("L"), np.float32) / 255 for p in train["path"]])
        found[preset] = (x, (train["label"] == "covid").to_numpy(np.float32), root / preset / "heldout.csv")
    return found


def net():
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.2), nn.Linear(16, 1))


def train_plain(x, y, epochs: int, monitor: ShortcutMonitor | None = None, seed: int = 0):
    """A plain PyTorch loop: shuffled batches, dropout, BatchNorm; the monitor after each epoch."""
    torch.manual_seed(seed)
    model = net()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x)[:, None], torch.from_numpy(y)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt)).split(16):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xt[idx])[:, 0], yt[idx])
            loss.backward()
            opt.step()
        if monitor is not None:
            monitor.check(model, epoch + 1)
            assert model.training, "the monitor left the model in eval mode"
            if monitor.should_stop():
                break
    return model


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_plain_loop_sees_the_shortcut_appear_where_the_sources_split_by_class(data, tmp_path):
    x, y, heldout = data["isi"]
    monitor = ShortcutMonitor(heldout, out=tmp_path / "isi", positive="covid", spec=SPEC)
    train_plain(x, y, 6, monitor)
    first = monitor.first_outside()
    assert first is not None, monitor.table()
    assert monitor.sentence().startswith(f"from epoch {first.epoch} the model scores ")
    assert "without the lungs" in monitor.sentence()
    assert monitor.history[-1].kind in (READS_OUTSIDE, READS_BOTH), monitor.history[-1].reason
    written = json.loads((tmp_path / "isi" / "monitor.json").read_text())
    assert len(written["checks"]) == 6 and written["sentence"] == monitor.sentence()
    table = pd.read_csv(tmp_path / "isi" / "monitor.csv")
    assert {"lungs_boxed_out_auc", "lungs_boxed_out_ci_low", "boxed_out_gap", "verdict"} <= set(table.columns)
    assert monitor.figure().is_file()


def test_on_balanced_sources_the_boxed_out_auc_stays_at_chance(data, tmp_path):
    x, y, heldout = data["balanced"]
    monitor = ShortcutMonitor(heldout, out=tmp_path / "bal", positive="covid", spec=SPEC, every=2)
    train_plain(x, y, 6, monitor)
    assert [c.epoch for c in monitor.history] == [2, 4, 6]
    assert monitor.first_outside() is None, monitor.table()
    assert monitor.sentence().startswith("up to epoch 6 the model does not score above chance without the lungs")


def test_the_monitor_changes_nothing_of_the_training(data, tmp_path):
    """Trained twice, with and without the monitor: the same weights to the bit (dropout and the
    shuffle draw from torch's generator; BatchNorm's running statistics move in train mode only)."""
    x, y, heldout = data["isi"]
    alone = train_plain(x, y, 3)
    watched = train_plain(x, y, 3, ShortcutMonitor(heldout, out=tmp_path / "m", positive="covid", spec=SPEC,
                                                   keep_lungs=True))
    assert _same(alone, watched)


def test_stop_ends_the_loop_at_the_first_epoch_without_the_lungs(data, tmp_path):
    x, y, heldout = data["isi"]
    monitor = ShortcutMonitor(heldout, out=tmp_path / "stop", positive="covid", spec=SPEC, stop=True)
    train_plain(x, y, 12, monitor)
    assert monitor.history[-1].outside_above_chance and len(monitor.history) < 12
    assert sum(c.outside_above_chance for c in monitor.history) == 1


def test_a_cheaper_check_scores_two_sets_and_says_it_gave_no_verdict(data, tmp_path):
    x, y, heldout = data["isi"]
    monitor = ShortcutMonitor(heldout, out=tmp_path / "light", positive="covid", spec=SPEC, verdict=False,
                              image_sets=("original", "lungs_boxed_out"))
    train_plain(x, y, 2, monitor)
    check = monitor.history[-1]
    assert set(check.auc) == {"original", "lungs_boxed_out"} and check.kind == "unknown"
    assert "no verdict asked" in check.reason and "shortcut/reads_lungs" in check.metrics()


def test_bad_input_is_one_line(data, tmp_path):
    _, _, heldout = data["isi"]
    with pytest.raises(CxrIsiError, match="every=0"):
        ShortcutMonitor(heldout, every=0)
    with pytest.raises(CxrIsiError, match="need retraining"):
        ShortcutMonitor(heldout, image_sets=("original", "lungs_boxed_out", "lungs_isolated"))
    with pytest.raises(CxrIsiError, match="needs"):
        ShortcutMonitor(heldout, image_sets=("original",))
    unlabelled = ShortcutMonitor(heldout, out=tmp_path / "u", spec=SPEC)
    with pytest.raises(CxrIsiError, match="positive"):
        unlabelled.prepare()
    with pytest.raises(CxrIsiError, match="tb"):
        ShortcutMonitor(heldout, out=tmp_path / "t", positive="tb", spec=SPEC).prepare()


# -- Lightning ------------------------------------------------------------------------------------
def _lightning_run(x, y, epochs: int, callbacks, logger=False):
    pl = pytest.importorskip("lightning.pytorch")

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = net()

        def forward(self, inputs):
            return self.net(inputs)

        def training_step(self, batch, _):
            xb, yb = batch
            return torch.nn.functional.binary_cross_entropy_with_logits(self(xb)[:, 0], yb)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=3e-3)

    pl.seed_everything(0, verbose=False)
    module = Module()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)[:, None],
                                                                        torch.from_numpy(y)), batch_size=16,
                                         shuffle=True)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", deterministic=True, logger=logger,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=callbacks)
    trainer.fit(module, loader)
    return module, trainer


def test_the_lightning_callback_logs_through_the_trainer_and_stops_it(data, tmp_path):
    pytest.importorskip("lightning")
    from lightning.pytorch.loggers import CSVLogger

    from cxr_isi.lightning import ShortcutMonitor as LightningMonitor

    x, y, heldout = data["isi"]
    callback = LightningMonitor(heldout, out=tmp_path / "pl", positive="covid", spec=SPEC, stop=True)
    _, trainer = _lightning_run(x, y, 12, [callback], logger=CSVLogger(tmp_path / "logs", name="run"))
    first = callback.monitor.first_outside()
    assert first is not None and trainer.current_epoch == first.epoch < 12
    metrics = pd.read_csv(next((tmp_path / "logs").rglob("metrics.csv")))
    assert "shortcut/auc_lungs_boxed_out" in metrics.columns and metrics["shortcut/auc_lungs_boxed_out"].max() > 0.7
    assert (tmp_path / "pl" / "monitor.png").is_file()


def test_the_lightning_callback_changes_nothing_of_the_training(data, tmp_path):
    pytest.importorskip("lightning")
    from cxr_isi.lightning import ShortcutMonitor as LightningMonitor

    x, y, heldout = data["isi"]
    alone, _ = _lightning_run(x, y, 2, [])
    watched, _ = _lightning_run(x, y, 2, [LightningMonitor(heldout, out=tmp_path / "pl", positive="covid",
                                                           spec=SPEC)])
    assert _same(alone, watched)


# -- Keras ----------------------------------------------------------------------------------------
def _keras_run(x, y, epochs: int, callbacks):
    from cxr_isi.models.formats.keras import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 1)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.2), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    history = model.fit(x[..., None] * 2 - 1, y, batch_size=16, epochs=epochs, shuffle=True, verbose=0,
                        callbacks=callbacks)
    return model, history


def test_the_keras_callback_logs_and_stops_and_changes_nothing(data, tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from cxr_isi.keras import ShortcutMonitor as KerasMonitor

    x, y, heldout = data["isi"]
    spec = {"normalise": "tf", "output": "probability"}
    callback = KerasMonitor(heldout, out=tmp_path / "k", positive="covid", spec=spec, stop=True)
    _, history = _keras_run(x, y, 12, [callback])
    first = callback.monitor.first_outside()
    assert first is not None and len(history.history["loss"]) == first.epoch < 12
    assert "shortcut_auc_lungs_boxed_out" in history.history
    alone, _ = _keras_run(x, y, 2, [])
    watched, _ = _keras_run(x, y, 2, [KerasMonitor(heldout, out=tmp_path / "k2", positive="covid", spec=spec)])
    assert all(np.array_equal(a, b) for a, b in zip(alone.get_weights(), watched.get_weights(), strict=True))


# -- Ignite / MONAI -------------------------------------------------------------------------------
def test_the_ignite_handler_puts_its_figures_in_the_engine_and_ends_it(data, tmp_path):
    pytest.importorskip("ignite")
    from ignite.engine import create_supervised_trainer

    from cxr_isi.ignite import ShortcutMonitor as IgniteMonitor

    x, y, heldout = data["isi"]
    torch.manual_seed(0)
    model = net()
    trainer = create_supervised_trainer(model, torch.optim.Adam(model.parameters(), lr=3e-3),
                                        lambda out, target: torch.nn.functional.binary_cross_entropy_with_logits(
                                            out[:, 0], target))
    handler = IgniteMonitor(model, heldout, out=tmp_path / "ig", positive="covid", spec=SPEC, stop=True)
    handler.attach(trainer)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)[:, None],
                                                                        torch.from_numpy(y)), batch_size=16,
                                         shuffle=True)
    state = trainer.run(loader, max_epochs=12)
    assert handler.monitor.first_outside() is not None and state.epoch < 12
    assert "shortcut/auc_lungs_boxed_out" in state.metrics


def test_with_too_few_held_out_images_it_says_unknown_not_chance(data, tmp_path):
    """Below 10 images of a class the boxed-out AUC has no interval: the sentence says the answer
    is unknown, never "not above chance" beside a figure that may be far above it."""
    x, y, heldout = data["isi"]
    frame = pd.read_csv(heldout)
    test = frame[frame["split"] == "test"]
    small = pd.concat([test[test["label"] == "covid"].head(6), test[test["label"] != "covid"].head(6)])
    small.to_csv(tmp_path / "small.csv", index=False)
    monitor = ShortcutMonitor(tmp_path / "small.csv", out=tmp_path / "s", positive="covid", spec=SPEC)
    train_plain(x, y, 2, monitor)
    assert monitor.history[-1].auc["lungs_boxed_out"]["ci_low"] is None
    assert "unknown whether the model scores without the lungs" in monitor.sentence()
    assert "not score above chance" not in monitor.sentence()
