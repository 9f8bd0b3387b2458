"""Progress bars for long work (rich), quiet when disabled or when nothing is a terminal."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cxr_isi.logs import console


def progress_bar(enabled: bool = True) -> Progress:
    """A progress bar on stderr; ``enabled=False`` keeps the same API and draws nothing."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
