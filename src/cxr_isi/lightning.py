"""The shortcut monitor as a PyTorch Lightning ``Callback``: what the model reads, every N epochs,
logged through the trainer's loggers (TensorBoard, CSV...) beside its loss.

    from cxr_isi.lightning import ShortcutMonitor
    monitor = ShortcutMonitor("heldout.csv", positive=["covid"], spec={"size": 128, "channels": 1,
                              "normalise": "none"}, out="shortcut", stop=True)
    trainer = lightning.Trainer(max_epochs=20, callbacks=[monitor])

The checks run on the main process (rank 0) after each training epoch; ``stop=True`` sets
``trainer.should_stop`` at the first epoch whose boxed-out AUC's interval lies above chance. The
core and its options: :class:`cxr_isi.monitor.ShortcutMonitor`. Needs ``pip install
'cxr-isi[lightning]'`` (``lightning`` or ``pytorch_lightning``).
"""

from __future__ import annotations

from pathlib import Path

from cxr_isi.errors import CxrIsiError
from cxr_isi.monitor import EpochCheck
from cxr_isi.monitor import ShortcutMonitor as Monitor

try:
    from lightning.pytorch import Callback
except ImportError:  # the older package name
    try:
        from pytorch_lightning import Callback  # type: ignore[assignment]
    except ImportError:
        raise CxrIsiError("cxr_isi.lightning needs PyTorch Lightning: pip install 'cxr-isi[lightning]'") from None


class ShortcutMonitor(Callback):
    """A Lightning ``Callback`` around :class:`cxr_isi.monitor.ShortcutMonitor`.

    Parameters
    ----------
    manifest : str, Path or Manifest
        Held-out images (never the ones it trains on).
    **options
        As :class:`cxr_isi.monitor.ShortcutMonitor` takes them (``out``, ``positive``, ``spec``,
        ``every``, ``stop``, ``keep_lungs``...).

    Attributes
    ----------
    monitor : cxr_isi.monitor.ShortcutMonitor
        The core: its ``history``, ``sentence()``, ``table()``.
    """

    def __init__(self, manifest: str | Path, **options):
        super().__init__()
        self.monitor = Monitor(manifest, **options)

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.monitor.prepare()  # lung masks made once, before the first epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        check: EpochCheck | None = self.monitor.check(pl_module, trainer.current_epoch + 1)
        if check is None:
            return
        for logger in trainer.loggers:
            logger.log_metrics(check.metrics(), step=trainer.global_step)
        if self.monitor.should_stop():
            trainer.should_stop = True

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.monitor.figure()
