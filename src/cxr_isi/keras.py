"""The shortcut monitor as a Keras ``Callback``: what the model reads, every N epochs, in the
epoch's ``logs`` (``History``, ``CSVLogger``, TensorBoard see it).

    from cxr_isi.keras import ShortcutMonitor
    model.fit(x, y, epochs=20, callbacks=[ShortcutMonitor("heldout.csv", positive=["covid"],
                                                          spec={"normalise": "tf"}, stop=True)])

The model's input (size, channels, layout) is read off the model where the spec leaves it out;
``stop=True`` sets ``model.stop_training`` at the first epoch whose boxed-out AUC's interval lies
above chance; ``keep_lungs=True`` saves the weights of the last epoch that read the lungs
(``last_reads_lungs.weights.h5``). The core: :class:`cxr_isi.monitor.ShortcutMonitor`. Needs
``pip install 'cxr-isi[keras]'``.
"""

from __future__ import annotations

from pathlib import Path

from cxr_isi.errors import CxrIsiError
from cxr_isi.monitor import ShortcutMonitor as Monitor
from cxr_isi.monitor import untouched
from cxr_isi.verdict.kinds import READS_LUNGS

try:
    from cxr_isi.models.formats.keras import KerasScorer, fixed_input, import_keras

    keras = import_keras()
except (ImportError, CxrIsiError):
    raise CxrIsiError("cxr_isi.keras needs Keras 3: pip install 'cxr-isi[keras]'") from None


class ShortcutMonitor(keras.callbacks.Callback):  # type: ignore[name-defined]
    """A Keras ``Callback`` around :class:`cxr_isi.monitor.ShortcutMonitor`.

    Parameters
    ----------
    manifest : str, Path or Manifest
        Held-out images (never the ones it trains on).
    **options
        As :class:`cxr_isi.monitor.ShortcutMonitor` takes them; ``keep_lungs`` saves Keras
        weights here.

    Attributes
    ----------
    monitor : cxr_isi.monitor.ShortcutMonitor
    """

    def __init__(self, manifest: str | Path, **options):
        super().__init__()
        self.keep = bool(options.pop("keep_lungs", False))
        self.monitor = Monitor(manifest, **options)

    def _scorer(self) -> KerasScorer:
        shape = list(getattr(self.model, "input_shape", None) or [])
        fixed, layout = fixed_input(shape, self.monitor.spec, Path(self.model.name))
        spec = self.monitor.spec.filled(size=fixed[2] or 224, channels=fixed[1] or 3, normalise="none",
                                        layout=layout)
        self.monitor.spec = spec  # the held-out images are read at the model's size
        with untouched(None):
            return KerasScorer(self.model, spec, self.model.name, self.model.name)

    def on_train_begin(self, logs=None) -> None:
        self._scorer()
        self.monitor.prepare()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        scorer = self._scorer()
        check = self.monitor.check(scorer, epoch + 1)
        if check is None:
            return
        if logs is not None:
            logs.update(check.metrics(prefix="shortcut_"))
        if self.keep and check.kind == READS_LUNGS:
            self.model.save_weights(str(self.monitor.out / "last_reads_lungs.weights.h5"))
        if self.monitor.should_stop():
            self.model.stop_training = True

    def on_train_end(self, logs=None) -> None:
        self.monitor.figure()
