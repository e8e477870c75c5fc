"""The panel of local STIRPAT: 30 provinces (CEADs CO2, NBS population and GDP) and the coordinates of the
provincial capitals, shipped with sources; projected coordinates."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ..data import DATA_DIR
from ..errors import UserInputError

__all__ = [
    "MEGACITY_PROVINCE",
    "load_capitals",
    "load_province_panel",
    "project_coordinates",
]


#: Province of each of the five megacities (Beijing, Tianjin and Shanghai are
#: provinces; Guangzhou and Shenzhen are in Guangdong).
MEGACITY_PROVINCE = {"beijing": "Beijing", "tianjin": "Tianjin", "shanghai": "Shanghai",
                     "guangzhou": "Guangdong", "shenzhen": "Guangdong"}


#: Units of the projected coordinates: 100 km.
COORD_UNIT_M = 1.0e5


_PANEL = "megacity_sd/data/province_panel.csv"


def _fail(source: str, message: str):
    raise UserInputError(f"{source}: {message}")


@lru_cache(maxsize=2)
def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / name, keep_default_na=False, na_values=[""])


def load_capitals() -> pd.DataFrame:
    """Coordinates of the 31 provincial capitals (``province_capitals.csv``).

    Returns
    -------
    pandas.DataFrame
        ``province, code, capital, lon, lat`` (degrees east and north,
        WGS84), ``geonames_id``, ``flag`` (``verify`` for Lhasa), ``source``.
    """
    df = _read("province_capitals.csv").copy()
    df["flag"] = df["flag"].fillna("")
    return df


def load_province_panel(years: tuple[int, int] = (2000, 2017), drop_flagged: bool = True) -> pd.DataFrame:
    """The provincial STIRPAT panel shipped with the package, with coordinates.

    Parameters
    ----------
    years : (int, int)
        First and last year (the file holds 2000-2019; 2018-2019 are on the
        post-2018-census GDP vintage, so the default stops at 2017).
    drop_flagged : bool
        Leave out the rows flagged ``suspect_co2`` (Hainan 2002, Ningxia
        2000-2002), ``suspect_population`` (Heilongjiang 2013) and
        ``gdp_vintage_break`` (2018-2019).

    Returns
    -------
    pandas.DataFrame
        ``province, code, year, co2`` (tCO2/Year, CEADs scope 1),
        ``population`` (person, year-end), ``gdp_current`` (yuan/Year, current
        prices), ``gdp_per_capita`` (yuan/(person*Year) at 2005 prices),
        ``deflator_2005`` (dmnl), ``flag``, ``source``, ``capital, lon, lat``
        (degrees). 30 provinces (CEADs has no Tibet).
    """
    df = _read("province_panel.csv").copy()
    df["flag"] = df["flag"].fillna("")
    df = df[(df["year"] >= years[0]) & (df["year"] <= years[1])]
    if drop_flagged:
        df = df[df["flag"] == ""]
    caps = load_capitals()[["code", "capital", "lon", "lat"]]
    return df.merge(caps, on="code", how="left").reset_index(drop=True)


def project_coordinates(lon, lat, central_longitude: float | None = None) -> np.ndarray:
    """Project longitude and latitude (degrees) to a plane, in units of 100 km.

    Uses ``mgtwr.function.surface_to_plane`` (Gauss-Krueger) about
    ``central_longitude`` (default: the median longitude, rounded). Distances
    far from that meridian are stretched (about 5 % at 25 degrees away).

    Returns
    -------
    numpy.ndarray
        ``n x 2`` (easting, northing) in 100 km.
    """
    from mgtwr.function import surface_to_plane

    lon = np.asarray(lon, dtype=float).reshape(-1)
    lat = np.asarray(lat, dtype=float).reshape(-1)
    if central_longitude is None:
        central_longitude = float(np.round(np.median(lon)))
    x, y = surface_to_plane(lon, lat, central_longitude=central_longitude)
    return np.column_stack([np.asarray(x).reshape(-1), np.asarray(y).reshape(-1)]) / COORD_UNIT_M
