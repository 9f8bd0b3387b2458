"""The external-AUC benchmark's tables for the documentation (issue 24): per pair the figures at home, this
project's leave-one-pair-out estimate beside PEst's and the AUC measured elsewhere, then each
estimator's mean absolute error and coverage. The figures are read by
:func:`cxr_isi.studies.external.external_tables` (the caller passes them); this module writes
``external.md``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxr_isi.evaluate import external as est


def markdown(table: pd.DataFrame, errors: dict, model: dict | None) -> str:
    """The documentation's tables: per pair, then the errors."""
    f = lambda v: "–" if v is None or v != v else f"{v:.2f}"  # noqa: E731
    lines = ["| pair | at home | fixed box | tile-shuffled | PEst | this estimate (95%) | measured elsewhere |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        interval = f" ({f(getattr(r, 'ci_low', None))}-{f(getattr(r, 'ci_high', None))})"
        lines.append(f"| {r.pair} | {f(r.internal)} | {f(r.fixed_box)} | {f(r.acquisition)} | "
                     f"{f(getattr(r, 'pest', None))} | {f(getattr(r, 'estimate', None))}{interval} | {f(r.external)} |")
    lines += ["", "| pairs | estimator | n | mean absolute error | 95% interval covers |", "|---|---|---|---|---|"]
    for scope, by in errors.items():
        for name, e in by.items():
            if e.get("n"):
                cover = "–" if name == "internal AUC" else f"{e['coverage']:.0%}"
                lines.append(f"| {scope} | {name} | {e['n']} | {e['mae']:.3f} | {cover} |")
    if model:
        lines += ["", f"The line a run uses: {est.formula(model)}."]
    return "\n".join(lines) + "\n"


def write_external(out: str | Path, result: dict) -> dict:
    """Write the documentation's tables (``external.md``) of the benchmark's result (every
    finished pair read by :func:`cxr_isi.studies.external.external_tables`: the tables, the JSON
    and the shipped-model candidate)."""
    out = Path(out)
    (out / "external.md").write_text(markdown(pd.DataFrame(result["pairs"]), result["errors"], result["model"]))
    return result
