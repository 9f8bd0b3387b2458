"""Figures from training compared as the documentation promises: words exactly, each figure
within the tolerance it carries.

Training in floating point is the same, digit for digit, only on the machine (CPU kernels, thread
count, library versions) that ran it: on another CPU class the kernels sum in another order, the
weights part in the last bits, and a retrained model scores a little differently. What is the same
on any machine is what the figures decide (every verdict, every rule's decision, every word); a
figure moves by at most the tolerance below (measured: ``docs/evidence/reproducibility.md``, made by
``benchmarks/spread.py``). This module states those tolerances once; the tutorial runner and the
tests that check a trained model's figure compare through it, as doctest's ``NUMBER`` option and
``numpy.testing.assert_allclose`` do, but with the tolerance a figure of this kind carries.

A *figure* is a decimal number (``0.810``, ``+0.112``, ``-0.18``) or a percentage (``100%``;
``95% CI`` names the interval and is a word). Whole numbers are counts (images, epochs, swaps) and
are compared exactly, as are the number of decimals a figure is printed with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The tolerances, stated once (docs/evidence/reproducibility.md quotes them; a test keeps the two
# the same). An interval's end moves more than its point (a t interval over 5 folds is 2.8 times
# the folds' spread, and the spread moves too); a rate at a fixed cut-off (sensitivity,
# specificity at 0.5) more still: a model whose scores shift a little around the cut-off moves
# many images across it.
TOLERANCE = 0.05
INTERVAL_TOLERANCE = 0.10
RATE_TOLERANCE = 0.15
RATE_WORDS = ("sensitivity", "specificity", "sens", "spec", "accuracy")

FIGURE = r"[+-]?\d+\.\d+|\d+%(?! CI)"
_FIGURE = re.compile(rf"(?<![\w.])(?:{FIGURE})(?![\w.%])")
_CAPTURE = rf"((?<![\w.])(?:{FIGURE})(?![\w.%]))"


@dataclass(frozen=True)
class Figure:
    """One figure as printed: its text, its value and the tolerance it carries."""

    text: str
    tolerance: float

    @property
    def value(self) -> float:
        return float(self.text[:-1]) / 100 if self.text.endswith("%") else float(self.text)

    @property
    def decimals(self) -> int:
        return len(self.text.split(".")[1]) if "." in self.text else -1

    def holds(self, printed: str) -> bool:
        """Whether ``printed`` is this figure, within its tolerance and in its format."""
        other = Figure(printed, self.tolerance)
        return (other.decimals == self.decimals and other.text.endswith("%") == self.text.endswith("%")
                and abs(other.value - self.value) <= self.tolerance + 1e-9)


def _tolerance(line: str, start: int, before: str = "") -> float:
    """A figure is a rate at a cut-off when a rate's word stands right before it (on the line
    before, where the terminal wrapped between them); an interval's end when it opens a
    parenthesis, follows "CI ", or follows the other end ("0.49-0.57", "-0.18 to +0.12")."""
    words = f"{before} {line[:start]}".split()
    word = words[-1].lower().strip("(,:") if words else ""
    if word in RATE_WORDS:
        return RATE_TOLERANCE
    head = line[:start] if line[:start].strip() else f"{before} "
    if head.endswith(("(", "CI ", " to ")) or (head.endswith("-") and head[:-1][-1:].isdigit()):
        return INTERVAL_TOLERANCE
    return TOLERANCE


def figures(line: str, rate_columns: frozenset[int] = frozenset(),
            before: str = "") -> list[tuple[re.Match[str], Figure]]:
    """The figures of one line, each with the tolerance it carries. ``rate_columns`` are the
    table cells (counted by ``│``) whose heading names a rate (:func:`rate_columns`); ``before``
    is the line shown above, whose last word may name the first figure."""
    found = []
    for m in _FIGURE.finditer(line):
        cell = line[: m.start()].count("│")
        tol = RATE_TOLERANCE if cell in rate_columns else _tolerance(line, m.start(), before)
        found.append((m, Figure(m.group(0), tol)))
    return found


def rate_columns(heading: str) -> frozenset[int]:
    """The cells of a table row (counted by ``│``) that a heading row (``┃ sens ┃``) names as rates."""
    cells = [c.strip().lower() for c in heading.split("┃")]
    return frozenset(i for i, c in enumerate(cells) if c in RATE_WORDS)


def pattern(line: str, rate_cols: frozenset[int] = frozenset(),
            before: str = "") -> tuple[re.Pattern[str], list[Figure]]:
    """A regular expression matching ``line`` with each figure left open, and the figures."""
    parts, shown, at = [], [], 0
    for m, fig in figures(line, rate_cols, before):
        parts.append(re.escape(line[at: m.start()]))
        parts.append(_CAPTURE)
        shown.append(fig)
        at = m.end()
    parts.append(re.escape(line[at:]))
    return re.compile("".join(parts)), shown


def find(line: str, printed: str, rate_cols: frozenset[int] = frozenset(), before: str = "") -> str | None:
    """``None`` when ``printed`` holds ``line`` (words exactly, figures within their tolerance);
    otherwise why not, naming the nearest figures."""
    regex, shown = pattern(line, rate_cols, before)
    nearest: tuple[float, str] | None = None
    for m in regex.finditer(printed):
        off = [(abs(Figure(g, f.tolerance).value - f.value) - f.tolerance, f, g)
               for f, g in zip(shown, m.groups(), strict=True) if not f.holds(g)]
        if not off:
            return None
        worst = max(off, key=lambda o: o[0])
        if nearest is None or worst[0] < nearest[0]:
            fig, got = worst[1], worst[2]
            how = (f"tolerance {fig.tolerance:g}" if Figure(got, fig.tolerance).decimals == fig.decimals
                   else "printed in another format")
            nearest = (worst[0], f"printed {got} where the page shows {fig.text} ({how})")
    return nearest[1] if nearest else "not printed (its words differ)"

