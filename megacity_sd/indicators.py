"""Named indicators: reductions of the long table to one number per run.

Indicators are declared as data (name, variable, reduction, unit, scale,
years; the unit and scale are the variable's display unit, from
:mod:`megacity_sd.units`), as EMA Workbench declares its outcomes, so the summary, the ensembles,
the sensitivity analysis and the figures all use the same definitions. One
implementation, :func:`indicator_matrix`, evaluates them for one run or for a
whole ensemble at once.

CO2 indicators use scope 1+2 (territorial CO2 plus the CO2 of imported grid
electricity) unless their name says "scope 1" or "scope 2": moving generation
out of the city must not pass for a cut. Peaks are taken over the projection
(2020-2060) and, apart, over history (2005-2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import units
from .model import canonical, model_doc

__all__ = ["Indicator", "INDICATORS", "SUMMARY", "KEY_INDICATORS", "indicator_matrix", "evaluate", "summary",
           "against_baseline", "by_name"]

REDUCTIONS = ("peak_year", "peak", "at", "sum", "first_below")


@dataclass(frozen=True)
class Indicator:
    """A named reduction of one variable's trajectory.

    Attributes
    ----------
    name : str
        Label, e.g. ``"CO2 in 2030"``.
    variable : str
        Model variable name.
    reduction : str
        ``"peak_year"`` (first year of the maximum over ``start``-``end``),
        ``"peak"`` (the maximum over ``start``-``end``), ``"at"`` (value in
        ``start``), ``"sum"`` (sum of annual values from ``start`` to ``end``,
        inclusive) or ``"first_below"`` (first year in ``start``-``end`` in
        which the value is at most ``fraction`` times its value in ``ref``;
        NaN if it never is).
    unit : str
        Unit of the indicator after scaling; for :data:`INDICATORS` the
        display unit of the variable (:mod:`megacity_sd.units`).
    scale : float
        Multiplier from model units to ``unit`` (not applied to years).
    start, end : int or None
        Years used by the reduction (None: the whole run).
    fraction : float or None
        Threshold of ``first_below``, as a fraction of the value in ``ref``.
    ref : int or None
        Reference year of ``first_below``.
    """

    name: str
    variable: str
    reduction: str
    unit: str
    scale: float = 1.0
    start: int | None = None
    end: int | None = None
    fraction: float | None = None
    ref: int | None = None

    def __post_init__(self):
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"unknown reduction {self.reduction!r}; allowed: {', '.join(REDUCTIONS)}")

    def __call__(self, series: pd.Series) -> float:
        """Evaluate on a series indexed by integer year."""
        s = series.sort_index()
        return float(indicator_matrix(s.index.to_numpy(), {self.variable: s.to_numpy()[None, :]}, [self])[0, 0])


def _window(years: np.ndarray, ind: Indicator) -> np.ndarray:
    lo = years.min() if ind.start is None else ind.start
    hi = years.max() if ind.end is None else ind.end
    return (years >= lo) & (years <= hi)


def _column(years: np.ndarray, a: np.ndarray, ind: Indicator) -> np.ndarray:
    if ind.reduction == "at":
        return a[:, int(np.flatnonzero(years == ind.start)[0])] * ind.scale
    sel = _window(years, ind)
    w, wy = a[:, sel], years[sel]
    nan_rows = np.isnan(w).any(axis=1)
    if ind.reduction == "peak_year":
        col = wy[np.argmax(np.where(np.isnan(w), -np.inf, w), axis=1)].astype(float)
    elif ind.reduction == "peak":
        col = np.max(w, axis=1) * ind.scale
    elif ind.reduction == "sum":
        col = w.sum(axis=1) * ind.scale
    else:  # first_below
        ref = a[:, int(np.flatnonzero(years == ind.ref)[0])]
        below = w <= ind.fraction * ref[:, None]
        col = np.where(below.any(axis=1), wy[np.argmax(below, axis=1)], np.nan).astype(float)
        nan_rows |= np.isnan(ref)
    col[nan_rows] = np.nan
    return col


def indicator_matrix(years, series, indicators) -> np.ndarray:
    """Evaluate named indicators for every run at once.

    Parameters
    ----------
    years : array of int
        The saved years, in order.
    series : mapping of str to array
        Each indicator's variable: ``(runs, years)`` (a 1-D array is one run).
    indicators : sequence of Indicator

    Returns
    -------
    numpy.ndarray
        ``(runs, indicators)``. A run with a missing value in the years an
        indicator reads gives NaN for that indicator (never a year picked from
        the values that are there).
    """
    years = np.asarray(years)
    cols = []
    for ind in indicators:
        a = np.asarray(series[ind.variable], dtype=float)
        cols.append(_column(years, a if a.ndim == 2 else a[None, :], ind))
    if cols:
        return np.column_stack(cols)
    first = np.asarray(next(iter(series.values())))
    return np.empty((first.shape[0] if first.ndim == 2 else 1, 0))


S12 = "CO2 scope 1 and 2"


def _measured(name: str, variable: str, reduction: str, start: int | None = None, end: int | None = None,
              **kw) -> Indicator:
    """An indicator in the display unit of its variable (:mod:`megacity_sd.units`): years for a year, the
    integral of the variable's unit for a sum over years."""
    if reduction in ("peak_year", "first_below"):
        scale, unit = units.YEAR
    elif reduction == "sum":
        var = model_doc()[canonical(variable)]
        scale, unit = units.display(units.integral(var.units), var.name)
    else:
        scale, unit = units.display_of(variable)
    return Indicator(name, variable, reduction, unit, scale, start, end, **kw)


