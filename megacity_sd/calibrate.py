"""Calibration against history: payoff, optimiser, fit statistics, holdout, confidence intervals.

What is estimated, within which bounds, and against which series is declared
in one file, ``scenarios/calibration.yaml`` (:func:`load_config`); nothing of
it is in code. For one city, :func:`calibrate`

1. starts from the city's *uncalibrated* constants (``load_scenario("baseline",
   city, calibrated=False)``), so an earlier calibration never feeds the next;
2. collects the observations (:func:`observations`): ``megacity_sd/data/history.csv``
   and ``megacity_sd/data/calibration_series.csv`` (constant-price GDP, see
   ``CALIBRATION_DATA.md``), never ``shared/`` at run time;
3. minimises the weighted sum of squares of *all* fitted series at once
   (:func:`payoff`) over the in-sample window (2005-2015) with
   :func:`scipy.optimize.least_squares` (trust-region reflective, box bounds)
   from several seeded starting points: the uncalibrated values and a Latin
   hypercube over the bounds, keeping the best;
4. reports the fit statistics of Sterman (1984) for the in-sample window and
   for the holdout (2016-2019) that the fit never saw (:func:`fit_statistics`);
5. gives every estimate a confidence interval from the covariance of the
   weighted least-squares estimator (see below).

Weights
-------
A residual is ``(simulated - observed) / (sigma * |observed|)``, with ``sigma``
the relative standard error that ``calibration.yaml`` declares for the series
(e.g. 0.01 for population, 0.05 for CO2). Residuals are then dimensionless,
in units of the assumed measurement error, so that persons, yuan, tonnes of
CO2 and shares are comparable and each point counts as much as the
confidence we have in it (the Gaussian likelihood of multiplicative errors).

Confidence intervals
--------------------
The covariance of the estimates is taken from the Jacobian ``J`` of the
weighted residuals at the optimum (central differences, Bates and Watts 1988,
*Nonlinear Regression Analysis*, ch. 2): ``cov = s2 * k * (J'J)^-1`` with
``s2 = payoff / (n - p)``, the residual variance (so the intervals do not
depend on the guessed ``sigma`` scale, only on the relative weights), and
``k = (1 + rho) / (1 - rho)``, a variance inflation for the lag-1
autocorrelation ``rho`` of the residuals (the errors of a dynamic model are
serially correlated, which makes the plain formula too narrow). Intervals are
``estimate +- t(n - p) * se``, cut to the calibration bounds. Why this and not
the chi-square threshold on the payoff profile of Vensim and Stella: the
covariance accounts for the correlation between parameters (a profile that
holds the others fixed does not, and one that re-optimises them costs an
optimisation per point), costs ``2p`` runs, and its scaling by ``s2`` avoids
the profile's dependence on the absolute error variance, which we only guess.
Its limit: it is a local, linear approximation; a parameter at a bound or
weakly identified is flagged in :attr:`CalibrationResult.parameters`.

Fit statistics
--------------
Sterman, J. D. (1984) Appropriate summary statistics for evaluating the
historical fit of system dynamics models. *Dynamica* 10(2): 51-66. MAPE (in
percent), R^2 (the squared correlation of simulated and actual, Sterman's
definition), and Theil's inequality statistics that split the mean squared
error into bias ``U^M``, unequal variation ``U^S`` and unequal covariation
``U^C`` (they sum to 1).
"""

from __future__ import annotations

import datetime as _dt
import math
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .data import DATA_DIR, TABLES
from .data import table as data_table
from .engines import run_one
from .errors import UserInputError
from .io import read_yaml_mapping, validation_error, write_atomic
from .model import MODEL_PATH, canonical, check_constant, model_doc
from .scenario import CALIBRATED_DIR, SCENARIO_DIR, load_scenario

__all__ = [
    "CALIBRATION_PATH",
    "SERIES_PATH",
    "FIT_COLUMNS",
    "SeriesSpec",
    "ParameterSpec",
    "CalibrationConfig",
    "CalibrationResult",
    "Simulator",
    "load_config",
    "calibration_series",
    "observations",
    "weighted_residuals",
    "payoff",
    "fit_statistics",
    "fit_table",
    "parameter_table",
    "simulated_at",
    "calibrate",
    "write_calibrated",
    "plot_calibration",
    "write_calibration_figure",
]

CALIBRATION_PATH = SCENARIO_DIR / "calibration.yaml"
SERIES_PATH = DATA_DIR / "calibration_series.csv"
FIT_COLUMNS = ["city", "variable", "period", "n", "mape", "mae", "r2", "theil_um", "theil_us", "theil_uc"]
_TABLES = TABLES


# --------------------------------------------------------------------------- configuration


class _SeriesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    table: Literal["history", "calibration_series", "pm25_bulletins", "economy_anchors"]
    variable: str | None = None
    sigma: float = Field(gt=0)
    error: Literal["relative", "absolute"] = "relative"
    time_offset: float = 0.0
    role: Literal["fit", "report"] = "fit"
    period: Literal["windows", "anchor"] = "windows"
    relative_to: int | None = None


class _CityFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series: list[str]
    parameters: dict[str, tuple[float, float]]


class _WindowsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    in_sample: tuple[int, int]
    holdout: tuple[int, int]


