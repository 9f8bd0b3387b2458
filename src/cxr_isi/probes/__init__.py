"""Probes of what a model reads: controls for the protocol's own leaks and probes of what a
shortcut is. One module per probe, each declaring itself (``PROBE``, a :class:`Probe`: its name,
its ``run`` (:class:`ProbeInput` -> :class:`ProbeResult`), the training job it adds, what it tries
as an explanation, its figure); the registry finds them, so the plan, the runner, the dataset rule
and the report read the declarations and adding a probe is one file (or, from outside the
package, one :func:`register_probe` call):

- ``geometry``: the label from the lung mask's geometry alone (the protocol's own leak);
- ``lung_swap``: lungs pasted into the frame of an image of the other label (frame or lungs?);
- ``acquisition``: a model on tile-shuffled images (intensity statistics only);
- ``source``: the source from the trained models' features;
- ``per_source``: per-source figures and a cut-off carried to a held-out source;
- ``confounders``: the boxed-out AUC within levels of each flagged acquisition property;
- ``regions``: where outside the fixed box the label is (a map of regions, each read alone);
- ``causes``: what it is: burned-in text (OCR), small bright objects, soft tissue beside the
  lungs, each tested as the residual within its levels;
- ``pest``: PEst's expected external AUC (a model on pixel-shuffled images), the baseline of
  :mod:`cxr_isi.evaluate.external`'s estimate.

Beside them, :mod:`cxr_isi.probes.evidence` gathers what one trained model reads (the
test-time image sets and the lung swap, :mod:`cxr_isi.probes.swap`) for the judge, the
remedies' verdicts and the lung-swap probe alike.

The fixed-box control (one box for every image of a dataset) is an image set, not a probe:
``lungs_boxed_out_fixed_box`` in the results (``cxr_isi.lungs.hideseek.dataset_box``).
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable
from functools import cache
from importlib import import_module

from cxr_isi.probes.base import Probe, ProbeInput, ProbeResult

_REGISTERED: dict[str, Probe] = {}


@cache
def _declared() -> tuple[Probe, ...]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        declared = getattr(import_module(f"{__name__}.{info.name}"), "PROBE", None)
        if isinstance(declared, Probe):
            found.append(declared)
    return tuple(found)


def probes() -> dict[str, Probe]:
    """Every probe: those declared in this package (a module with a ``PROBE``) and those
    registered from outside it (:func:`register_probe`), by name, in the protocol's order
    (:attr:`Probe.rank`). The package's modules are imported on the first call, not before:
    ``import cxr_isi.probes.base`` stays light."""
    found = [*_declared(), *_REGISTERED.values()]
    return {p.name: p for p in sorted(found, key=lambda p: p.rank)}


def register_probe(probe: Probe) -> Probe:
    """Add a probe from outside the package (a notebook, a plugin): runs, configs, the rule's
    "tried" list and the report then know it as they know the shipped ones. A name already
    taken is refused; the probe runs in the process that runs the study's probes.

    Parameters
    ----------
    probe : Probe

    Returns
    -------
    Probe
    """
    if not isinstance(probe, Probe):
        raise TypeError(f"register_probe takes a Probe, got {type(probe).__name__}")
    if probe.name in {p.name for p in _declared()} or probe.name in _REGISTERED:
        raise ValueError(f"a probe called {probe.name!r} exists already")
    _REGISTERED[probe.name] = probe
    return probe


def get_probe(name: str) -> Callable[[ProbeInput], ProbeResult]:
    """The ``run`` function of the probe called ``name``."""
    if name not in probes():
        raise ValueError(f"unknown probe {name!r}; one of {', '.join(probes())}")
    return probes()[name].run


def probe_version(name: str) -> int:
    """The probe's version: part of a result's identity, so that a run resumed after the probe
    changed computes it again."""
    return probes()[name].version


def __getattr__(name: str):
    if name == "PROBES":  # every probe's name, in order (found on first use)
        return tuple(probes())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PROBES", "Probe", "ProbeInput", "ProbeResult", "get_probe", "probe_version", "probes", "register_probe"]
