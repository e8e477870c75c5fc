"""How an analysis runs its ensembles: the options, and a session (a store folder, one runner) for several in a row."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .runners import DaskRunner, LocalRunner

__all__ = [
    "RunOptions",
    "session",
]


@dataclass(frozen=True)
class RunOptions:
    """How the ensembles of an analysis are run and where they are stored.

    Attributes
    ----------
    store : Path or None
        Folder for the ensembles (resumable: the same command reuses finished
        batches); None: a temporary folder, removed at the end.
    engine : {"fast", "simlin", "pysd"}
    workers : int or None
        Local worker processes (None: every CPU; 0: in this process).
    scheduler : str or distributed.Client or None
        A Dask scheduler instead of the local pool.
    time_step : float or None
        Integration step (None: the model's TIME STEP, 1/8 year).
    batch_size : int or None
        Parameter sets per batch (None: chosen from the engine and the number of sets).
    progress : bool
        Show a progress bar.
    """

    store: Path | None = None
    engine: str = "fast"
    workers: int | None = None
    scheduler: object = None
    time_step: float | None = None
    batch_size: int | None = None
    progress: bool = False


@contextmanager
def session(opts: RunOptions):
    """A store folder and one runner (Dask, or a local pool), for several ensembles in a row.

    Yields
    ------
    (Path, LocalRunner or DaskRunner)
        The folder the ensembles are stored in and the runner; the runner is
        closed, and a temporary folder removed, when the block ends.
    """
    tmp = None
    store = opts.store
    if store is None:
        tmp = tempfile.TemporaryDirectory(prefix="megacity-sd-ensemble-")
        store = Path(tmp.name)
    if opts.scheduler is not None:
        runner = DaskRunner(opts.scheduler)
    else:
        runner = LocalRunner((os.cpu_count() or 1) if opts.workers is None else opts.workers)
    try:
        yield Path(store), runner
    finally:
        runner.close()
        if tmp is not None:
            tmp.cleanup()