class _OptimiserFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts: int = Field(default=8, ge=1)
    seed: int = 0
    confidence: float = Field(default=0.95, gt=0, lt=1)
    prior_width: float = Field(default=0.0, ge=0)


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    windows: _WindowsFile
    optimiser: _OptimiserFile = _OptimiserFile()
    series: dict[str, _SeriesFile]
    cities: dict[str, _CityFile]


@dataclass(frozen=True)
class SeriesSpec:
    """One historical series and the model variable it is compared with.

    Attributes
    ----------
    name : str
        Series name (the key in ``calibration.yaml``; the ``variable`` column of ``fit.csv``).
    model : str
        Model variable (its name in the ``.mdl``).
    table : {"history", "calibration_series", "pm25_bulletins", "economy_anchors"}
        Project table holding the data.
    variable : str
        Variable name in that table.
    sigma : float
        Assumed standard error of an observation: a fraction of the observed
        value (``error == "relative"``) or in the data's units (``"absolute"``).
    error : {"relative", "absolute"}
        How ``sigma`` is read. Absolute errors suit shares that approach 0
        (the coal share of Beijing's CO2 falls to 0.03), where relative errors
        would weigh a few tenths of a percentage point as much as a doubling.
    time_offset : float
        Years added to the data year to get the model time compared (e.g.
        -1/6 for a census on 1 November compared with the year-end model state).
    role : {"fit", "report"}
        ``fit`` series enter the payoff; ``report`` series only get statistics.
    units : str
        Units of the model variable (and of the data).
    period : {"windows", "anchor"}
        ``windows``: each point belongs to the fit window or the holdout by its
        year; ``anchor``: every point is fitted whatever its year, and reported
        as period ``anchor`` (a published projection the model is anchored to,
        or a single reported value it must meet).
    relative_to : int or None
        If set, the data are ratios to the value in that year, and the model
        variable is compared as the same ratio (growth anchors).
    """

    name: str
    model: str
    table: str
    variable: str
    sigma: float
    error: str
    time_offset: float
    role: str
    units: str
    period: str = "windows"
    relative_to: int | None = None


@dataclass(frozen=True)
class ParameterSpec:
    """A parameter to estimate: a model constant and its calibration bounds.

    Attributes
    ----------
    name : str
        Model constant (its name in the ``.mdl``).
    low, high : float
        Calibration bounds, inside the model's Vensim ``[min, max]``.
    units : str
        The constant's units.
    """

    name: str
    low: float
    high: float
    units: str


@dataclass(frozen=True)
class CalibrationConfig:
    """The parsed ``calibration.yaml``.

    Attributes
    ----------
    path : Path
        The file read.
    in_sample, holdout : tuple of int
        First and last year (inclusive) of the fit window and of the holdout.
    starts : int
        Starting points of the optimiser (the uncalibrated values plus
        ``starts - 1`` Latin-hypercube points).
    seed : int
        Seed of the Latin hypercube.
    confidence : float
        Level of the confidence intervals.
    prior_width : float
        Standard deviation of a Gaussian prior on each parameter, centred on
        the city's uncalibrated value, as a fraction of the width of its
        bounds (0: no prior, plain least squares). A weak prior (e.g. 0.5)
        keeps parameters the data do not constrain near their documented
        values instead of letting them drift to a bound (a MAP estimate).
    series : dict of str to SeriesSpec
    cities : dict of str to tuple
        City -> ``(series names, parameter specs)``.
    """

    path: Path
    in_sample: tuple[int, int]
    holdout: tuple[int, int]
    starts: int
    seed: int
    confidence: float
    series: dict[str, SeriesSpec]
    cities: dict[str, tuple[tuple[str, ...], tuple[ParameterSpec, ...]]]
    prior_width: float = 0.0


def _err(path: Path, key: str, message: str) -> UserInputError:
    return UserInputError(f"{path}: key '{key}': {message}")


