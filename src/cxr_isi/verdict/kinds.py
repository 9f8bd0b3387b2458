"""The verdict's words: the names of the answers both rules give, and the result they return.

Pure vocabulary (no decision is taken here), so that what renders a verdict can name its kinds
without reaching the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# the dataset rule's strength, by the lungs-boxed-out AUC
SHORTCUT, PARTIAL, NONE, INCOMPLETE = "shortcut", "partial shortcut", "no shortcut found", "incomplete"
# the dataset rule's kinds: what a model of these data reads
SOURCE, ACQUISITION, GEOMETRY, CAUSE, INCONCLUSIVE = ("source shortcut", "acquisition shortcut",
                                                      "protocol leak: lung geometry", "named cause", "inconclusive")
KINDS = (SOURCE, ACQUISITION, GEOMETRY, CAUSE, NONE, INCONCLUSIVE)
# the model rule's kinds: what a judged model reads
READS_LUNGS = "reads the lungs"
READS_SOURCE_IN_LUNGS = "reads the source inside the lungs"
READS_OUTSIDE = "reads outside the lungs"
READS_BOTH = "reads the lungs and outside them"
MODEL_KINDS = (READS_LUNGS, READS_SOURCE_IN_LUNGS, READS_BOTH, READS_OUTSIDE, INCONCLUSIVE)
# the remedy rule's baseline: training as it was, each remedy measured against it
PLAIN = "plain"


@dataclass(frozen=True)
class Decision:
    """What a rule decided.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS` (dataset rule) or :data:`MODEL_KINDS` (model rule).
    reason : str
        One sentence: the figures that decided, with their intervals.
    evidence : list of dict
        Every figure the rule read: ``probe``, ``figure``, ``ci_low``, ``ci_high``, ``sentence``
        (and ``explains`` for a probe that can explain a residual).
    what : str or None
        The model rule's ``reads outside the lungs``: ``the source`` or ``the frame``.
    strength : str or None
        The dataset rule's strength by the boxed-out AUC (``shortcut``, ``partial shortcut``, ...).
    """

    kind: str
    reason: str
    evidence: list[dict] = field(default_factory=list)
    what: str | None = None
    strength: str | None = None


@dataclass(frozen=True)
class DatasetVerdict:
    """What a model trained on one dataset reads, and the evidence.

    Attributes
    ----------
    name, title : str
    kind : str
        ``source shortcut``, ``acquisition shortcut``, ``protocol leak: lung geometry``,
        ``no shortcut found`` or ``inconclusive`` (the rule: ``cxr_isi.verdict.dataset.RULE``).
    strength : str
        ``shortcut``, ``partial shortcut``, ``no shortcut found`` or ``incomplete``: the
        lungs-boxed-out AUC against the fixed cut-offs 0.80 and 0.65.
    reason : str
        The kind's reason in one sentence.
    auc_lungs_boxed_out, auc_original, auc_lungs_boxed_out_fixed_box : float
        The deciding AUCs (NaN where not run), each with its 95% interval in ``*_ci``.
    evidence : list of dict
        Every figure behind the verdict (probe, figure, interval, sentence).
    """

    name: str
    title: str
    kind: str
    strength: str
    reason: str
    auc_lungs_boxed_out: float
    auc_lungs_boxed_out_ci: tuple[float | None, float | None]
    auc_lungs_boxed_out_fixed_box: float
    auc_lungs_boxed_out_fixed_box_ci: tuple[float | None, float | None]
    auc_original: float
    evidence: list[dict] = field(default_factory=list)

    @classmethod
    def from_summary(cls, name: str, d: dict) -> DatasetVerdict:
        """One dataset's entry of ``summary.json`` (``datasets.NAME``)."""
        return cls(name=name, title=d["title"], kind=d["verdict_kind"], strength=d["verdict"], reason=d["reason"],
                   auc_lungs_boxed_out=d["auc_lungs_boxed_out"],
                   auc_lungs_boxed_out_ci=tuple(d["auc_lungs_boxed_out_ci"]),
                   auc_lungs_boxed_out_fixed_box=d["auc_lungs_boxed_out_fixed_box"],
                   auc_lungs_boxed_out_fixed_box_ci=tuple(d["auc_lungs_boxed_out_fixed_box_ci"]),
                   auc_original=d["auc_original"], evidence=d["evidence"])
