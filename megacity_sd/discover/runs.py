"""Running samples through the project's ensemble runner (resumable, local pool or Dask) and reading back the series
the targets need."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..ensemble import RunOptions, session

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
        Start of the ensemble's folder name (the start of its identity,
        :func:`megacity_sd.ensemble.ensemble_id`, follows, so a changed input
        starts a new ensemble and the same one resumes).
    opts : RunOptions
        Engine, integration step (``time_step``), batch size, store and runner.

    Returns
    -------
    years : numpy.ndarray
    series : dict of str to numpy.ndarray
        ``(runs, years)`` per variable, in model units.
    """
    from ..ensemble import ensemble_id, run_ensemble

    params = params.reset_index(drop=True)
    kw = {"base": base, "indicators": (), "series": list(variables), "engine": opts.engine,
          "time_step": opts.time_step}
    key = ensemble_id(params, **kw)  # names the folder: a changed input starts a new ensemble, the same resumes
    with (session(opts) if runner is None else _given(store, runner)) as (folder, pool):
        res = run_ensemble(params, folder / f"{tag}-{key[:12]}", runner=pool, batch_size=opts.batch_size,
                           progress=opts.progress, label=tag, **kw)
    years = np.asarray(next(iter(res.series.values())).columns, dtype=int)
    return years, {v: res.series[v].to_numpy(dtype=float) for v in variables}


@contextmanager
def _given(store, runner):
    yield Path(store), runner