def load_config(path: str | Path | None = None, *, mdl_path: str | Path = MODEL_PATH) -> CalibrationConfig:
    """Read and check ``calibration.yaml``.

    Parameters
    ----------
    path : str or Path, optional
        The file (default :data:`CALIBRATION_PATH`).
    mdl_path : str or Path
        Model whose names and ranges the file is checked against.

    Returns
    -------
    CalibrationConfig

    Raises
    ------
    UserInputError
        Missing or malformed file, unknown key, a series or parameter that is
        not in the model, bounds outside the model's range or empty, a city
        that lists an undeclared series, windows that are reversed or overlap.
    """
    path = Path(path) if path is not None else CALIBRATION_PATH
    raw = read_yaml_mapping(path, "with keys windows, optimiser, series, cities")
    try:
        spec = _ConfigFile.model_validate(raw)
    except ValidationError as err:
        raise validation_error(path, err, "unknown key; allowed: windows, optimiser, series, cities and the keys "
                                          "documented at the top of scenarios/calibration.yaml") from None
    doc = model_doc(Path(mdl_path))
    (a0, a1), (h0, h1) = spec.windows.in_sample, spec.windows.holdout
    if a0 > a1 or h0 > h1 or h0 <= a1:
        raise _err(path, "windows", f"in_sample {a0}-{a1} and holdout {h0}-{h1} must be ordered, "
                   "each first <= last, the holdout after the fit window")
    series: dict[str, SeriesSpec] = {}
    for name, s in spec.series.items():
        var = doc.get(canonical(s.model))
        if var is None or var.kind not in ("stock", "auxiliary"):
            raise _err(path, f"series.{name}.model", f"'{s.model}' is not a model stock or auxiliary")
        series[name] = SeriesSpec(name=name, model=var.name, table=s.table, variable=s.variable or name,
                                  sigma=float(s.sigma), error=s.error, time_offset=float(s.time_offset), role=s.role,
                                  units="dmnl" if s.relative_to is not None else var.units, period=s.period,
                                  relative_to=s.relative_to)
    cities: dict[str, tuple[tuple[str, ...], tuple[ParameterSpec, ...]]] = {}
    for city, c in spec.cities.items():
        for s in c.series:
            if s not in series:
                raise _err(path, f"cities.{city}.series", f"unknown series '{s}'; allowed: {', '.join(series)}")
        if len(set(c.series)) != len(c.series):
            raise _err(path, f"cities.{city}.series", "a series is listed twice")
        if not any(series[s].role == "fit" for s in c.series):
            raise _err(path, f"cities.{city}.series", "no series with role 'fit'; nothing to calibrate against")
        params = []
        for pname, (lo, hi) in c.parameters.items():
            key = f"cities.{city}.parameters.{pname}"
            var = check_constant(pname, where=f"{path}: key '{key}'")
            if not lo < hi:
                raise _err(path, key, f"bounds [{lo:g}, {hi:g}] are empty; allowed: [low, high] with low < high")
            if var.limits is not None:
                vlo, vhi = var.limits
                if lo < vlo or hi > vhi:
                    raise _err(path, key, f"bounds [{lo:g}, {hi:g}] leave the model's range; "
                               f"allowed: inside [{vlo:g}, {vhi:g}] {var.units}")
            params.append(ParameterSpec(name=var.name, low=float(lo), high=float(hi), units=var.units))
        if not params:
            raise _err(path, f"cities.{city}.parameters", "no parameter to estimate")
        if len({p.name for p in params}) != len(params):
            raise _err(path, f"cities.{city}.parameters", "a parameter is listed twice")
        cities[city] = (tuple(c.series), tuple(params))
    return CalibrationConfig(path=path, in_sample=(a0, a1), holdout=(h0, h1), starts=spec.optimiser.starts,
                             seed=spec.optimiser.seed, confidence=spec.optimiser.confidence,
                             series=series, cities=cities, prior_width=spec.optimiser.prior_width)


# --------------------------------------------------------------------------- data


@lru_cache(maxsize=1)
def calibration_series(city: str | None = None, variable: str | None = None) -> pd.DataFrame:
    """Derived calibration series, tidy: ``city, year, variable, value, unit, source``.

    ``megacity_sd/data/calibration_series.csv``: constant-price GDP of the
    cities (``gdp``, yuan/Year of 2005) and the national series it is derived
    from (``city == "china"``: ``gdp_national_current``,
    ``gdp_national_constant``, ``gdp_deflator``). See ``CALIBRATION_DATA.md``.

    Parameters
    ----------
    city : str, optional
        Lower-case city id, or ``"china"`` for the national rows.
    variable : str, optional
    """
    return data_table("calibration_series", city, variable)


def _period(year: float, cfg: CalibrationConfig) -> str | None:
    if cfg.in_sample[0] <= year <= cfg.in_sample[1]:
        return "in_sample"
    if cfg.holdout[0] <= year <= cfg.holdout[1]:
        return "holdout"
    return None


def observations(city: str, config: CalibrationConfig | None = None) -> pd.DataFrame:
    """The observations a city is calibrated against and evaluated on.

    Parameters
    ----------
    city : str
        City id with an entry in ``calibration.yaml``.
    config : CalibrationConfig, optional
        Default: :func:`load_config`.

    Returns
    -------
    pandas.DataFrame
        Columns ``series, model, year, time, period, value, unit, sigma,
        error, role, source``; ``time`` is the model time compared
        (``year + time_offset``), ``period`` is ``in_sample`` or ``holdout``
        (rows outside both windows are dropped).

    Raises
    ------
    UserInputError
        The city has no entry in the configuration, or a series it lists has
        no data (a fitted series: none in the fit window).
    """
    cfg = config or load_config()
    if city not in cfg.cities:
        raise UserInputError(f"{cfg.path}: key 'cities': no entry for city '{city}'; "
                             f"allowed: {', '.join(cfg.cities)}")
    names, _ = cfg.cities[city]
    frames = []
    for name in names:
        s = cfg.series[name]
        df = data_table(s.table, city, s.variable)
        if s.period == "anchor":
            periods = np.full(len(df), "anchor", dtype=object)
        else:
            periods = np.array([_period(y, cfg) for y in df["year"]], dtype=object)
        fitted = df[(periods == "in_sample") | (periods == "anchor")]
        keep = periods != None  # noqa: E711 - elementwise comparison of an object array
        df, periods = df[keep], periods[keep]
        if df.empty or (s.role == "fit" and fitted.empty):
            window = cfg.in_sample if s.role == "fit" else (cfg.in_sample[0], cfg.holdout[1])
            raise UserInputError(f"{cfg.path}: key 'cities.{city}.series': no data for series '{name}' of {city} "
                                 f"({s.table} variable '{s.variable}') in {window[0]}-{window[1]}; "
                                 "allowed: series with data, or remove it from the list")
        out = pd.DataFrame({"series": name, "model": s.model, "year": df["year"].astype(int).to_numpy(),
                            "value": df["value"].astype(float).to_numpy(), "unit": df["unit"].to_numpy(),
                            "sigma": s.sigma, "error": s.error, "role": s.role, "source": df["source"].to_numpy()})
        out.insert(3, "time", out["year"] + s.time_offset)
        out.insert(4, "period", periods)
        out["relative_to"] = np.nan if s.relative_to is None else float(s.relative_to)
        frames.append(out)
    return pd.concat(frames, ignore_index=True).sort_values(["series", "year"], kind="stable", ignore_index=True)


