"""The shortcut monitor as an Ignite event handler, for Ignite's engines and MONAI's (a MONAI
``SupervisedTrainer`` is an Ignite ``Engine``): what the model reads, every N epochs, put into
``engine.state.metrics`` where MONAI's and Ignite's loggers read it.

    from cxr_isi.ignite import ShortcutMonitor
    ShortcutMonitor(model, "heldout.csv", positive=["covid"], spec={"size": 128, "channels": 1,
                    "normalise": "none"}, stop=True).attach(trainer)

As MONAI's handlers, it ``attach``\\es to an engine; ``stop=True`` ends the run
(``engine.terminate()``) at the first epoch whose boxed-out AUC's interval lies above chance.
The core: :class:`cxr_isi.monitor.ShortcutMonitor`. Needs ``pip install 'cxr-isi[ignite]'``.
"""

from __future__ import annotations

from pathlib import Path

from cxr_isi.errors import CxrIsiError
from cxr_isi.monitor import ShortcutMonitor as Monitor

try:
    from ignite.engine import Engine, Events
except ImportError:
    raise CxrIsiError("cxr_isi.ignite needs pytorch-ignite: pip install 'cxr-isi[ignite]'") from None


class ShortcutMonitor:
    """An Ignite/MONAI handler around :class:`cxr_isi.monitor.ShortcutMonitor`.

    Parameters
    ----------
    model : torch.nn.Module
        The network the engine trains.
    manifest : str, Path or Manifest
        Held-out images (never the ones it trains on).
    **options
        As :class:`cxr_isi.monitor.ShortcutMonitor` takes them.

    Attributes
    ----------
    monitor : cxr_isi.monitor.ShortcutMonitor
    """

    def __init__(self, model, manifest: str | Path, **options):
        self.model = model
        self.monitor = Monitor(manifest, **options)

    def attach(self, engine: Engine) -> None:
        """Check after every epoch the monitor's ``every`` asks for; draw the figure at the end.

        Parameters
        ----------
        engine : ignite.engine.Engine
        """
        engine.add_event_handler(Events.STARTED, lambda _: self.monitor.prepare())
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, lambda _: self.monitor.figure())

    def __call__(self, engine: Engine) -> None:
        check = self.monitor.check(self.model, engine.state.epoch)
        if check is None:
            return
        engine.state.metrics.update(check.metrics())
        if self.monitor.should_stop():
            engine.terminate()
