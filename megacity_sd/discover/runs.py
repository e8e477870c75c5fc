"""Running samples through the project's ensemble runner (resumable, local pool or Dask) and reading back the series
the targets need."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..ensemble import RunOptions, session
from ..model import MODEL_PATH

__all__ = [
    "RunOptions",
    "run_sets",
    "session",
]


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
