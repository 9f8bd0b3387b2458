"""A figure and its interval in words: the one formatter every sentence, table and terminal line
uses, so that an interval reads the same wherever it is quoted and a missing one is said, not
hidden."""

from __future__ import annotations

STYLES = ("ci", "to", "short")


def interval_text(estimate: float | None, low: float | None = None, high: float | None = None, *,
                  digits: int = 2, interval_digits: int = 2, style: str = "ci", level: float = 0.95,
                  signed: bool = False, absent: str = "n/a", without: str = "", unknown: str | None = None) -> str:
    """``0.91 (95% CI 0.85-0.96)``, and its other forms.

    Parameters
    ----------
    estimate : float or None
    low, high : float or None
        The interval's ends.
    digits, interval_digits : int
        Decimals of the estimate and of the ends.
    style : {"ci", "to", "short"}
        ``0.91 (95% CI 0.85-0.96)``, ``+0.05 (95% CI -0.01 to +0.11)`` (for signed differences),
        or ``0.912 (0.85-0.96)`` (a table cell that must not wrap).
    level : float
        The interval's level, as its name says it (``95% CI``, ``97.5% CI``).
    signed : bool
        A sign before the estimate and the ends.
    absent : str
        What stands for an estimate that is None or NaN.
    without : str
        What follows an estimate whose interval is not given (an end None), e.g.
        ``" (no interval: too few images)"``.
    unknown : str, optional
        What follows an estimate whose interval is undefined (an end NaN: one value, no spread);
        by default as ``without``.

    Returns
    -------
    str
    """
    if style not in STYLES:
        raise ValueError(f"style {style!r}: one of {', '.join(STYLES)}")
    if estimate is None or estimate != estimate:
        return absent
    sign = "+" if signed else ""
    text = f"{estimate:{sign}.{digits}f}"
    if low is None or high is None:
        return text + without
    if low != low or high != high:
        return text + (without if unknown is None else unknown)
    lo, hi = f"{low:{sign}.{interval_digits}f}", f"{high:{sign}.{interval_digits}f}"
    if style == "short":
        return f"{text} ({lo}-{hi})"
    name = f"{level:.1%} CI".replace(".0% CI", "% CI")
    return f"{text} ({name} {lo} to {hi})" if style == "to" else f"{text} ({name} {lo}-{hi})"
