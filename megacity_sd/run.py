"""One run interface over three engines: PySD (the reference), its accelerated path, and pysimlin.

A run takes a resolved :class:`~megacity_sd.scenario.Scenario` and returns the
model's trajectories; :func:`to_long` turns them into the project's long table
``city, scenario, variable, unit, year, value``.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .model import MODEL_PATH, canonical, load_pysd, load_simlin, model_doc
from .scenario import Scenario

__all__ = ["ENGINES", "DEFAULT_ENGINE", "LONG_COLUMNS", "run", "to_long", "run_long", "output_variables"]

ENGINES = ("fast", "pysd", "simlin")
DEFAULT_ENGINE = "fast"
LONG_COLUMNS = ["city", "scenario", "variable", "unit", "year", "value"]


def output_variables(mdl_path: str | Path = MODEL_PATH) -> list[str]:
    """Model names of the variables a run reports: stocks and auxiliaries."""
    doc = model_doc(Path(mdl_path))
    return [v.name for v in doc.values() if v.kind in ("stock", "auxiliary") and v.sector != "Control"]


@lru_cache(maxsize=2)
def _simlin_model(mdl_path: str):
    return load_simlin(mdl_path)


def _run_pysd(constants: dict[str, float], time_step: float | None, mdl_path: Path) -> pd.DataFrame:
    model = load_pysd(mdl_path)
    names = output_variables(mdl_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = model.run(params=dict(constants), time_step=time_step, return_columns=names)
    return df


def _run_fast(constants: dict[str, float], time_step: float | None, mdl_path: Path) -> pd.DataFrame:
    from .pysd_fast import load_fast

    return load_fast(mdl_path).run(dict(constants), output_variables(mdl_path), time_step=time_step)


def _run_simlin(constants: dict[str, float], time_step: float | None, mdl_path: Path) -> pd.DataFrame:
    if time_step is None:
        model = _simlin_model(str(mdl_path))
    else:  # a different step changes the project: use a fresh copy
        model = load_simlin(mdl_path)
        model.project.set_sim_specs(dt=float(time_step))
    overrides = {canonical(k): float(v) for k, v in constants.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.run(overrides=overrides, analyze_loops=False).results
    names = output_variables(mdl_path)
    return pd.DataFrame({n: res[canonical(n)].to_numpy() for n in names}, index=res.index)


def run(scenario: Scenario | dict[str, float] | None = None, engine: str = DEFAULT_ENGINE, *,
        time_step: float | None = None, mdl_path: str | Path = MODEL_PATH) -> pd.DataFrame:
    """Simulate the model for one scenario.

    Parameters
    ----------
    scenario : Scenario or dict or None
        Resolved scenario, or a plain mapping of model constant names to
        values, or None for the model's defaults.
    engine : {"fast", "pysd", "simlin"}
        Simulation engine: ``fast`` (default), PySD's own translation compiled
        to one loop (:mod:`megacity_sd.pysd_fast`, equal to PySD to 1e-12);
        ``pysd``, the reference as installed; ``simlin``, pysimlin.
    time_step : float, optional
        Integration step in years (default: the model's TIME STEP).
    mdl_path : str or Path
        The model file.

    Returns
    -------
    pandas.DataFrame
        One row per saved year (integer index ``year``), one column per
        stock or auxiliary, in model units.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    constants = scenario.constants if isinstance(scenario, Scenario) else dict(scenario or {})
    mdl_path = Path(mdl_path)
    fn = {"fast": _run_fast, "pysd": _run_pysd, "simlin": _run_simlin}[engine]
    df = fn(constants, time_step, mdl_path)
    years = np.asarray(df.index, dtype=float)
    keep = np.isclose(years, np.round(years), atol=1e-6)
    df = df.loc[keep].copy()
    df.index = pd.Index(np.round(years[keep]).astype(int), name="year")
    return df.astype(float)


def to_long(wide: pd.DataFrame, *, city: str, scenario: str,
            mdl_path: str | Path = MODEL_PATH) -> pd.DataFrame:
    """Turn a run's trajectories into the long table.

    Parameters
    ----------
    wide : pandas.DataFrame
        Output of :func:`run`.
    city, scenario : str
        Labels for the rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``city, scenario, variable, unit, year, value``.
    """
    doc = model_doc(Path(mdl_path))
    long = wide.reset_index().melt(id_vars="year", var_name="variable", value_name="value")
    long["unit"] = long["variable"].map(lambda n: doc[canonical(n)].units)
    long["city"] = city
    long["scenario"] = scenario
    return long[LONG_COLUMNS]


def run_long(scenarios: list[Scenario], engine: str = DEFAULT_ENGINE, *, progress: bool = False,
             mdl_path: str | Path = MODEL_PATH) -> pd.DataFrame:
    """Run several scenarios and return one long table."""
    frames = []
    for scen in scenarios:
        if progress:
            print(f"  running {scen.city} / {scen.name} ({engine})", flush=True)
        frames.append(to_long(run(scen, engine, mdl_path=mdl_path), city=scen.city,
                              scenario=scen.name, mdl_path=mdl_path))
    return pd.concat(frames, ignore_index=True)
