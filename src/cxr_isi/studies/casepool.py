"""One pool for benchmarks made of many small studies (``cxr-isi error-rates``, ``cxr-isi
external``): each study (a case, a pair) runs its jobs one after another in its own process with
one thread, ``n_jobs`` studies at once (a pool per study would cost more to start than its jobs
take)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cxr_isi.logs import get_logger

log = get_logger("studies")


def one_thread() -> None:
    """A pool worker's initializer: the studies share the cores, one each, as every training job
    has."""
    import torch

    torch.set_num_threads(1)


def run_studies(todo: Sequence[Any], worker: Callable[[dict, str, Any], str], data: dict, out: Path, *,
                n_jobs: int, progress: bool, what: str) -> None:
    """Run ``worker(data, str(out), item)`` for every item, ``n_jobs`` at once (spawned
    processes, one thread each; one after another in this process when ``n_jobs`` is 1), with a
    progress bar called ``what``."""
    from concurrent.futures import as_completed

    from cxr_isi._pool import ProcessPool
    from cxr_isi.progress import progress_bar

    with progress_bar(progress) as bar:
        task = bar.add_task(what, total=len(todo))
        if n_jobs == 1:
            for item in todo:
                worker(data, str(out), item)
                bar.advance(task)
            return
        # a stop ends the running studies (minutes each): they resume from their run folders
        with ProcessPool(n_jobs, initializer=one_thread, stop="terminate") as pool:
            for f in as_completed(pool.submit_all(worker, [(data, str(out), item) for item in todo])):
                log.info("%s: done %s", what, f.result())
                bar.advance(task)
