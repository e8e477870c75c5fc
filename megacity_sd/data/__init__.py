"""Historical data shipped with the project (``megacity_sd/data``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = ["DATA_DIR", "TABLES", "history", "observed", "table"]

DATA_DIR = Path(__file__).resolve().parent


#: Tidy data tables shipped with the package (``city, year, variable, value, unit, source``).
TABLES = ("history", "calibration_series", "pm25_bulletins", "economy_anchors")


@lru_cache(maxsize=len(TABLES))
def _table(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / f"{name}.csv")


def _history() -> pd.DataFrame:
    return _table("history")


def table(name: str, city: str | None = None, variable: str | None = None) -> pd.DataFrame:
    """One of the package's tidy data tables, filtered.

    Parameters
    ----------
    name : str
        One of :data:`TABLES`: ``history`` (observations), ``calibration_series``
        (derived series, see ``CALIBRATION_DATA.md``), ``pm25_bulletins``
        (annual PM2.5 of the environment bulletins), ``economy_anchors``
        (capital, investment and the SSP2 growth anchors).
    city, variable : str, optional
    """
    if name not in TABLES:
        raise ValueError(f"unknown data table {name!r}; allowed: {', '.join(TABLES)}")
    df = _table(name)
    if city is not None:
        df = df[df["city"] == city]
    if variable is not None:
        df = df[df["variable"] == variable]
    return df.copy()


def history(city: str | None = None, variable: str | None = None) -> pd.DataFrame:
    """Historical series, tidy: ``city, year, variable, value, unit, source``.

    Parameters
    ----------
    city : str, optional
        Lower-case city id (``shanghai``, ``beijing``...).
    variable : str, optional
        e.g. ``population`` (person), ``co2`` (tCO2/Year), ``pm25``
        (microgram/m3), ``co2_coal_share`` (dmnl).
    """
    df = _history()
    if city is not None:
        df = df[df["city"] == city]
    if variable is not None:
        df = df[df["variable"] == variable]
    return df.copy()


def observed(city: str | None = None, variable: str | None = None) -> pd.DataFrame:
    """:func:`history`, with the PM2.5 years it lacks taken from the environment bulletins (``pm25_bulletins``).

    Where both hold a year they agree (tested); each row keeps its own ``source``, so a bulletin value is
    cited as such (and carries that table's caveat).

    Parameters
    ----------
    city, variable : str, optional
        As :func:`history`.
    """
    hist = _history()
    bulletins = _table("pm25_bulletins")
    keys = ["city", "year", "variable"]
    new = bulletins.merge(hist[keys], on=keys, how="left", indicator=True)
    new = new[new["_merge"] == "left_only"].drop(columns="_merge")
    df = pd.concat([hist, new[hist.columns]], ignore_index=True).sort_values(keys, kind="stable")
    if city is not None:
        df = df[df["city"] == city]
    if variable is not None:
        df = df[df["variable"] == variable]
    return df.reset_index(drop=True)
