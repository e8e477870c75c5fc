"""How an analysis runs its ensembles: the options, and a session (a store folder, one runner) for several in a row."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserInputError
from ..options import check_count, check_time_step
from .runners import DaskRunner, LocalRunner

__all__ = [
    "RunOptions",
    "session",
]


@dataclass(frozen=True)
class RunOptions:
    """How the ensembles of an analysis are run and where they are stored.

    Checked when made: a value that is not allowed raises
    :class:`~megacity_sd.errors.UserInputError`, in one line naming the
    attribute (``time_step``, ``workers`` ...).

    Attributes
    ----------
    store : Path or None
        Folder for the ensembles (resumable: the same command reuses finished
        batches); None: a temporary folder, removed at the end. A string is
        taken as a path.
    engine : {"fast", "simlin", "pysd"} or callable
        See :func:`~megacity_sd.ensemble.run_ensemble`.
    workers : int or None
        Local worker processes, an integer >= 0 (None: every CPU; 0: in this process).
    scheduler : str or distributed.Client or None
        A Dask scheduler (``tcp://HOST:PORT``) or client instead of the local
        pool; not together with ``workers``.
    time_step : float or None
        Integration step, 1/k year for an integer k from 1 to
        :data:`~megacity_sd.options.MAX_STEPS_PER_YEAR` (None: the
        model's TIME STEP, 1/8 year). Stored as a float.
    batch_size : int or None
        Parameter sets per batch, an integer >= 1 (None: chosen from the engine
        and the number of sets).
    progress : bool
        Show a progress bar.

    Raises
    ------
    UserInputError
        A value of the wrong type (a bool or a list for a count, a string for
        the step ...) or out of range (``time_step`` 0, -1 or 1e-6, ``workers``
        -1, ``batch_size`` 0), an unknown engine, an empty scheduler address,
        or both ``workers`` and ``scheduler``.
    """

    store: Path | None = None
    engine: str = "fast"
    workers: int | None = None
    scheduler: object = None
    time_step: float | None = None
    batch_size: int | None = None
    progress: bool = False

    def __post_init__(self):
        from ..engines import ENGINES

        def put(name, value):
            object.__setattr__(self, name, value)  # frozen: the checked, normalised value

        if self.store is not None:
            if not isinstance(self.store, str | os.PathLike) or not str(self.store).strip():
                raise UserInputError(f"store {self.store!r}: not a folder; allowed: a path or None (a temporary "
                                     "folder)")
            put("store", Path(self.store))
        if not callable(self.engine) and not (isinstance(self.engine, str) and self.engine in ENGINES):
            raise UserInputError(f"engine {self.engine!r}: unknown; allowed: {', '.join(ENGINES)} or a callable")
        put("workers", check_count(self.workers, "workers", 0))
        put("batch_size", check_count(self.batch_size, "batch_size", 1))
        put("time_step", check_time_step(self.time_step, "time_step"))
        if not isinstance(self.progress, bool | np.bool_):
            raise UserInputError(f"progress {self.progress!r}: not allowed; allowed: True or False")
        put("progress", bool(self.progress))
        if self.scheduler is not None:
            if isinstance(self.scheduler, str):
                if not self.scheduler.strip():
                    raise UserInputError("scheduler: empty; allowed: the address of a running Dask scheduler, "
                                         "tcp://HOST:PORT, or a distributed.Client")
            elif not isinstance(self.scheduler, _client_class()):
                raise UserInputError(f"scheduler {self.scheduler!r}: not allowed; allowed: the address of a "
                                     "running Dask scheduler, tcp://HOST:PORT, or a distributed.Client")
            if self.workers is not None:
                raise UserInputError("workers and scheduler: choose one (a local pool or a Dask cluster)")


def _client_class():
    """``distributed.Client``, or ``()`` (matching nothing) where distributed is not installed (it is optional)."""
    try:
        from distributed import Client
    except ImportError:
        return ()
    return Client


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
