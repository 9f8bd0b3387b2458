"""The cross-dataset rule: does a model trained on one dataset transfer to another?

It reads the cross test's AUC with its 95% interval (DeLong on one split, or a t interval over
the folds' means) and the sensitivity and specificity at the cut-off 0.5, and names one of
:data:`CROSS_KINDS`. Its words never say more than its figures: "transfers" needs an interval
above chance and a cut-off that still calls both classes; an interval that holds 0.5 is "near
chance" whatever the point; an interval below 0.5 ranks the other dataset the wrong way round.
"""

from __future__ import annotations

import math

from cxr_isi.verdict.kinds import Decision
from cxr_isi.verdict.thresholds import CROSS_NEAR_CHANCE, CROSS_TRANSFERS

TRANSFERS, PARTLY, NEAR_CHANCE, REVERSED, NO_RESULT = (
    "transfers", "transfers partly", "is near chance", "ranks the other way round", "no result")
CROSS_KINDS = (TRANSFERS, PARTLY, NEAR_CHANCE, REVERSED, NO_RESULT)

CROSS_RULE = (
    "No AUC -> no result. Its 95% interval below 0.5 -> ranks the other way round; holding 0.5 (or, with no "
    f"interval, an AUC at or below {CROSS_NEAR_CHANCE:g}) -> near chance. Above 0.5: an AUC of "
    f"{CROSS_TRANSFERS:g} or more -> transfers, unless at the cut-off 0.5 it calls every image one class "
    "(sensitivity or specificity 0.00: the ranking transfers, the cut-off does not) -> transfers partly; "
    "below it -> transfers partly.")


def _num(x: float | None) -> float | None:
    """``x`` as a float where it is a finite number, else None (not known)."""
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def decide(train: str, test: str, auc: float | None, ci: tuple[float | None, float | None] = (None, None),
           sensitivity: float | None = None, specificity: float | None = None,
           where: str = "") -> Decision:
    """The cross test's kind and its sentence, by :data:`CROSS_RULE`.

    Parameters
    ----------
    train, test : str
        The datasets' names, as the sentence says them.
    auc : float or None
        The cross test's AUC (``where`` says which: ``"cross-validation mean "`` or ``""``).
    ci : (float, float)
        Its 95% interval; ``None`` ends where it is not known (one fold, no interval).
    sensitivity, specificity : float, optional
        At the cut-off 0.5.

    Returns
    -------
    Decision
        ``kind`` one of :data:`CROSS_KINDS`; ``reason`` the whole sentence.
    """
    head = f"Trained on {train}, tested on {test}:"
    point = _num(auc)
    if point is None:
        return Decision(NO_RESULT, f"{head} no result.")
    low, high = _num(ci[0]), _num(ci[1])
    if low is None or high is None:
        low = high = None
    figure = f"{where}AUC {point:.2f}" + (f" (95% CI {low:.2f}-{high:.2f})" if low is not None else "")
    sens, spec = _num(sensitivity), _num(specificity)
    if sens is None or spec is None:
        sens = spec = None
    at = f", sensitivity {sens:.2f} and specificity {spec:.2f} at 0.5" if sens is not None else ""
    one_class = sens is not None and spec is not None and (round(sens, 2) == 0 or round(spec, 2) == 0)
    word = "negative" if sens is not None and round(sens, 2) == 0 else "positive"
    cut = f"at 0.5 it calls every image {word}: the cut-off does not transfer" if one_class else ""
    if high is not None and high < 0.5:
        kind, why = REVERSED, "its interval lies below 0.5: it calls the other dataset's negatives positive"
    elif (low is not None and low <= 0.5) or (low is None and point <= CROSS_NEAR_CHANCE):
        kind = NEAR_CHANCE
        why = ("its interval holds 0.5" if low is not None
               else f"an AUC at or below {CROSS_NEAR_CHANCE:g}, with no interval")
    elif point >= CROSS_TRANSFERS and not one_class:
        kind, why = TRANSFERS, ""
    elif point >= CROSS_TRANSFERS:
        kind, why = PARTLY, f"it ranks the images, but {cut}"
    else:
        kind, why = PARTLY, f"above chance, below {CROSS_TRANSFERS:g}" + (f"; {cut}" if cut else "")
    return Decision(kind, f"{head} {figure}{at}: the model {kind}" + (f" ({why})." if why else "."))
