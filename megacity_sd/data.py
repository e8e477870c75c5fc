"""Historical data shipped with the project (``megacity_sd/data``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = ["DATA_DIR", "history"]

DATA_DIR = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=1)
def _history() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "history.csv")


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
