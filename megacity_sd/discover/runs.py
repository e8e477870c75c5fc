"""Running samples through the project's ensemble runner (resumable, local pool or Dask) and reading back the series
the targets need."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..model import MODEL_PATH

__all__ = [
    "RunOptions",
    "run_sets",
    "session",
]


@dataclass(frozen=True)
class RunOptions:
    """How the runs are made and where the ensembles are kept.

    Attributes
    ----------
    store : Path or None
        Folder for the ensembles (resumable: the same command reuses finished
        batches); None: a temporary folder.
    engine : {"fast", "simlin", "pysd"}
    workers : int or None
        Local worker processes (None: every CPU; 0: in this process).
    batch_size : int or None
    progress : bool
    """

    store: Path | None = None
    engine: str = "fast"
    workers: int | None = None
    batch_size: int | None = None
    progress: bool = False


@contextmanager
def session(opts: RunOptions):
    """A store folder and a local worker pool, for several ensembles in a row."""
    from ..ensemble import LocalRunner

    tmp = None
    store = opts.store
    if store is None:
        tmp = tempfile.TemporaryDirectory(prefix="megacity-sd-discover-")
        store = Path(tmp.name)
    runner = LocalRunner((os.cpu_count() or 1) if opts.workers is None else opts.workers)
    try:
        yield Path(store), runner
    finally:
        runner.close()
        if tmp is not None:
            tmp.cleanup()


def run_sets(params: pd.DataFrame, base: dict[str, float], variables: Sequence[str], *, tag: str,
             opts: RunOptions = RunOptions(), store: Path | None = None, runner=None
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run parameter sets on top of a base scenario through the ensemble runner; return yearly series.

    Parameters
    ----------
    params : pandas.DataFrame
        One row per run; columns are model constants.
    base : dict
        Constants shared by every run.
    variables : sequence of str
        Model variables whose yearly values are returned.
    tag : str
        Start of the ensemble's folder name (a digest of the inputs follows,
        so a changed input starts a new ensemble and the same one resumes).

    Returns
    -------
    years : numpy.ndarray
    series : dict of str to numpy.ndarray
        ``(runs, years)`` per variable, in model units.
    """
    from ..ensemble import run_ensemble

    digest = hashlib.sha256(json.dumps([list(params.columns), sorted(base.items()), list(variables), opts.engine],
                                       default=str).encode()
                            + np.ascontiguousarray(params.to_numpy(dtype=float)).tobytes()
                            + MODEL_PATH.read_bytes()).hexdigest()[:10]
    with (session(opts) if runner is None else _given(store, runner)) as (folder, pool):
        res = run_ensemble(params.reset_index(drop=True), folder / f"{tag}-{digest}", base=base, indicators=(),
                           series=list(variables), engine=opts.engine, runner=pool, batch_size=opts.batch_size,
                           progress=opts.progress, label=tag)
    years = np.asarray(next(iter(res.series.values())).columns, dtype=int)
    return years, {v: res.series[v].to_numpy(dtype=float) for v in variables}


@contextmanager
def _given(store, runner):
    yield Path(store), runner
