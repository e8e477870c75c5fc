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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..model import MODEL_PATH, canonical

if TYPE_CHECKING:  # annotations only: numpy and pandas are imported where runs happen
    import numpy as np
    import pandas as pd

__all__ = ["ENGINES", "DEFAULT_ENGINE", "KNOWN_WARNINGS", "engine_model", "known_warnings_silenced", "run_one",
           "run_series", "run_batch", "whole_years"]

ENGINES = ("fast", "pysd", "simlin")
DEFAULT_ENGINE = "fast"

_MODELS: dict[tuple, object] = {}

#: The warnings known to be harmless that the engines' runs silence, as ``(message, category, module)`` for
#: :func:`warnings.filterwarnings` (regular expressions matched at the start of the message and of the module that
#: warns). They are what the shipped model gives under PySD (``python -W always``, every city and standard scenario);
#: every other warning reaches the user.
KNOWN_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # PySD 3.14 builds its result table with DataFrame.set_index(..., inplace=True), deprecated by pandas 3.1
    # (a Pandas4Warning, a DeprecationWarning): once a run, about PySD's code, not the model
    (r"The inplace keyword in DataFrame\.set_index is deprecated", DeprecationWarning, r"pysd\.py_backend\.output"),
    # the shipped model's NEV adoption lookup is held at its last point (a market share of 1 beyond three times the
    # reference charger coverage): Vensim's rule for a lookup, by design; PySD warns at every step past it
    (r"_hardcodedlookup_nev_adoption_lookup\nextrapolating data above the maximum value of the series$", UserWarning,
     r"pysd\.py_backend\.lookups"),
)


@contextmanager
def known_warnings_silenced() -> Iterator[None]:
    """Silence :data:`KNOWN_WARNINGS` (and only them) inside the block; other warnings follow the caller's filters."""
    with warnings.catch_warnings():
        for message, category, module in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        yield


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

            model = load_pysd(mdl_path)
            _MODELS[key] = (model, _pysd_constants(model, mdl_path))
    return _MODELS[key]


def _pysd_constants(model, mdl_path: str) -> dict[str, object]:
    """The defaults of a PySD model's constants, keyed by PySD name, taken before any run changes them.

    The fast engine's reading of the translation gives them as numbers; for a
    model it refuses (the PySD engine is then the way to run it), PySD's own
    values of its normal constants (``model.doc``), read at load.
    """
    from .errors import UnsupportedModel
    from .fast import load_fast

    try:
        return load_fast(mdl_path).constants
    except UnsupportedModel:
        doc = model.doc
        names = doc.loc[(doc["Type"] == "Constant") & (doc["Subtype"] == "Normal"), "Py Name"]
        control = {"initial_time", "final_time", "time_step", "saveper"}
        return {py: getattr(model.components, py)() for py in names if py not in control}


def _pysd_zero_division(mdl_path, err: ZeroDivisionError, sets: str = ""):
    """PySD's ZeroDivisionError as the fast engine's: one line naming the model file (PySD does not name the
    variable)."""
    from .errors import ModelZeroDivision

    return ModelZeroDivision(f"{mdl_path}: division by zero during the PySD run{sets} ({err}); the fast engine names "
                             "the variable (ZIDZ(a, b) gives 0 where b is 0)")


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

        with known_warnings_silenced():
            try:
                df = load_pysd(mdl_path).run(params=dict(constants), time_step=time_step, return_columns=variables)
            except ZeroDivisionError as err:
                raise _pysd_zero_division(mdl_path, err) from None
        times, cols = df.index.to_numpy(dtype=float), [df[v].to_numpy(dtype=float) for v in variables]
    else:
        model = engine_model("simlin", mdl_path, time_step)  # pysimlin gives no warning on the shipped model
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

    Raises
    ------
    ModelZeroDivision
        ``fast`` and ``pysd``: a row divides by zero; for any number of rows
        the batch stops, as PySD's run of that row does (see
        :mod:`megacity_sd.engines.fast`). ``simlin`` computes ``x / 0`` as
        IEEE arithmetic does (``inf``, ``nan``) and does not stop.
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
        if time_step is None:  # PySD keeps a run's time step for the next runs: give the model's own back
            time_step = model.components._control_vars["time_step"]
        vals = params.to_numpy(dtype=float)
        series, times = {}, None
        with known_warnings_silenced():
            for i in range(n):
                # every constant is set on every run: PySD keeps parameters between runs
                p = {**defaults, **base, **dict(zip(params.columns, vals[i].tolist(), strict=True))}
                try:
                    df = model.run(params=p, return_columns=variables, time_step=time_step)
                except ZeroDivisionError as err:
                    raise _pysd_zero_division(mdl_path, err, f" in parameter set {i} of {n}") from None
                if times is None:
                    times = df.index.to_numpy(dtype=float)
                    series = {v: np.empty((n, len(times))) for v in variables}
                for v in variables:
                    series[v][i] = df[v].to_numpy(dtype=float)
    keep, years = whole_years(times)
    return years, {v: np.asarray(a)[:, keep] for v, a in series.items()}
