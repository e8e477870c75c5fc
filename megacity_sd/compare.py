"""Cities side by side: totals, per capita and per unit of GDP, and one figure.

Reads the project's long table (``city, scenario, variable, unit, year,
value``) of several cities; :func:`compare_table` returns one long table of
comparison indicators and :func:`plot_compare` draws the four panels that
``megacity-sd compare`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .units import display

__all__ = ["COMPARE_YEARS", "compare_series", "compare_table", "plot_compare"]

COMPARE_YEARS = (2019, 2030, 2035, 2060)

# name -> (model unit, function of the wide frame of one run: year x variable), shown in the unit's display unit
_MODEL_SERIES = {
    "CO2 (scope 1+2)": ("tCO2/Year", lambda w: w["CO2 scope 1 and 2"]),
    "CO2 per capita": ("tCO2/(person*Year)", lambda w: w["CO2 scope 1 and 2"] / w["Population"]),
    "CO2 per GDP": ("tCO2/yuan", lambda w: w["CO2 scope 1 and 2"] / w["GDP"]),
    "PM2.5 concentration": ("microgram/m3", lambda w: w["PM25"]),
}
# name -> (display unit, scale, function)
_SERIES = {name: (display(u).label, display(u).scale, fn) for name, (u, fn) in _MODEL_SERIES.items()}


def compare_series(long: pd.DataFrame) -> pd.DataFrame:
    """Yearly comparison series of every city and scenario.

    Returns
    -------
    pandas.DataFrame
        Columns ``city, scenario, variable, unit, year, value``: CO2 scope 1+2
        (Mt CO2/yr), CO2 per capita (t CO2/person/yr), CO2 per GDP (t CO2 per
        10,000 yuan at 2005 prices) and the PM2.5 concentration (ug/m3), in
        the display units of :mod:`megacity_sd.units`.
    """
    need = ["CO2 scope 1 and 2", "Population", "GDP", "PM25"]
    frames = []
    for (city, scen), grp in long[long["variable"].isin(need)].groupby(["city", "scenario"], sort=False):
        wide = grp.pivot_table(index="year", columns="variable", values="value", sort=True)
        for name, (unit, scale, fn) in _SERIES.items():
            s = fn(wide) * scale
            frames.append(pd.DataFrame({"city": city, "scenario": scen, "variable": name, "unit": unit,
                                        "year": s.index.astype(int), "value": s.to_numpy(dtype=float)}))
    return pd.concat(frames, ignore_index=True)


def compare_table(long: pd.DataFrame, years: Sequence[int] = COMPARE_YEARS) -> pd.DataFrame:
    """Comparison indicators of every city and scenario in some years, with the rank of each city.

    Returns
    -------
    pandas.DataFrame
        Columns ``city, scenario, indicator, unit, year, value, rank``; ``rank``
        1 is the lowest value among the cities for that scenario, indicator
        and year.
    """
    s = compare_series(long)
    t = s[s["year"].isin(list(years))].rename(columns={"variable": "indicator"}).copy()
    t["rank"] = t.groupby(["scenario", "indicator", "year"])["value"].rank(method="min").astype(int)
    return t.reset_index(drop=True)


def plot_compare(long: pd.DataFrame, *, title: str = ""):
    """Four panels (CO2, per capita, per GDP, PM2.5), one colour per city, one line style per scenario.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    s = compare_series(long)
    cities = list(dict.fromkeys(s["city"]))
    scens = list(dict.fromkeys(s["scenario"]))
    colours = dict(zip(cities, plt.get_cmap("tab10")(np.arange(len(cities)) % 10), strict=True))
    styles = dict(zip(scens, ["-", "--", ":", "-."] * (len(scens) // 4 + 1), strict=False))
    fig, axes = plt.subplots(2, 2, figsize=(12.0, 7.5), layout="constrained")
    for ax, (name, (unit, _, _)) in zip(axes.flat, _SERIES.items(), strict=True):
        for (city, scen), g in s[s["variable"] == name].groupby(["city", "scenario"], sort=False):
            ax.plot(g["year"], g["value"], color=colours[city], ls=styles[scen], lw=1.6,
                    label=f"{city}" + (f" / {scen}" if len(scens) > 1 else ""))
        ax.set_title(name)
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5))
    if title:
        fig.suptitle(title)
    return fig
