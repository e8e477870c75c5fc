"""Calibration settings (scenarios/calibration.yaml) and the observations they select."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..data import DATA_DIR, TABLES
from ..data import table as data_table
from ..errors import UserInputError
from ..io import read_yaml_mapping, validation_error
from ..model import MODEL_PATH, canonical, check_constant, model_doc
from ..scenario import SCENARIO_DIR

__all__ = [
    "CALIBRATION_PATH",
    "SERIES_PATH",
    "FIT_COLUMNS",
    "SeriesSpec",
    "ParameterSpec",
    "CalibrationConfig",
    "load_config",
    "calibration_series",
    "observations",
]


CALIBRATION_PATH = SCENARIO_DIR / "calibration.yaml"


SERIES_PATH = DATA_DIR / "calibration_series.csv"


FIT_COLUMNS = ["city", "variable", "period", "n", "mape", "mae", "r2", "theil_um", "theil_us", "theil_uc"]


_TABLES = TABLES


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
    years: list[int] | None = None


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
    years : list of int or None
        If set, only the data of these years are compared (e.g. the last
        inventory year as the level the projection starts from).
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
    years: tuple[int, ...] | None = None


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
    if path is None:
        from ..scenario import find_named

        path = find_named("calibration") or CALIBRATION_PATH  # the working folder's scenarios/ first
    path = Path(path)
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
                                  relative_to=s.relative_to, years=None if s.years is None else tuple(s.years))
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
        if s.years is not None:
            df = df[df["year"].isin(s.years)]
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
