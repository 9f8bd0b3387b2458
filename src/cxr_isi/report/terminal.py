"""What the study commands print on a terminal (``run``, ``report``, ``demo``): the verdicts and
the single-split results, rendered from the summary and the results table, on any console (the
command line's, or a notebook's ``rich.console.Console``). What it needs beyond rich is imported
when it prints: ``cxr-isi --help`` stays fast."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def figure_text(x: float | None, nd: int = 3) -> str:
    """A figure, or "n/a" where it was not computed (None or NaN)."""
    return "n/a" if x is None or x != x else f"{x:.{nd}f}"


def _with_ci(auc, ci) -> str:
    from cxr_isi.evaluate.text import interval_text

    low, high = ci if ci else (None, None)
    return interval_text(auc, low, high, digits=3, style="short", absent="-")


def print_verdicts(summary: dict, console: Console) -> None:
    """The verdict of each dataset: a table on a wide terminal; under 110 columns one block per
    dataset, so no figure or interval is ever cut (a table there truncated them with an
    ellipsis); then the cross-dataset sentences.

    Parameters
    ----------
    summary : dict
        A run's ``summary.json``.
    console : rich.console.Console
    """
    rows = []
    for name, d in summary["datasets"].items():
        original = d["auc_original"]
        rows.append((name, str(d.get("audit_verdict") or "-"), d.get("verdict_kind", d["verdict"]),
                     _with_ci(d["auc_lungs_boxed_out"], d.get("auc_lungs_boxed_out_ci")),
                     _with_ci(d.get("auc_lungs_boxed_out_fixed_box"), d.get("auc_lungs_boxed_out_fixed_box_ci")),
                     figure_text(float("nan") if original is None else float(original), 3), str(d["auc_from"])))
    if console.width >= 110:
        table = Table(title="Verdicts: what does a model read?")
        for c in ("dataset", "audit", "verdict", "AUC boxed-out (95% CI)", "fixed box", "AUC original", "from"):
            table.add_column(c, no_wrap=c.startswith(("AUC", "fixed")), overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        console.print("[bold]Verdicts: what does a model read?[/]")
        for name, audit, kind, boxed, fixed, original, where in rows:
            console.print(f"[bold]{escape(name)}[/]: {escape(kind)} (audit: {escape(audit)})", highlight=False)
            for label, value in (("AUC boxed out", boxed), ("fixed box", fixed), ("AUC original", original)):
                console.print(f"  {label:<14}{value}", highlight=False, no_wrap=True, overflow="ignore")
            console.print(f"  {'from':<14}{where}", highlight=False)
    from cxr_isi.report.sentences import cross_sentence

    for c in summary.get("cross", []):
        console.print(cross_sentence(c))


def print_results(results, console: Console) -> None:
    """The single-split test AUCs with their intervals, sensitivity and specificity at 0.5.

    Parameters
    ----------
    results : DataFrame or None
        A run's ``results.csv``.
    console : rich.console.Console
    """
    if results is None or len(results) == 0:
        console.print("no finished jobs")
        return
    from cxr_isi.evaluate.text import interval_text
    from cxr_isi.lungs.hideseek import image_set_title
    split = results[results["protocol"] == "split"]
    table = Table(title="Test AUC (single split)")
    for c in ("train", "test", "image set", "model", "AUC (95% CI)", "sens", "spec"):  # figures whole, words wrap
        table.add_column(c, no_wrap=c in ("AUC (95% CI)", "sens", "spec"), overflow="fold")
    nan = float("nan")
    for _, r in split.iterrows():
        table.add_row(r["train_dataset"], r["test_dataset"], image_set_title(r["variant"]), r["model"],
                      interval_text(r["auc"], r.get("auc_ci_low", nan), r.get("auc_ci_high", nan), digits=3,
                                    style="short", absent="-"),
                      figure_text(r.get("sensitivity", nan), 2), figure_text(r.get("specificity", nan), 2))
    console.print(table)
