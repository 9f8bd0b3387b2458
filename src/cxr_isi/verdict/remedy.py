"""The remedy rule: which remedy helped, measured where the model never was.

It reads the remedy table (:func:`cxr_isi.study.remedies.remedy_table`): per remedy and measure
an AUC with its interval and the paired difference to plain training with its interval. The
measure that decides is "elsewhere": the first external set where the run has one, else
leave-one-source-out. A remedy *helped* where its paired difference there has its 95% interval
above 0; the one that helped most (largest difference) is named. Where none did, the sentence
says why: nothing measured elsewhere, plain training already transferring, or intervals too wide
to tell. A remedy that lowers the AUC elsewhere by more than :data:`HARM` is named as harmful.
"""

from __future__ import annotations

from cxr_isi.evaluate.text import interval_text
from cxr_isi.verdict.kinds import PLAIN, Decision

HELPED, NONE_HELPED, NOT_MEASURED = "a remedy helped", "no remedy helped", "not measured elsewhere"
KINDS = (HELPED, NONE_HELPED, NOT_MEASURED)
HARM = 0.05  # a fall of the AUC elsewhere larger than this is named
CHANCE = 0.5  # a remedy whose AUC elsewhere stays below this (its interval) fixed nothing there
TRANSFERS = 0.80  # plain training's AUC elsewhere from which "it already transfers" is said
RULE = ("A remedy helped where its AUC elsewhere (the first external set, else leave-one-source-out) beats plain "
        "training's on the same images with the paired difference's 95% interval above 0; the largest such "
        f"difference is named, unless its AUC elsewhere stays below chance ({CHANCE}, its interval): then none "
        f"helped. One that lowers the AUC elsewhere by more than {HARM} is named as harmful.")


def _text(v: float | None, low: float | None, high: float | None, *, signed: bool = False) -> str:
    """A remedy's figure in its sentence: one value (one source left out, one seed) says its
    interval is unknown."""
    return interval_text(v, low, high, style="to", signed=signed, absent="not computed",
                         unknown=" (95% CI unknown: one value)")


def _diff(row: dict) -> str:
    """A remedy's paired difference against plain training, signed, with its interval."""
    return _text(row["diff"], row["diff_low"], row["diff_high"], signed=True)


def decide(table: list[dict], external: list[str], sources_left_out: list[str]) -> Decision:
    """The decision on a remedy table (records of :func:`~cxr_isi.study.remedies.remedy_table`).

    Returns
    -------
    Decision
        ``kind`` one of :data:`KINDS`; ``what`` the remedy that helped most (or None); the reason
        in one sentence; the rows of the deciding measure as evidence.
    """
    where = next((e for e in external if any(r["measure"] == e for r in table)), None)
    measure, words = ((where, "the external set" if where == "external" else f"the external set {where}") if where
                      else ("loso", "sources left out one at a time"))
    rows = [r for r in table if r["measure"] == measure]
    plain = next((r for r in rows if r["remedy"] == PLAIN), None)
    if plain is None or plain.get("value") is None:
        return Decision(NOT_MEASURED, "nothing was measured elsewhere: no external set was given and no source gives "
                        "both classes enough to be left out; a remedy's effect on other hospitals is unknown here",
                        rows)
    others = [r for r in rows if r["remedy"] != PLAIN and r.get("diff") is not None]
    helped = [r for r in others if r.get("diff_low") is not None and r["diff_low"] > 0]
    harmful = [r["remedy"] for r in others if r["diff"] < -HARM]
    harm = f"; lowered it by more than {HARM}: {', '.join(harmful)}" if harmful else ""
    base = f"plain training scores {_text(plain['value'], plain['ci_low'], plain['ci_high'])} on {words}"
    below = [r for r in helped if r.get("ci_high") is not None and r["ci_high"] < CHANCE]
    if helped and len(below) == len(helped):
        best = max(helped, key=lambda r: r["diff"])
        return Decision(NONE_HELPED, (
            f"{base}: below chance, the model ranks that data's classes the wrong way round; {best['remedy']} raised "
            f"it by {_diff(best)} to "
            f"{_text(best['value'], best['ci_low'], best['ci_high'])}, still below chance: no remedy made a model "
            "that works there (its labels or patients differ from home's in a way no remedy for a source shortcut "
            f"can fix){harm}"), rows)
    if helped:
        best = max(helped, key=lambda r: r["diff"])
        one_seed = (" (one training seed: its interval counts the test images, not another training draw; "
                    "--seeds 3 or more measures that too)" if best.get("n") == 1 and measure != "loso" else "")
        return Decision(HELPED, (f"{best['remedy']} helped most: on {words} it scores "
                                 f"{_text(best['value'], best['ci_low'], best['ci_high'])} against plain training's "
                                 f"{plain['value']:.2f}, a paired difference of "
                                 f"{_diff(best)}{one_seed}{harm}"),
                        rows, what=best["remedy"])
    if not others:
        return Decision(NONE_HELPED, f"{base}; no remedy was measured beside it", rows)
    top = max(others, key=lambda r: r["diff"])
    def below_zero(r: dict) -> bool:
        return r.get("diff_high") is not None and r["diff_high"] == r["diff_high"] and r["diff_high"] < 0

    unknown = top.get("diff_low") is None or top["diff_low"] != top["diff_low"]
    low = plain.get("ci_low")
    transfers = plain["value"] >= TRANSFERS and (low is None or low != low or low > CHANCE)  # as quoted
    why = ("every remedy measured lowered it, each with its interval below 0" if all(map(below_zero, others)) else
           "even the largest difference lies below 0, its interval too" if below_zero(top) else
           f"plain training already transfers ({plain['value']:.2f})" if transfers else
           "the largest difference has no interval (one value): more seeds or sources elsewhere would tell a gain "
           "from chance" if unknown else
           "their paired intervals reach 0: too few images or seeds elsewhere to tell a gain from chance")
    return Decision(NONE_HELPED, (f"no remedy raised the AUC on {words} with an interval above 0 ({base}; the "
                                  f"largest difference, {top['remedy']}: "
                                  f"{_diff(top)}): {why}{harm}"),
                    rows)
