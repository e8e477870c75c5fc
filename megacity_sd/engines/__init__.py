"""The three engines behind one interface: one parameter set, or a batch of them.

Every simulation of the package starts here, through :func:`megacity_sd.simulate.run`
(one scenario) or :mod:`megacity_sd.ensemble` (batches, in this process or in
worker processes):

* ``fast``: PySD's own translation compiled to one loop
  (:mod:`megacity_sd.engines.fast`); equal to PySD to 1e-12; a batch advances
  every set at once (numpy arrays);
* ``pysd``: PySD as installed, the reference (about 25 times slower);
* ``simlin``: pysimlin, a second, independent engine on the same ``.mdl``.

Results are trimmed to whole years here, once, whatever the engine.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..model import MODEL_PATH, canonical

if TYPE_CHECKING:  # annotations only: numpy and pandas are imported where runs happen
    import numpy as np
    import pandas as pd

__all__ = ["ENGINES", "DEFAULT_ENGINE", "engine_model", "run_one", "run_series", "run_batch", "whole_years"]

ENGINES = ("fast", "pysd", "simlin")
DEFAULT_ENGINE = "fast"

_MODELS: dict[tuple, object] = {}


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")


def engine_model(engine: str, mdl_path: str | Path = MODEL_PATH, time_step: float | None = None,
                 py_path: str | None = None):
    """The loaded model of an engine, loaded once per process (and per time step for pysimlin).

    Parameters
    ----------
    engine : {"fast", "pysd", "simlin"}
    mdl_path : str or Path
        The model file.
    time_step : float, optional
        pysimlin keeps the step in its project, so another step is another model.
    py_path : str, optional
        PySD's translation of the model, when already known (``fast``: spares
        importing PySD in a worker process).

    Returns
    -------
    object
        ``fast``: :class:`~megacity_sd.engines.fast.FastModel`; ``pysd``: a tuple
        of the PySD model and the model's constant defaults (PySD keeps
        parameters between runs, so every run sets them all); ``simlin``: a
        ``simlin.Model``.
    """
    _check_engine(engine)
    mdl_path = str(mdl_path)
    key = (engine, mdl_path, time_step if engine == "simlin" else None)
    if key not in _MODELS:
        if engine == "fast":
            from .fast import load_fast, load_translation

            _MODELS[key] = load_translation(py_path) if py_path and Path(py_path).is_file() else load_fast(mdl_path)
        elif engine == "simlin":
            from ..model import load_simlin

            m = load_simlin(mdl_path)
            if time_step is not None:
                m.project.set_sim_specs(dt=float(time_step))
            _MODELS[key] = m
        else:
            from ..model import load_pysd
            from .fast import load_fast

            _MODELS[key] = (load_pysd(mdl_path), load_fast(mdl_path).constants)
    return _MODELS[key]


def whole_years(times) -> tuple[np.ndarray, np.ndarray]:
    """The saved times that are whole years: ``(mask, years)``, with ``years`` as integers."""
    import numpy as np

    t = np.asarray(times, dtype=float)
    keep = np.isclose(t, np.round(t), atol=1e-6)
    return keep, np.round(t[keep]).astype(int)


def _simlin_series(model, overrides: dict[str, float], names: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    import numpy as np

    sim = model.simulate(overrides=overrides)
    sim.run_to_end()
    return (np.asarray(sim.get_series("time"), dtype=float),
            [np.asarray(sim.get_series(n), dtype=float) for n in names])


def run_series(engine: str, constants: Mapping[str, float], variables: Sequence[str], *,
               time_step: float | None = None, mdl_path: str | Path = MODEL_PATH
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulate one parameter set; the whole saved years and one array per variable (no pandas).

    Parameters and engines as :func:`run_one`, which builds its table from this.

    Returns
    -------
    years : numpy.ndarray of int
    series : dict of str to numpy.ndarray
        One array per variable (model names), model units.
    """
    import numpy as np

    _check_engine(engine)
    variables = list(variables)
    if engine == "fast":
        times, cols = engine_model("fast", mdl_path).run_arrays(dict(constants), variables, time_step=time_step)
    elif engine == "pysd":
        from ..model import load_pysd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = load_pysd(mdl_path).run(params=dict(constants), time_step=time_step, return_columns=variables)
        times, cols = df.index.to_numpy(dtype=float), [df[v].to_numpy(dtype=float) for v in variables]
    else:
        model = engine_model("simlin", mdl_path, time_step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times, cols = _simlin_series(model, {canonical(k): float(v) for k, v in constants.items()},
                                         [canonical(v) for v in variables])
    keep, years = whole_years(times)
    return years, {v: np.asarray(c[keep], dtype=float) for v, c in zip(variables, cols, strict=True)}


def run_one(engine: str, constants: Mapping[str, float], variables: Sequence[str], *,
            time_step: float | None = None, mdl_path: str | Path = MODEL_PATH) -> pd.DataFrame:
    """Simulate one parameter set.

    Parameters
    ----------
    engine : {"fast", "pysd", "simlin"}
    constants : mapping of str to float
        Constant overrides, model names.
    variables : sequence of str
        Model variables to return (model names).
    time_step : float, optional
        Integration step in years (default: the model's TIME STEP).
    mdl_path : str or Path
        The model file.

    Returns
    -------
    pandas.DataFrame
        One row per whole saved year (integer index ``year``), one column per
        variable, model units.
    """
    import pandas as pd

    years, series = run_series(engine, constants, variables, time_step=time_step, mdl_path=mdl_path)
    return pd.DataFrame(series, index=pd.Index(years, name="year"))


def run_batch(engine: str, params: pd.DataFrame, base: Mapping[str, float], variables: Sequence[str], *,
              time_step: float | None = None, mdl_path: str | Path = MODEL_PATH, py_path: str | None = None
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulate each row of ``params`` on top of ``base``.

    Parameters
    ----------
    engine : {"fast", "pysd", "simlin"}
        ``fast``: the whole table in one vectorised pass; ``simlin`` and
        ``pysd``: one run per row.
    params : pandas.DataFrame
        One row per parameter set, columns = model constants.
    base : mapping
        Constants shared by every row (a scenario); ``params`` overrides them.
    variables : sequence of str
        Model variables to return.
    time_step : float, optional
        Integration step (default: the model's TIME STEP).
    mdl_path : str or Path
        The model file.
    py_path : str, optional
        PySD's translation of it, if already known (``fast``).

    Returns
    -------
    years : numpy.ndarray
        Whole saved years (integers).
    series : dict of str to numpy.ndarray
        ``(rows, years)`` for each variable, in model units.
    """
    import numpy as np

    _check_engine(engine)
    variables = list(variables)
    n = len(params)
    if engine == "fast":
        fm = engine_model("fast", mdl_path, None, py_path)
        if n == 1:  # the scalar loop is faster than a vector pass of one
            row = {c: float(params[c].iloc[0]) for c in params.columns}
            df = fm.run({**base, **row}, variables, time_step=time_step)
            times = df.index.to_numpy(dtype=float)
            series = {v: df[v].to_numpy(dtype=float)[None, :] for v in variables}
        else:
            times, series = fm.run_batch(params, variables, base=dict(base), time_step=time_step)
    elif engine == "simlin":
        m = engine_model("simlin", mdl_path, time_step)
        ov_base = {canonical(k): float(v) for k, v in base.items()}
        cols = [canonical(c) for c in params.columns]
        vals = params.to_numpy(dtype=float)
        names = [canonical(v) for v in variables]
        series, times = {}, None
        for i in range(n):
            t, got = _simlin_series(m, {**ov_base, **dict(zip(cols, vals[i].tolist(), strict=True))}, names)
            if times is None:
                times = t
                series = {v: np.empty((n, len(t))) for v in variables}
            for v, a in zip(variables, got, strict=True):
                series[v][i] = a
    else:
        model, defaults = engine_model("pysd", mdl_path)
        vals = params.to_numpy(dtype=float)
        series, times = {}, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(n):
                # every constant is set on every run: PySD keeps parameters between runs
                p = {**defaults, **base, **dict(zip(params.columns, vals[i].tolist(), strict=True))}
                df = model.run(params=p, return_columns=variables, time_step=time_step)
                if times is None:
                    times = df.index.to_numpy(dtype=float)
                    series = {v: np.empty((n, len(times))) for v in variables}
                for v in variables:
                    series[v][i] = df[v].to_numpy(dtype=float)
    keep, years = whole_years(times)
    return years, {v: np.asarray(a)[:, keep] for v, a in series.items()}
