"""Probes of what a model reads: controls for the protocol's own leaks and probes of what a
shortcut is. One module per probe, one signature (:class:`ProbeInput` -> :class:`ProbeResult`),
one registry, so the runner loops over it and the report renders every probe the same way.

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

The fixed-box control (one box for every image of a dataset) is an image set, not a probe:
``lungs_boxed_out_fixed_box`` in the results (``cxr_isi.lungs.hideseek.dataset_box``).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from cxr_isi.probes.base import ProbeInput, ProbeResult

_MODULES = ("geometry", "lung_swap", "acquisition", "source", "per_source", "confounders", "regions", "causes", "pest")
PROBES: tuple[str, ...] = _MODULES


def get_probe(name: str) -> Callable[[ProbeInput], ProbeResult]:
    """The ``run`` function of the probe called ``name`` (imported on first use)."""
    if name not in _MODULES:
        raise ValueError(f"unknown probe {name!r}; one of {', '.join(_MODULES)}")
    return import_module(f"cxr_isi.probes.{name}").run


def probe_version(name: str) -> int:
    """The probe's ``VERSION`` (1 when it has none): part of a result's identity, so that a run
    resumed after the probe changed computes it again."""
    return int(getattr(import_module(f"cxr_isi.probes.{name}"), "VERSION", 1))


__all__ = ["PROBES", "ProbeInput", "ProbeResult", "get_probe", "probe_version"]