INDICATORS = (
    _measured("CO2 peak year", S12, "peak_year", 2020, 2060),
    _measured("CO2 peak", S12, "peak", 2020, 2060),
    _measured("historical CO2 peak year", S12, "peak_year", 2005, 2019),
    _measured("historical CO2 peak", S12, "peak", 2005, 2019),
    _measured("CO2 in 2019", S12, "at", 2019),
    _measured("CO2 in 2030", S12, "at", 2030),
    _measured("CO2 in 2035", S12, "at", 2035),
    _measured("CO2 in 2060", S12, "at", 2060),
    _measured("scope 1 CO2 in 2030", "CO2 emissions", "at", 2030),
    _measured("scope 1 CO2 in 2035", "CO2 emissions", "at", 2035),
    _measured("scope 1 CO2 in 2060", "CO2 emissions", "at", 2060),
    _measured("scope 2 CO2 in 2030", "scope 2 CO2", "at", 2030),
    _measured("scope 2 CO2 in 2035", "scope 2 CO2", "at", 2035),
    _measured("scope 2 CO2 in 2060", "scope 2 CO2", "at", 2060),
    _measured("year CO2 below 50% of 2019", S12, "first_below", 2020, 2060, fraction=0.5, ref=2019),
    _measured("year CO2 below 10% of 2019", S12, "first_below", 2020, 2060, fraction=0.1, ref=2019),
    _measured("cumulative CO2 2021-2060", S12, "sum", 2021, 2060),
    _measured("PM2.5 in 2035", "PM25", "at", 2035),
    _measured("air pollutant equivalent in 2035", "air pollutant equivalent", "at", 2035),
    _measured("population in 2060", "Population", "at", 2060),
)


def by_name(names=None) -> list[Indicator]:
    """The indicators of :data:`INDICATORS` with these names (all by default), in that order."""
    table = {i.name: i for i in INDICATORS}
    if names is None:
        return list(INDICATORS)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise KeyError(f"unknown indicator(s) {unknown}; allowed: {', '.join(table)}")
    return [table[n] for n in names]


def evaluate(long: pd.DataFrame, indicators=INDICATORS) -> pd.DataFrame:
    """Evaluate indicators for every city and scenario of a long table.

    Returns
    -------
    pandas.DataFrame
        Columns ``city, scenario, indicator, unit, value``.
    """
    rows = []
    for (city, scen), grp in long.groupby(["city", "scenario"], sort=False):
        wide = grp.pivot_table(index="year", columns="variable", values="value", sort=True)
        years = wide.index.to_numpy()
        vals = indicator_matrix(years, {i.variable: wide[i.variable].to_numpy() for i in indicators}, indicators)[0]
        rows += [(city, scen, ind.name, ind.unit, float(v)) for ind, v in zip(indicators, vals, strict=True)]
    return pd.DataFrame(rows, columns=["city", "scenario", "indicator", "unit", "value"])


def against_baseline(ev: pd.DataFrame, baseline: str = "baseline") -> pd.DataFrame:
    """Add each indicator's change against the same city's baseline scenario.

    Parameters
    ----------
    ev : pandas.DataFrame
        Output of :func:`evaluate` (columns ``city, scenario, indicator, unit, value``).
    baseline : str
        Name of the reference scenario.

    Returns
    -------
    pandas.DataFrame
        ``ev`` with columns ``baseline`` (the baseline's value), ``change``
        (value - baseline, in the indicator's unit; years for year
        indicators) and ``change_pct`` (100 * change / baseline; NaN for year
        indicators and where the baseline is 0). NaN everywhere for a city
        without the baseline scenario.
    """
    base = ev.loc[ev["scenario"] == baseline, ["city", "indicator", "value"]].rename(columns={"value": "baseline"})
    out = ev.merge(base, on=["city", "indicator"], how="left")
    out["change"] = out["value"] - out["baseline"]
    ratio = out["change"] / out["baseline"].where(out["baseline"] != 0)
    out["change_pct"] = (100.0 * ratio).where(out["unit"] != "year")
    return out


#: Eight indicators for figures that show one panel per indicator (sensitivity, knock-outs).
KEY_INDICATORS = ("CO2 peak year", "CO2 in 2030", "CO2 in 2060", "cumulative CO2 2021-2060",
                  "year CO2 below 50% of 2019", "PM2.5 in 2035", "air pollutant equivalent in 2035",
                  "population in 2060")

SUMMARY = ("CO2 peak year", "CO2 in 2030", "CO2 in 2060", "scope 1 CO2 in 2060", "scope 2 CO2 in 2060",
           "year CO2 below 50% of 2019", "year CO2 below 10% of 2019", "PM2.5 in 2035")


def summary(long: pd.DataFrame) -> pd.DataFrame:
    """The short per-scenario summary printed by ``megacity-sd run``."""
    ev = evaluate(long, by_name(SUMMARY))
    wide = ev.pivot_table(index=["city", "scenario"], columns="indicator", values="value", sort=False,
                          dropna=False)
    return wide[list(SUMMARY)]
