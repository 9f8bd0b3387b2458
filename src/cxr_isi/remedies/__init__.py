"""What to do about a shortcut: remedies, one small class each, over one interface
(:class:`~cxr_isi.remedies.base.Remedy`), run as ordinary run-folder jobs against plain training
on the same split and seed, and measured where the model never was: leave-one-source-out and an
external set (``cxr-isi remedy``, ``ci.remedy``; ``remedies:`` in a run's config).

Each remedy says what it changes (the data, the input, the loss, or the last layer) and what it
asks of training; the mechanics live in :mod:`cxr_isi.train.remedies`.
"""

from cxr_isi.remedies.base import REMEDIES, Remedy, register_remedy
from cxr_isi.remedies.choose import check_external, get_remedy, refuse
from cxr_isi.verdict.kinds import PLAIN

__all__ = ["PLAIN", "REMEDIES", "Remedy", "check_external", "get_remedy", "refuse", "register_remedy"]