# --------------------------------------------------------------------------- simulation and payoff


class Simulator:
    """Repeated runs of the model for the optimiser, through :func:`megacity_sd.engines.run_one`.

    pysimlin by default (about 3 ms a run, returning only the variables asked
    for); a failing or non-finite run is an infeasible point, not an error.

    Parameters
    ----------
    variables : sequence of str
        Model variables to return.
    base : mapping of str to float, optional
        Constants applied to every run (the city's uncalibrated values).
    engine : {"simlin", "fast", "pysd"}
        The engine (:data:`megacity_sd.engines.ENGINES`).
    mdl_path : str or Path
        The model file.
    """

    def __init__(self, variables: Sequence[str], base: Mapping[str, float] | None = None,
                 mdl_path: str | Path = MODEL_PATH, engine: str = "simlin"):
        self.mdl_path = mdl_path
        self.engine = engine
        self.variables = list(dict.fromkeys(variables))
        self.base = dict(base or {})
        self.runs = 0

    def run(self, constants: Mapping[str, float] | None = None) -> pd.DataFrame | None:
        """Simulate with ``base`` updated by ``constants``.

        Returns
        -------
        pandas.DataFrame or None
            Index ``time`` (whole years), one column per variable, model
            units; None if the run fails or gives a non-finite value.
        """
        self.runs += 1
        try:
            df = run_one(self.engine, {**self.base, **dict(constants or {})}, self.variables,
                         mdl_path=self.mdl_path)
        except Exception:  # noqa: BLE001 - any engine failure is an infeasible point for the optimiser
            return None
        if not np.isfinite(df.to_numpy()).all():
            return None
        df.index = pd.Index(df.index.to_numpy(dtype=float), name="time")
        return df


def simulated_at(sim: pd.DataFrame, obs: pd.DataFrame) -> np.ndarray:
    """The model's value at each observation's time (a ratio for growth anchors), in data units."""
    t = sim.index.to_numpy()
    out = np.empty(len(obs))
    for model_var, idx in obs.groupby("model").indices.items():
        out[idx] = np.interp(obs["time"].to_numpy()[idx], t, sim[model_var].to_numpy())
    if "relative_to" in obs and obs["relative_to"].notna().any():
        rel = obs["relative_to"].to_numpy(dtype=float)
        for k in np.flatnonzero(np.isfinite(rel)):
            base = np.interp(rel[k], t, sim[obs["model"].iloc[k]].to_numpy())
            out[k] = out[k] / base if base != 0 else np.nan
    return out


def weighted_residuals(sim: pd.DataFrame, obs: pd.DataFrame) -> np.ndarray:
    """Weighted residuals ``(simulated - observed) / (sigma * |observed|)``.

    For series with ``error == "absolute"`` the denominator is ``sigma``.

    Parameters
    ----------
    sim : pandas.DataFrame
        A run (:meth:`Simulator.run`): index ``time``, columns model variables.
    obs : pandas.DataFrame
        Observations (:func:`observations`), usually the fitted rows of the
        in-sample window.

    Returns
    -------
    numpy.ndarray
        One dimensionless residual per observation, in units of its assumed
        standard error.
    """
    s = simulated_at(sim, obs)
    a = obs["value"].to_numpy(dtype=float)
    scale = np.where(obs["error"].to_numpy() == "absolute", 1.0, np.abs(a))
    return (s - a) / (obs["sigma"].to_numpy(dtype=float) * scale)


def payoff(sim: pd.DataFrame, obs: pd.DataFrame) -> float:
    """The calibration payoff: the weighted sum of squared residuals (to minimise).

    Parameters
    ----------
    sim, obs : pandas.DataFrame
        As for :func:`weighted_residuals`.

    Returns
    -------
    float
        ``sum(r**2)``; under the declared errors it is chi-square distributed
        with ``n - p`` degrees of freedom at the optimum.
    """
    r = weighted_residuals(sim, obs)
    return float(r @ r)


# --------------------------------------------------------------------------- statistics


