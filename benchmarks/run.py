"""`make bench`: run every benchmark, print one table each with the ratio to its baseline.

Each ``bench_*.py`` module has ``run() -> (title, rows)``; a row is a dict with ``case``,
``value``, ``unit`` and, for a baseline, ``baseline: True``; each row's ratio is to the
baseline of the same unit. Ratios are against
the baseline measured in the same run, on the same machine.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(selected: list[str]) -> None:
    console = Console(width=150)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    for name in names:
        title, rows = importlib.import_module(name).run()
        bases = {r["unit"]: r for r in rows if r.get("baseline")}
        table = Table(title=title)
        for col in ("case", "value", "unit", "ratio to baseline", "note"):
            table.add_column(col, justify="right" if col in ("value", "ratio to baseline") else "left")
        for r in rows:
            base = bases.get(r["unit"])
            ratio = f"{r['value'] / base['value']:.1f}x" if base and base["value"] else ""
            table.add_row(r["case"], f"{r['value']:,.1f}", r["unit"], ratio, r.get("note", ""))
        console.print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
