"""Runs, and the long table: the analyses' entry to the engines (:mod:`megacity_sd.engines`).

The analyses reach the engines through this module (one scenario, or a batch
of constant sets: :func:`run_batch`, :func:`run_one`, :func:`run_series`, re-exported) or through
the ensemble runner (:mod:`megacity_sd.ensemble`), never directly. A run takes
a resolved :class:`~megacity_sd.scenario.Scenario` and returns the model's
trajectories; :func:`to_long` turns them into the project's long table ``city,
scenario, variable, unit, year, value``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING

from .engines import DEFAULT_ENGINE, ENGINES, run_batch, run_one, run_series
from .errors import UserInputError
from .model import MODEL_PATH, canonical, check_constant, model_doc
from .options import MAX_STEPS_PER_YEAR, check_time_step
from .scenario import Scenario

if TYPE_CHECKING:  # annotations only: pandas is imported where tables are made
    import pandas as pd

__all__ = ["DEFAULT_ENGINE", "ENGINES", "LONG_COLUMNS", "run", "run_batch", "run_one", "run_series", "to_long",
           "run_long", "output_variables", "check_time_step", "check_constants", "MAX_STEPS_PER_YEAR"]

LONG_COLUMNS = ["city", "scenario", "variable", "unit", "year", "value"]


def output_variables(mdl_path: str | Path = MODEL_PATH) -> list[str]:
    """Model names of the variables a run reports: stocks and auxiliaries."""
    doc = model_doc(Path(mdl_path))
    return [v.name for v in doc.values() if v.kind in ("stock", "auxiliary") and v.sector != "Control"]


def run(scenario: Scenario | dict[str, float] | None = None, engine: str = DEFAULT_ENGINE, *,
        time_step: float | None = None, mdl_path: str | Path = MODEL_PATH, ranges: bool = True) -> pd.DataFrame:
    """Simulate the model for one scenario.

    Parameters
    ----------
    scenario : Scenario or dict or None
        Resolved scenario, or a plain mapping of model constant names to
        values, or None for the model's defaults.
    engine : {"fast", "pysd", "simlin"}
        Simulation engine: ``fast`` (default), PySD's own translation compiled
        to one loop (:mod:`megacity_sd.engines.fast`, equal to PySD to 1e-12);
        ``pysd``, the reference as installed; ``simlin``, pysimlin.
    time_step : float, optional
        Integration step in years (default: the model's TIME STEP).
    mdl_path : str or Path
        The model file.
    ranges : bool
        Refuse a constant of a mapping outside its Vensim ``[min, max]`` (default, as the command line
        does); ``False`` for extreme-condition tests (Sterman, *Business Dynamics*, ch. 21), which set values
        such as a population of 0 on purpose. Names, types and finiteness are checked either way.

    Returns
    -------
    pandas.DataFrame
        One row per saved year (integer index ``year``), one column per
        stock or auxiliary, in model units.
    """
    if engine not in ENGINES:
        raise UserInputError(f"engine {engine!r}: unknown; allowed: {', '.join(ENGINES)}")
    if isinstance(scenario, Scenario):
        constants = scenario.constants
    elif scenario is None:
        constants = {}
    elif isinstance(scenario, Mapping):
        constants = check_constants(scenario, mdl_path=mdl_path, ranges=ranges)
    else:
        raise UserInputError(f"scenario: a {type(scenario).__name__}; allowed: a Scenario (load_scenario), a "
                             "mapping of model constants to numbers, or None")
    time_step = check_time_step(time_step, "time_step")
    return run_one(engine, constants, output_variables(mdl_path), time_step=time_step, mdl_path=mdl_path)


def check_constants(constants: Mapping, *, mdl_path: str | Path = MODEL_PATH,
                    ranges: bool = True) -> dict[str, float]:
    """A mapping of model constants as the Python API takes it, checked as scenario files are.

    Names match in any case and spacing (:func:`megacity_sd.model.check_constant`) and are
    returned in the model's spelling; values must be finite numbers, within each constant's range unless
    ``ranges`` is false.

    Raises
    ------
    UserInputError
        A name that is not a settable constant, a value that is not a number (``True``, ``"high"``,
        ``[0.5]``), NaN or infinite, out of range, or one constant given twice in two spellings.
    """
    out: dict[str, float] = {}
    given: dict[str, str] = {}
    for key, value in constants.items():
        where = f"constants[{key!r}]"
        if isinstance(value, bool) or not isinstance(value, Real):
            raise UserInputError(f"{where}: {value!r} is not a number; allowed: a number in the constant's range")
        if not math.isfinite(float(value)):
            raise UserInputError(f"{where}: {value!r}; allowed: a finite number in the constant's range")
        name = check_constant(str(key), float(value) if ranges else None, where=where, mdl_path=mdl_path).name
        if name in given:
            raise UserInputError(f"{where}: the same constant as {given[name]!r}; allowed: each constant once")
        given[name] = key
        out[name] = float(value)
    return out


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
    import numpy as np
    import pandas as pd

    doc = model_doc(Path(mdl_path))
    # the table melt would build (variable by variable, years in order), built from the arrays at once
    names = list(wide.columns)
    n = len(wide.index)
    return pd.DataFrame({
        "city": city,
        "scenario": scenario,
        "variable": np.repeat(np.asarray(names, dtype=object), n),
        "unit": np.repeat(np.asarray([doc[canonical(c)].units for c in names], dtype=object), n),
        "year": np.tile(wide.index.to_numpy(), len(names)),
        "value": wide.to_numpy(dtype=float).ravel(order="F"),
    }, columns=LONG_COLUMNS)


def run_long(scenarios: list[Scenario], engine: str = DEFAULT_ENGINE, *, progress: bool = False,
             mdl_path: str | Path = MODEL_PATH) -> pd.DataFrame:
    """Run several scenarios and return one long table."""
    import pandas as pd

    frames = []
    for scen in scenarios:
        if progress:
            print(f"  running {scen.city} / {scen.name} ({engine})", flush=True)
        frames.append(to_long(run(scen, engine, mdl_path=mdl_path), city=scen.city,
                              scenario=scen.name, mdl_path=mdl_path))
    return pd.concat(frames, ignore_index=True)