def fit_statistics(simulated: Sequence[float], actual: Sequence[float]) -> dict[str, float]:
    """Summary statistics of historical fit (Sterman 1984).

    Parameters
    ----------
    simulated, actual : sequence of float
        Paired model and data values (same units).

    Returns
    -------
    dict
        ``n``; ``mape``: mean absolute percent error, in percent,
        ``100 * mean(|S - A| / |A|)``; ``mae``: mean absolute error in the
        data's units (for shares: fractions, so 0.05 is 5 percentage
        points); ``mse``: mean squared error; ``r2``: the
        squared correlation of S and A; ``theil_um = (mean S - mean A)^2 / MSE``
        (bias), ``theil_us = (sd S - sd A)^2 / MSE`` (unequal variation),
        ``theil_uc = 2 (1 - r) sd S sd A / MSE`` (unequal covariation), with
        standard deviations over ``n`` (not ``n - 1``) so that the three sum to
        1. ``r2`` and the Theil statistics need ``n >= 3`` (NaN otherwise);
        ``r2`` is NaN if either series is constant.

    References
    ----------
    Sterman, J. D. (1984) Appropriate summary statistics for evaluating the
    historical fit of system dynamics models. Dynamica 10(2): 51-66.
    """
    s = np.asarray(simulated, dtype=float)
    a = np.asarray(actual, dtype=float)
    if s.shape != a.shape or s.ndim != 1:
        raise ValueError("simulated and actual must be 1-D and of the same length")
    n = len(a)
    nan = float("nan")
    out = {"n": n, "mape": nan, "mae": nan, "mse": nan, "r2": nan, "theil_um": nan, "theil_us": nan,
           "theil_uc": nan}
    if n == 0:
        return out
    err = s - a
    out["mape"] = float(100.0 * np.mean(np.abs(err) / np.abs(a)))
    out["mae"] = float(np.mean(np.abs(err)))
    mse = float(np.mean(err**2))
    out["mse"] = mse
    if n < 3:
        return out
    ss, sa = float(s.std()), float(a.std())
    r = float(np.mean((s - s.mean()) * (a - a.mean())) / (ss * sa)) if ss > 0 and sa > 0 else nan
    out["r2"] = r * r if r == r else nan
    if mse > 0:
        out["theil_um"] = (float(s.mean()) - float(a.mean())) ** 2 / mse
        out["theil_us"] = (ss - sa) ** 2 / mse
        out["theil_uc"] = 2.0 * (1.0 - r) * ss * sa / mse if r == r else 0.0
    return out


def fit_table(city: str, sim: pd.DataFrame, obs: pd.DataFrame, series: Sequence[str] | None = None) -> pd.DataFrame:
    """Fit statistics of one run against observations, by series and period.

    Parameters
    ----------
    city : str
        Label for the ``city`` column.
    sim : pandas.DataFrame
        A run (index ``time``).
    obs : pandas.DataFrame
        Observations (:func:`observations`).
    series : sequence of str, optional
        Series to report, in this order (default: those in ``obs``); a period
        without data gets a row with ``n = 0``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FIT_COLUMNS`; ``mape`` in percent.
    """
    names = list(series) if series is not None else list(dict.fromkeys(obs["series"]))
    rows = []
    for name in names:
        periods = ("anchor",) if (obs.loc[obs["series"] == name, "period"] == "anchor").any() \
            else ("in_sample", "holdout")
        for period in periods:
            sel = obs[(obs["series"] == name) & (obs["period"] == period)]
            st = fit_statistics(simulated_at(sim, sel) if len(sel) else [], sel["value"].to_numpy())
            rows.append({"city": city, "variable": name, "period": period, "n": st["n"], "mape": st["mape"],
                         "mae": st["mae"], "r2": st["r2"], "theil_um": st["theil_um"], "theil_us": st["theil_us"],
                         "theil_uc": st["theil_uc"]})
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


# --------------------------------------------------------------------------- calibration


@dataclass
class CalibrationResult:
    """Outcome of :func:`calibrate` for one city.

    Attributes
    ----------
    city : str
    config : CalibrationConfig
    parameters : pandas.DataFrame
        One row per estimated constant: ``parameter, units, initial`` (the
        uncalibrated value), ``value`` (estimate, 6 significant digits),
        ``low, high`` (calibration bounds), ``std_error, ci_low, ci_high``,
        ``at_bound`` and ``identified`` (False if the standard error exceeds
        the width of the bounds: the data hardly constrain it).
    statistics : pandas.DataFrame
        :func:`fit_table` of the calibrated run (columns :data:`FIT_COLUMNS`).
    statistics_initial : pandas.DataFrame
        The same for the uncalibrated run.
    observations : pandas.DataFrame
        :func:`observations` of the city.
    simulated, simulated_initial : pandas.DataFrame
        Calibrated and uncalibrated runs (index ``time``).
    constants : dict of str to float
        The estimates, keyed by model name (what ``scenarios/calibrated/<city>.yaml`` holds).
    payoff, payoff_initial : float
        Weighted sum of squares at the estimate and at the uncalibrated values.
    n_obs, dof : int
        Fitted observations and degrees of freedom ``n - p``.
    residual_scale : float
        ``sqrt(payoff / dof)``: about 1 if the declared errors are right.
    ar1 : float
        Pooled lag-1 autocorrelation of the weighted residuals (clipped to [0, 0.95]).
    correlation : pandas.DataFrame
        Correlation matrix of the estimates.
    starts : pandas.DataFrame
        One row per starting point: ``start, payoff, nfev, status``.
    runs : int
        Model runs used.
    seconds : float
        Wall time.
    date : str
        ISO date of the calibration.
    """

    city: str
    config: CalibrationConfig
    parameters: pd.DataFrame
    statistics: pd.DataFrame
    statistics_initial: pd.DataFrame
    observations: pd.DataFrame
    simulated: pd.DataFrame
    simulated_initial: pd.DataFrame
    constants: dict[str, float]
    payoff: float
    payoff_initial: float
    n_obs: int
    dof: int
    residual_scale: float
    ar1: float
    correlation: pd.DataFrame
    starts: pd.DataFrame
    runs: int
    seconds: float
    date: str = field(default_factory=lambda: _dt.date.today().isoformat())

    @property
    def fitted_series(self) -> list[str]:
        """Names of the series in the payoff."""
        obs = self.observations
        return list(dict.fromkeys(obs.loc[obs["role"] == "fit", "series"]))

    def source(self) -> str:
        """The ``source`` text written beside each calibrated value."""
        a, b = self.config.in_sample
        pct = round(100 * self.config.confidence)
        return (f"calibrated by megacity-sd calibrate (WLS on {a}-{b} {', '.join(self.fitted_series)}; "
                f"best of {len(self.starts)} starts; holdout {self.config.holdout[0]}-{self.config.holdout[1]}; "
                f"ci: {pct} % interval from the Jacobian covariance), {self.date}")


