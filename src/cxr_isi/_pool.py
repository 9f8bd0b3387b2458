"""One way to run work in processes, for every command that does (the run's jobs, the many-study
benchmarks, the image cache, phantoms, OCR): spawned workers that leave Ctrl-C and SIGTERM to the
parent, a stop that never hangs and never orphans a worker, and a pool that a script without an
``if __name__ == "__main__":`` guard can start.

Written here rather than taken from a library: ``concurrent.futures`` gives the pool, but not
the signal handling, the stop that ends running work, or the guard-free start, and every pool
of the package needs all three.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM ignored inside (main thread only: elsewhere they cannot be set). A
    process started inside inherits them ignored from its first line."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextmanager
def _main_hidden() -> Iterator[None]:
    """Spawned workers import the parent's main script again (as ``__mp_main__``) unless told
    nothing of it: a script calling the API without an ``if __name__ == "__main__":`` guard then
    starts processes from inside a starting process (multiprocessing's bootstrap error). The
    package's workers need nothing from the main script, so it is hidden while they start."""
    main = sys.modules.get("__main__")
    saved: dict[str, Any] = {k: main.__dict__[k] for k in ("__file__", "__spec__")
                             if main is not None and k in main.__dict__}
    try:
        for k in saved:
            if k == "__file__":
                del main.__dict__[k]
            else:
                main.__dict__[k] = None
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


def _stopped(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _worker_start(initializer: Callable[[], None] | None) -> None:
    """Ctrl-C stays with the parent; SIGTERM (the parent ending its running work) unwinds the
    worker, so a pool of its own (phantoms, a study's jobs) ends its workers too: nothing is left
    running, and no worker holds the terminal's output open."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # already ignored from the start; kept ignored
    signal.signal(signal.SIGTERM, _stopped)
    if initializer is not None:
        initializer()


class ProcessPool:
    """A spawned process pool; :meth:`submit_all` starts the work, leaving the block stops it.

    Parameters
    ----------
    n_jobs : int
        Workers.
    initializer : callable, optional
        Run once in each worker (a module-level function).
    stop : {"wait", "terminate"}
        On leaving the block early (Ctrl-C, SIGTERM, an error): queued work is dropped, and the
        running work is waited for (``wait``: items of seconds) or ended (``terminate``: items of
        minutes, such as training jobs, that resume from what they saved).
    """

    def __init__(self, n_jobs: int, initializer: Callable[[], None] | None = None, stop: str = "wait"):
        self.n_jobs = n_jobs
        self.initializer = initializer
        self.stop = stop
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessPool:
        self._pool = ProcessPoolExecutor(self.n_jobs, mp_context=get_context("spawn"), initializer=_worker_start,
                                         initargs=(self.initializer,))
        return self

    def submit_all(self, fn: Callable[..., Any], calls: Iterable[tuple]) -> list[Future]:
        """``fn(*args)`` for each ``args`` of ``calls``; the workers start here, with Ctrl-C
        ignored and the main script hidden."""
        assert self._pool is not None
        with signals_held(), _main_hidden():
            return [self._pool.submit(fn, *args) for args in calls]

    def __exit__(self, kind, value, traceback) -> None:
        assert self._pool is not None
        pool = self._pool
        with signals_held():
            if kind is not None and self.stop == "terminate":
                # queued work is cancelled by shutdown below; concurrent.futures has no public way
                # to end running work before Python 3.14 (terminate_workers): its workers are plain
                # multiprocessing processes
                for p in list((getattr(pool, "_processes", None) or {}).values()):
                    if p.is_alive():
                        p.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
