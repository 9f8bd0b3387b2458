"""The verdict's own room: the rules that turn evidence into a named answer.

Two rules, each code that reads evidence gathered elsewhere and returns a :class:`Decision`
(a kind, a reason in one sentence, and the evidence it used):

- :mod:`~cxr_isi.verdict.dataset`: can a model read this *dataset's* label without the lungs, and
  if so what does it read (``source shortcut``, ``acquisition shortcut``, ...)? Read by
  ``cxr-isi run`` and every study of many runs.
- :mod:`~cxr_isi.verdict.model`: what does *this model* read (``reads the lungs``, ``reads outside
  the lungs``, ...)? Read by ``cxr-isi judge``.

Their thresholds are listed in :mod:`~cxr_isi.verdict.thresholds`; the error rates measured for
the dataset rule ship beside it (:mod:`~cxr_isi.verdict.error_rates`). The study gathers the
evidence (:mod:`cxr_isi.study`), the report renders the decision (:mod:`cxr_isi.report`): nothing
under ``report/`` decides (an import contract in ``pyproject.toml`` says so). A new rule or
threshold is a change here, with its error rate measured again (``cxr-isi error-rates``).
"""

from cxr_isi.verdict.kinds import Decision

__all__ = ["Decision"]