def _sig(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def _city_values(city: str, params: Sequence[ParameterSpec], mdl_path: Path) -> tuple[dict[str, float], np.ndarray]:
    scen = load_scenario("baseline", city=city, mdl_path=mdl_path, calibrated=False)
    doc = model_doc(mdl_path)
    x0 = np.array([scen.constants.get(p.name, doc[canonical(p.name)].value) for p in params], dtype=float)
    return dict(scen.constants), x0


def _check_bounds(city: str, params: Sequence[ParameterSpec], x0: np.ndarray, cfg: CalibrationConfig) -> None:
    for p, v in zip(params, x0, strict=True):
        if not p.low <= v <= p.high:
            raise _err(cfg.path, f"cities.{city}.parameters.{p.name}",
                       f"bounds [{p.low:g}, {p.high:g}] exclude the city's uncalibrated value {v:g} (where the "
                       "optimiser starts); allowed: bounds that contain it")


def _ar1(r: np.ndarray, obs: pd.DataFrame) -> float:
    num = den = 0.0
    for _, idx in obs.groupby("series").indices.items():
        order = idx[np.argsort(obs["year"].to_numpy()[idx])]
        years = obs["year"].to_numpy()[order]
        x = r[order]
        consecutive = np.diff(years) == 1
        num += float(np.sum(x[1:][consecutive] * x[:-1][consecutive]))
        den += float(np.sum(x**2))
    return float(np.clip(num / den, 0.0, 0.95)) if den > 0 else 0.0


def _jacobian(fun, theta: np.ndarray, lo: np.ndarray, hi: np.ndarray, r0: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian in parameter units (one-sided at a bound)."""
    jac = np.empty((len(r0), len(theta)))
    for j in range(len(theta)):
        h = 1e-3 * (hi[j] - lo[j])
        up, dn = min(theta[j] + h, hi[j]), max(theta[j] - h, lo[j])
        tu, td = theta.copy(), theta.copy()
        tu[j], td[j] = up, dn
        ru = fun(tu) if up > theta[j] else r0
        rd = fun(td) if dn < theta[j] else r0
        jac[:, j] = (ru - rd) / (up - dn)
    return jac


def calibrate(city: str, config: CalibrationConfig | str | Path | None = None, *, starts: int | None = None,
              seed: int | None = None, obs: pd.DataFrame | None = None, mdl_path: str | Path = MODEL_PATH,
              progress: bool = False) -> CalibrationResult:
    """Estimate a city's parameters by weighted least squares on its history.

    Parameters
    ----------
    city : str
        City id with an entry in ``calibration.yaml`` (and a city file).
    config : CalibrationConfig or path, optional
        Default: :data:`CALIBRATION_PATH`.
    starts : int, optional
        Starting points (default: the configuration's ``optimiser.starts``).
    seed : int, optional
        Seed of the starting points (default: the configuration's).
    obs : pandas.DataFrame, optional
        Observations to use instead of :func:`observations` (same columns);
        e.g. data generated by the model itself.
    mdl_path : str or Path
        The model file.
    progress : bool
        Print one line per starting point.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    UserInputError
        Unknown city, no data for a listed series, bounds that exclude the
        city's uncalibrated value; see also :func:`load_config`.
    """
    from scipy.optimize import least_squares
    from scipy.stats import qmc
    from scipy.stats import t as student_t

    t_start = _time.perf_counter()
    mdl_path = Path(mdl_path)
    cfg = config if isinstance(config, CalibrationConfig) else load_config(config, mdl_path=mdl_path)
    load_scenario("baseline", city=city, mdl_path=mdl_path, calibrated=False)  # unknown city: one line
    if city not in cfg.cities:
        raise UserInputError(f"{cfg.path}: key 'cities': no entry for city '{city}'; allowed: {', '.join(cfg.cities)}")
    _, params = cfg.cities[city]
    base, x0 = _city_values(city, params, mdl_path)
    _check_bounds(city, params, x0, cfg)
    obs = observations(city, cfg) if obs is None else obs.reset_index(drop=True)
    fit_obs = obs[(obs["role"] == "fit") & obs["period"].isin(["in_sample", "anchor"])].reset_index(drop=True)
    names = [p.name for p in params]
    lo = np.array([p.low for p in params])
    hi = np.array([p.high for p in params])
    n_starts = cfg.starts if starts is None else int(starts)
    rng_seed = cfg.seed if seed is None else int(seed)
    simulator = Simulator(obs["model"].unique(), base=base, mdl_path=mdl_path)
    penalty = np.full(len(fit_obs), 1e3)

    prior_sd = cfg.prior_width * (hi - lo)

    def residuals(theta: np.ndarray) -> np.ndarray:
        sim = simulator.run(dict(zip(names, theta, strict=True)))
        r = penalty if sim is None else weighted_residuals(sim, fit_obs)
        if cfg.prior_width > 0:
            r = np.concatenate([r, (theta - x0) / prior_sd])
        return r

    def fun(u: np.ndarray) -> np.ndarray:
        return residuals(lo + np.clip(u, 0.0, 1.0) * (hi - lo))

    u_init = (x0 - lo) / (hi - lo)
    points = [u_init]
    if n_starts > 1:
        points += list(qmc.LatinHypercube(d=len(params), seed=rng_seed).random(n_starts - 1))
    best, rows = None, []
    for k, u0 in enumerate(points):
        res = least_squares(fun, np.clip(u0, 0.0, 1.0), bounds=(0.0, 1.0), method="trf", diff_step=1e-3,
                            x_scale=1.0, max_nfev=100 * (len(params) + 1))
        rows.append({"start": "uncalibrated" if k == 0 else f"lhs{k}", "payoff": 2.0 * float(res.cost),
                     "nfev": int(res.nfev), "status": int(res.status)})
        if progress:
            print(f"    start {k + 1}/{len(points)} ({rows[-1]['start']}): payoff {rows[-1]['payoff']:.4g} "
                  f"after {res.nfev} runs", flush=True)
        if best is None or res.cost < best.cost:
            best = res
    theta = np.array([_sig(v) for v in lo + np.clip(best.x, 0.0, 1.0) * (hi - lo)])
    theta = np.clip(theta, lo, hi)
    r = residuals(theta)
    pay = float(r @ r)
    n, p = len(r), len(theta)
    dof = n - p
    jac = _jacobian(residuals, theta, lo, hi, r)
    ar1 = _ar1(r, fit_obs)
    inflation = (1.0 + ar1) / (1.0 - ar1)
    s2 = pay / dof if dof > 0 else float("nan")
    cov = s2 * inflation * np.linalg.pinv(jac.T @ jac)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    tq = float(student_t.ppf(0.5 + cfg.confidence / 2.0, dof)) if dof > 0 else float("nan")
    width = hi - lo
    identified = np.isfinite(se) & (se < width)
    ci_lo = np.where(identified, np.maximum(lo, theta - tq * se), lo)
    ci_hi = np.where(identified, np.minimum(hi, theta + tq * se), hi)
    ci_lo = np.minimum([_sig(v) for v in ci_lo], theta)
    ci_hi = np.maximum([_sig(v) for v in ci_hi], theta)
    at_bound = np.isclose(theta, lo, rtol=0, atol=1e-4 * width) | np.isclose(theta, hi, rtol=0, atol=1e-4 * width)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    parameters = pd.DataFrame({"parameter": names, "units": [pp.units for pp in params], "initial": x0,
                               "value": theta, "low": lo, "high": hi, "std_error": se, "ci_low": ci_lo,
                               "ci_high": ci_hi, "at_bound": at_bound, "identified": identified})
    constants = dict(zip(names, theta.tolist(), strict=True))
    sim = simulator.run(constants)
    sim0 = simulator.run({})
    if sim is None or sim0 is None:
        raise RuntimeError(f"{city}: the model failed at the calibrated or the uncalibrated values")
    order = list(dict.fromkeys(obs["series"]))
    r_init = weighted_residuals(sim0, fit_obs)
    return CalibrationResult(
        city=city, config=cfg, parameters=parameters, statistics=fit_table(city, sim, obs, order),
        statistics_initial=fit_table(city, sim0, obs, order), observations=obs, simulated=sim,
        simulated_initial=sim0, constants=constants, payoff=pay, payoff_initial=float(r_init @ r_init),
        n_obs=n, dof=dof, residual_scale=math.sqrt(s2) if s2 == s2 else float("nan"), ar1=ar1,
        correlation=pd.DataFrame(corr, index=names, columns=names), starts=pd.DataFrame(rows),
        runs=simulator.runs, seconds=_time.perf_counter() - t_start)


# --------------------------------------------------------------------------- outputs


def parameter_table(result: CalibrationResult) -> pd.DataFrame:
    """The estimates of one city as a table (the ``calibrated_parameters.csv`` rows).

    Returns
    -------
    pandas.DataFrame
        Columns ``city, parameter, units, initial, value, low, high, std_error, ci_low, ci_high,
        at_bound, identified`` (see :attr:`CalibrationResult.parameters`).
    """
    out = result.parameters.copy()
    out.insert(0, "city", result.city)
    return out


def write_calibrated(result: CalibrationResult, folder: str | Path = CALIBRATED_DIR) -> Path:
    """Write the calibrated parameter set that ``megacity-sd run`` applies after the city file.

    The file is ``<folder>/<city>.yaml`` (``scenarios/calibrated/`` by
    default), with ``name``, ``title``, ``description`` and, per estimated
    constant, ``value``, ``source`` and ``ci``. It is written to a temporary
    name, checked with the scenario loader's schema and ranges, then renamed.

    Returns
    -------
    Path
    """
    from .scenario import read_scenario_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.city}.yaml"
    src = result.source()
    constants = {}
    for row in result.parameters.itertuples(index=False):
        constants[row.parameter] = {"value": float(row.value), "source": src,
                                    "ci": [float(row.ci_low), float(row.ci_high)]}
    fit = result.statistics
    lines = [f"{r.variable} {r.period} MAPE {r.mape:.1f} %" for r in fit.itertuples(index=False)
             if r.n > 0 and r.variable in result.fitted_series]
    data = {"name": result.city,
            "title": f"{result.city.capitalize()} (calibrated parameters)",
            "description": (f"Parameters estimated by weighted least squares on {result.config.in_sample[0]}-"
                            f"{result.config.in_sample[1]} history and checked on the {result.config.holdout[0]}-"
                            f"{result.config.holdout[1]} holdout ({'; '.join(lines)}). Written by megacity-sd "
                            f"calibrate on {result.date}; rerun it rather than editing by hand. 'ci' is the "
                            f"{round(100 * result.config.confidence)} % confidence interval, the default range of "
                            "the sensitivity analysis."),
            "constants": constants}
    header = (f"# Calibrated parameter set for {result.city}, applied by megacity-sd run after "
              f"scenarios/cities/{result.city}.yaml.\n# Written by 'megacity-sd calibrate' on {result.date} "
              f"from {result.config.path.name}; do not edit by hand.\n")
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(header)
            yaml.safe_dump(data, f, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
        spec = read_scenario_file(tmp)  # what was written reads back as a valid city file
        for key, raw in spec.constants.items():
            check_constant(key, float(raw.value), where=f"{path}: key 'constants.{key}'")

    return write_atomic(path, write, ".yaml")


_DISPLAY = {  # units -> (scale, label)
    "person": (1e-6, "million persons"),
    "yuan/Year": (1e-12, "trillion yuan/yr (2005 prices)"),
    "tCO2/Year": (1e-6, "Mt CO2/yr"),
    "dmnl": (100.0, "%"),
    "microgram/m3": (1.0, "ug/m3"),
}


def plot_calibration(result: CalibrationResult, *, last_year: int = 2022):
    """Model against data for every series of a city, one panel each.

    Filled dots: in-sample data (fitted); open dots: holdout data; squares:
    anchors (fitted whatever their year: projections, or the latest reported
    value); solid line: calibrated model; dashed grey: uncalibrated; the
    holdout window is shaded. Growth anchors are drawn as ratios.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import STYLE

    obs = result.observations
    names = list(dict.fromkeys(obs["series"]))
    ncol = min(3, len(names))
    nrow = math.ceil(len(names) / ncol)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.9 * nrow), squeeze=False, layout="constrained")
        first = result.config.in_sample[0]
        for ax, name in zip(axes.flat, names, strict=False):
            sel = obs[obs["series"] == name]
            spec = result.config.series[name]
            scale, label = _DISPLAY.get(spec.units, (1.0, spec.units))
            if spec.relative_to is not None:
                scale, label = 1.0, "ratio"
            last = max(last_year, int(np.ceil(sel["time"].max())))
            for sim, style in ((result.simulated_initial, dict(color="0.55", ls="--", lw=1.1, label="uncalibrated")),
                               (result.simulated, dict(color="#d95f02", lw=1.6, label="calibrated"))):
                s = sim[spec.model]
                if spec.relative_to is not None:
                    s = s / float(np.interp(spec.relative_to, s.index.to_numpy(), s.to_numpy()))
                s = s[(s.index >= first) & (s.index <= last)]
                ax.plot(s.index, s.to_numpy() * scale, **style)
            ins, hold = sel[sel["period"] == "in_sample"], sel[sel["period"] == "holdout"]
            anchor = sel[sel["period"] == "anchor"]
            ax.plot(ins["time"], ins["value"] * scale, "o", ms=3.5, color="black", label="data (fitted)"
                    if spec.role == "fit" else "data (in-sample window)")
            ax.plot(hold["time"], hold["value"] * scale, "o", ms=3.5, mfc="white", color="black",
                    label="data (holdout)")
            ax.plot(anchor["time"], anchor["value"] * scale, "s", ms=3.5, color="#7570b3",
                    label="anchor (fitted, any year)")
            ax.axvspan(result.config.holdout[0] - 0.5, result.config.holdout[1] + 0.5, color="#1b9e77", alpha=0.08,
                       lw=0)
            st = result.statistics[result.statistics["variable"] == name].set_index("period")
            parts = [f"{per.replace('_', '-')} {st.loc[per, 'mape']:.1f} %" for per in st.index
                     if st.loc[per, "n"] > 0]
            role = "" if spec.role == "fit" else " (not fitted)"
            rel = f" / {spec.relative_to}" if spec.relative_to is not None else ""
            ax.set_title(f"{name}{rel}{role}\nMAPE {', '.join(parts)}", fontsize=8.5)
            ax.set_ylabel("ratio" if spec.relative_to is not None else label)
            ax.set_xlim(first - 0.5, last + 0.5)
            lo_y = min(np.nanmin(sel["value"] * scale), ax.get_ylim()[0])
            ax.set_ylim(bottom=0 if lo_y > 0 and spec.units != "person" else None)
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        legend = {}
        for ax in list(axes.flat)[:len(names)]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if len(ax.lines) and h.get_xdata().size:
                    legend.setdefault(lab, h)
        fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=5)
        fig.suptitle(f"{result.city}: model against history (fit {result.config.in_sample[0]}-"
                     f"{result.config.in_sample[1]}, holdout {result.config.holdout[0]}-{result.config.holdout[1]} "
                     "shaded)")
    return fig


def write_calibration_figure(result: CalibrationResult, folder: str | Path = "figures") -> Path:
    """Write ``<folder>/<city>_calibration.png`` (temporary name, then renamed)."""
    from .plotting import savefig_atomic

    return savefig_atomic(plot_calibration(result), Path(folder) / f"{result.city}_calibration.png")
