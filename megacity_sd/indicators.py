"""Named indicators: reductions of the long table to one number per run.

Indicators are declared as data (name, variable, reduction, unit, scale), as
EMA Workbench declares its outcomes, so the summary, the sensitivity analysis
and the figures all use the same definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Indicator", "INDICATORS", "evaluate", "summary"]


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
        ``"peak_year"``, ``"peak"``, ``"at"`` (value in ``start``) or
        ``"sum"`` (sum of annual values from ``start`` to ``end``, inclusive).
    unit : str
        Unit of the indicator after scaling.
    scale : float
        Multiplier from model units to ``unit``.
    start, end : int or None
        Years used by ``at`` and ``sum``.
    """

    name: str
    variable: str
    reduction: str
    unit: str
    scale: float = 1.0
    start: int | None = None
    end: int | None = None

    def __call__(self, series: pd.Series) -> float:
        """Evaluate on a series indexed by integer year."""
        s = series.sort_index()
        if self.reduction == "peak_year":
            return float(s.index[int(np.argmax(s.to_numpy()))])
        if self.reduction == "peak":
            return float(s.max()) * self.scale
        if self.reduction == "at":
            return float(s.loc[self.start]) * self.scale
        if self.reduction == "sum":
            return float(s.loc[self.start:self.end].sum()) * self.scale
        raise ValueError(f"unknown reduction {self.reduction!r}")


INDICATORS = (
    Indicator("CO2 peak year", "CO2 emissions", "peak_year", "year"),
    Indicator("CO2 peak", "CO2 emissions", "peak", "MtCO2/yr", 1e-6),
    Indicator("CO2 in 2030", "CO2 emissions", "at", "MtCO2/yr", 1e-6, 2030),
    Indicator("CO2 in 2060", "CO2 emissions", "at", "MtCO2/yr", 1e-6, 2060),
    Indicator("cumulative CO2 2021-2060", "CO2 emissions", "sum", "MtCO2", 1e-6, 2021, 2060),
    Indicator("PM2.5 in 2035", "PM25", "at", "ug/m3", 1.0, 2035),
    Indicator("air pollutant equivalent in 2035", "air pollutant equivalent", "at", "Meq/yr", 1e-6, 2035),
    Indicator("population in 2060", "Population", "at", "million", 1e-6, 2060),
)


def evaluate(long: pd.DataFrame, indicators=INDICATORS) -> pd.DataFrame:
    """Evaluate indicators for every city and scenario of a long table.

    Returns
    -------
    pandas.DataFrame
        Columns ``city, scenario, indicator, unit, value``.
    """
    rows = []
    for (city, scen), grp in long.groupby(["city", "scenario"], sort=False):
        by_var = {v: g.set_index("year")["value"] for v, g in grp.groupby("variable")}
        for ind in indicators:
            rows.append((city, scen, ind.name, ind.unit, ind(by_var[ind.variable])))
    return pd.DataFrame(rows, columns=["city", "scenario", "indicator", "unit", "value"])


SUMMARY = ("CO2 peak year", "CO2 peak", "CO2 in 2030", "CO2 in 2060", "PM2.5 in 2035")


def summary(long: pd.DataFrame) -> pd.DataFrame:
    """The short per-scenario summary printed by ``megacity-sd run``."""
    ev = evaluate(long, [i for i in INDICATORS if i.name in SUMMARY])
    wide = ev.pivot_table(index=["city", "scenario"], columns="indicator", values="value", sort=False)
    return wide[list(SUMMARY)]
