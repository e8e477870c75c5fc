"""Co-control coordinate system: synergy of every measure, pollutant and year.

For a measure (a scenario against the baseline, a measure from a user's
table, or a historical period), the point of an air pollutant P is

    x = dP/P  (relative change of the pollutant, signed, dimensionless)
    y = dC/C  (relative change of CO2, signed, dimensionless)

and the co-control elasticity is ``ET = x / y``, a ratio of relative changes
(an arc estimate of d ln P / d ln C). Negative is a reduction. The method is
the "co-control effect coordinate system" of Mao Xianqiang's group (毛显强
et al., 中国环境科学, 2011-2012; the original papers are not verified in
the project's sources); the elasticity Els = (dE_j/E_j)/(dE_k/E_k) as
defined in PMC11666946, Table 2 (see
``shared/data/literature/cocontrol_notes.md``; check authors before citing).

Quadrants (``x`` along the horizontal axis, ``y`` along the vertical):

==========  ==================  =============================================
quadrant    signs               reading
==========  ==================  =============================================
``III``     x < 0, y < 0        synergistic control: both reduced
``II``      x < 0, y > 0        pollutant reduced at the cost of more CO2
``IV``      x > 0, y < 0        CO2 reduced at the cost of more pollutant
``I``       x > 0, y > 0        both raised
``x-axis``  x != 0, y = 0       only the pollutant changes (ET undefined)
``y-axis``  x = 0, y != 0       only CO2 changes (ET = 0)
``origin``  x = 0, y = 0        nothing changes (ET undefined)
==========  ==================  =============================================

"Zero" means ``|r| <= zero_tol`` for a relative change ``r``
(``DEFAULT_ZERO_TOL``, changeable by keyword). An undefined elasticity is NaN
in memory and an empty cell in CSV, never ``inf``. A zero baseline (``P = 0``
or ``C = 0`` before the change) is not divided by: the relative change is NaN,
the row is flagged ``zero_baseline`` and the ``note`` says which.

Pollutants: ``SO2``, ``NOx``, ``PM2.5`` (primary) and ``APE``, the aggregate
air-pollutant equivalent ``sum_i m_i / w_i`` (m in kg, w in kg per
equivalent) with the weights of China's Environmental Protection Tax Law,
Annex 2, read from ``megacity_sd/data/pollution_equivalents.csv`` (or a user
file with the same columns ``pollutant, kg_per_equivalent, source``). The
module computes ``APE`` itself, so changing the weights changes the result.

Every analysis goes through one *changes table*, ``city, measure, pollutant,
year, unit, before, after, pollutant_basis, note`` (CO2 among the pollutants),
built from model runs (:func:`model_changes`), a user's table
(:func:`read_measures`) or the historical series (:func:`history_changes`).
``pollutant_basis`` is ``emissions`` or ``concentration``: the project has no
historical emission inventories of air pollutants, so historical points use
annual mean concentrations on the pollutant axis (CO2 is always emissions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd

from .data import DATA_DIR, history
from .errors import UserInputError

__all__ = [
    "APE",
    "CO2",
    "DEFAULT_PERIODS",
    "DEFAULT_YEARS",
    "DEFAULT_ZERO_TOL",
    "HISTORY_VARIABLES",
    "MODEL_VARIABLES",
    "CO2_SCOPES",
    "PATH_YEARS",
    "POLLUTANTS",
    "QUADRANTS",
    "SYNERGY_COLUMNS",
    "WEIGHTS_PATH",
    "EnsembleCloud",
    "add_equivalent",
    "cross_elasticity",
    "elasticity",
    "ensemble_cloud",
    "history_changes",
    "interaction",
    "load_weights",
    "model_changes",
    "parse_periods",
    "plot_coordinates",
    "plot_ensemble",
    "plot_interaction_bars",
    "plot_interaction_lines",
    "quadrant",
    "read_measures",
    "relative_change",
    "synergy_table",
]

CO2 = "CO2"
APE = "APE"
POLLUTANTS = ("SO2", "NOx", "PM2.5")
MODEL_VARIABLES = {CO2: "CO2 scope 1 and 2", "SO2": "SO2 emissions", "NOx": "NOx emissions",
                   "PM2.5": "primary PM25 emissions"}
#: The model's CO2 variable for each accounting scope: 1 territorial (as CEADs), 2 imported electricity,
#: total = 1 + 2 (the default, so that moving generation out of the city is not counted as a cut).
CO2_SCOPES = {"1": "CO2 emissions", "2": "scope 2 CO2", "total": "CO2 scope 1 and 2"}
HISTORY_VARIABLES = {"SO2": "so2_conc", "NO2": "no2_conc", "PM10": "pm10", "PM2.5": "pm25"}
WEIGHTS_PATH = DATA_DIR / "pollution_equivalents.csv"
DEFAULT_ZERO_TOL = 1e-9
DEFAULT_YEARS = (2030, 2035, 2060)
# the concentration series of history.csv end in 2017, so the second default period ends there
DEFAULT_PERIODS = ((2012, 2015), (2014, 2017))
PATH_YEARS = (2025, 2060)
QUADRANTS = ("I", "II", "III", "IV", "x-axis", "y-axis", "origin")
CHANGE_COLUMNS = ["city", "measure", "pollutant", "year", "unit", "before", "after", "pollutant_basis", "note"]
SYNERGY_COLUMNS = ["city", "measure", "pollutant", "year", "rel_change_pollutant", "rel_change_co2",
                   "elasticity", "quadrant", "pollutant_basis", "zero_baseline", "note"]
TABLE_COLUMNS = ("measure", "pollutant", "before", "after")
TABLE_OPTIONAL = ("city", "year", "unit")
_ORDER = (CO2, "SO2", "NOx", "NO2", "PM10", "PM2.5", APE)
_ALIASES = {"co2": CO2, "so2": "SO2", "nox": "NOx", "no2": "NO2", "pm10": "PM10", "pm2.5": "PM2.5",
            "pm25": "PM2.5", "pm_2.5": "PM2.5", "ape": APE}
_KG = {"t/year": 1000.0, "t": 1000.0, "kg/year": 1.0, "kg": 1.0}


# ---------------------------------------------------------------------------- the coordinates


def relative_change(before, after) -> np.ndarray:
    """Signed relative change ``(after - before) / before``.

    Parameters
    ----------
    before, after : array_like of float
        Levels in one unit (e.g. t/yr); ``before`` is the reference.

    Returns
    -------
    numpy.ndarray of float (a scalar for scalar input)
        Dimensionless (0.1 = +10 %). NaN where ``before`` is zero (a zero
        baseline is reported, not divided by) or either level is NaN.
    """
    b, a = np.broadcast_arrays(np.asarray(before, dtype=float), np.asarray(after, dtype=float))
    zero = b == 0.0
    out = (a - b) / np.where(zero, 1.0, b)
    return np.where(zero, np.nan, out)[()]


def elasticity(x, y, *, zero_tol: float = DEFAULT_ZERO_TOL) -> np.ndarray:
    """Co-control elasticity ``ET = x / y`` (ratio of relative changes).

    Parameters
    ----------
    x : array_like of float
        Relative change of the pollutant, dP/P (dimensionless).
    y : array_like of float
        Relative change of CO2, dC/C (dimensionless).
    zero_tol : float
        ``|y| <= zero_tol`` counts as no change of CO2.

    Returns
    -------
    numpy.ndarray of float (a scalar for scalar input)
        ET (dimensionless); NaN, never inf, where ``y`` is zero or either
        input is NaN.
    """
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y) & (np.abs(y) > zero_tol)
    return (np.where(ok, x / np.where(ok, y, 1.0), np.nan) + 0.0)[()]  # + 0.0 turns -0.0 into 0.0


def quadrant(x, y, *, zero_tol: float = DEFAULT_ZERO_TOL) -> np.ndarray:
    """Quadrant of the point ``(x, y)`` = (dP/P, dC/C).

    Parameters
    ----------
    x, y : array_like of float
        Relative changes of the pollutant and of CO2 (dimensionless).
    zero_tol : float
        ``|r| <= zero_tol`` counts as zero.

    Returns
    -------
    numpy.ndarray of object (a scalar for scalar input)
        ``"I"`` (x>0, y>0), ``"II"`` (x<0, y>0), ``"III"`` (x<0, y<0,
        synergistic), ``"IV"`` (x>0, y<0), ``"x-axis"`` (y = 0, x != 0),
        ``"y-axis"`` (x = 0, y != 0), ``"origin"``; None where x or y is NaN.
    """
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    x0, y0 = np.abs(x) <= zero_tol, np.abs(y) <= zero_tol
    conds = [np.isnan(x) | np.isnan(y), x0 & y0, y0, x0, (x > 0) & (y > 0), (x < 0) & (y > 0), (x < 0) & (y < 0)]
    labels = [None, "origin", "x-axis", "y-axis", "I", "II", "III"]
    return np.select(conds, np.array(labels, dtype=object), default="IV")[()]


# ---------------------------------------------------------------------------- weights and APE


def load_weights(path: str | Path | None = None) -> pd.DataFrame:
    """Pollution-equivalent values: ``pollutant, kg_per_equivalent, source``.

    Parameters
    ----------
    path : str or Path, optional
        A CSV with those columns (default: the project's
        ``data/pollution_equivalents.csv``, Environmental Protection Tax Law
        of the PRC, Annex 2: SO2 0.95, NOx 0.95, PM2.5 as soot 2.18 kg per
        equivalent, the last one recalled and to be verified).

    Returns
    -------
    pandas.DataFrame
        One row per pollutant; ``kg_per_equivalent`` in kg per pollution
        equivalent.

    Raises
    ------
    UserInputError
        Missing file or column, unknown extra column, a value that is not a
        positive number, a duplicate pollutant, an empty source.
    """
    path = Path(path) if path is not None else WEIGHTS_PATH
    df = _read_csv(path)
    required = ("pollutant", "kg_per_equivalent", "source")
    _check_columns(df, path, required, ())
    df = df[list(required)].copy()
    df["pollutant"] = [_normalise(p) for p in df["pollutant"]]
    for i, (p, v, s) in enumerate(zip(df["pollutant"], df["kg_per_equivalent"], df["source"], strict=True)):
        line = i + 2
        if p in ("", CO2, APE):
            raise UserInputError(f"{path}: column 'pollutant', line {line}: {p!r} is not allowed; "
                                 "allowed: an air pollutant such as SO2, NOx, PM2.5")
        num = pd.to_numeric(pd.Series([v]), errors="coerce").iloc[0]
        if not (np.isfinite(num) and num > 0):
            raise UserInputError(f"{path}: column 'kg_per_equivalent', line {line}: {v!r} is not allowed; "
                                 "allowed: a number > 0 (kg per pollution equivalent)")
        if pd.isna(s) or not str(s).strip():
            raise UserInputError(f"{path}: column 'source', line {line}: empty; allowed: the citation of the value")
    dup = df["pollutant"][df["pollutant"].duplicated()]
    if len(dup):
        raise UserInputError(f"{path}: column 'pollutant': {dup.iloc[0]!r} appears twice; "
                             "allowed: one row per pollutant")
    if df.empty:
        raise UserInputError(f"{path}: no rows; allowed: one row per pollutant")
    df["kg_per_equivalent"] = df["kg_per_equivalent"].astype(float)
    df.attrs["path"] = str(path)
    return df.reset_index(drop=True)


def add_equivalent(changes: pd.DataFrame, weights: pd.DataFrame | None = None) -> pd.DataFrame:
    """Append the aggregate air-pollutant equivalent ``APE`` to a changes table.

    ``APE = sum_i m_i / w_i`` over the pollutants of ``weights``, for the
    ``before`` and ``after`` levels, in equivalent/Year when the pollutant
    units are t/Year or kg/Year (otherwise the unit is left empty; relative
    changes do not depend on it as long as all pollutants share one mass
    unit). A group (city, measure, year, ...) gets an ``APE`` row only if it
    has every weighted pollutant, all on an emissions basis.

    Parameters
    ----------
    changes : pandas.DataFrame
        Changes table (see the module docstring).
    weights : pandas.DataFrame, optional
        From :func:`load_weights` (default: the project's file).

    Returns
    -------
    pandas.DataFrame
        ``changes`` with the ``APE`` rows appended.
    """
    weights = load_weights() if weights is None else weights
    w = dict(zip(weights["pollutant"], weights["kg_per_equivalent"], strict=True))
    keys = _keys(changes)
    sel = changes[changes["pollutant"].isin(list(w)) & (changes["pollutant_basis"] == "emissions")].copy()
    if sel.empty:
        return changes
    factor = sel["unit"].str.lower().map(_KG)
    scale = factor.fillna(1.0) / sel["pollutant"].map(w)
    sel["before"] = sel["before"] * scale
    sel["after"] = sel["after"] * scale
    sel["_known"] = factor.notna()
    agg = sel.groupby(keys, dropna=False, sort=False).agg(
        before=("before", "sum"), after=("after", "sum"), n=("pollutant", "nunique"),
        known=("_known", "all")).reset_index()
    agg = agg[agg["n"] == len(w)]
    if agg.empty:
        return changes
    agg["pollutant"] = APE
    agg["unit"] = np.where(agg["known"], "equivalent/Year", "")
    agg["pollutant_basis"] = "emissions"
    agg["note"] = ""
    out = pd.concat([changes, agg[changes.columns]], ignore_index=True)
    return _sort(out)


# ---------------------------------------------------------------------------- changes tables


def model_changes(long: pd.DataFrame, *, baseline: str = "baseline",
                  weights: pd.DataFrame | None = None, scope: str = "total") -> pd.DataFrame:
    """Changes of every scenario against the baseline, from the long table.

    Parameters
    ----------
    long : pandas.DataFrame
        Long table ``city, scenario, variable, unit, year, value`` with the
        variables of :data:`MODEL_VARIABLES` (tCO2/Year and t/Year). Extra
        id columns (e.g. ``run`` of an ensemble) are carried along; if the
        baseline has a single run it serves every run of the scenarios.
    baseline : str
        The reference scenario.
    weights : pandas.DataFrame, optional
        Pollution-equivalent values for ``APE`` (:func:`load_weights`).
    scope : {"total", "1", "2"}
        Which CO2 is the y axis (:data:`CO2_SCOPES`): scope 1+2 (default),
        territorial scope 1, or the scope 2 of imported electricity.

    Returns
    -------
    pandas.DataFrame
        Changes table; ``measure`` = scenario, ``before`` = baseline level,
        ``after`` = scenario level, ``pollutant_basis`` = ``emissions``; the
        CO2 rows' note names the scope.

    Raises
    ------
    UserInputError
        A variable or the baseline scenario is missing; duplicate rows.
    """
    if scope not in CO2_SCOPES:
        raise ValueError(f"scope must be one of {', '.join(CO2_SCOPES)}, not {scope!r}")
    extra = [c for c in long.columns if c not in ("city", "scenario", "variable", "unit", "year", "value")]
    names = {v: k for k, v in {**MODEL_VARIABLES, CO2: CO2_SCOPES[scope]}.items()}
    sel = long[long["variable"].isin(list(names))].copy()
    for var in names:
        if not (sel["variable"] == var).any():
            raise UserInputError(f"long table: column 'variable': no rows of {var!r}; "
                                 f"required: {', '.join(names)}")
    dup = sel.duplicated(["city", "scenario", "variable", "year", *extra])
    if dup.any():
        r = sel[dup].iloc[0]
        raise UserInputError(f"long table: duplicate rows for {r['city']}/{r['scenario']}/{r['variable']}/"
                             f"{r['year']}; allowed: one row each (an ensemble needs a 'run' column)")
    sel["pollutant"] = sel["variable"].map(names)
    base = sel[sel["scenario"] == baseline]
    if base.empty:
        raise UserInputError(f"long table: column 'scenario': no rows of the baseline {baseline!r}; "
                             f"allowed: {', '.join(map(str, sel['scenario'].unique()))}")
    other = sel[sel["scenario"] != baseline]
    on = ["city", "pollutant", "year", *extra]
    if "run" in extra and base["run"].nunique() == 1:
        on.remove("run")
        base = base.drop(columns="run")
    merged = other.merge(base[[*on, "value"]], on=on, how="left", suffixes=("", "_base"),
                         validate="many_to_one")
    out = pd.DataFrame({"city": merged["city"].astype(str), "measure": merged["scenario"],
                        "pollutant": merged["pollutant"], "year": merged["year"].astype("Int64"),
                        "unit": merged["unit"], "before": merged["value_base"].astype(float),
                        "after": merged["value"].astype(float), "pollutant_basis": "emissions",
                        "note": np.where(merged["pollutant"] == CO2, f"CO2 scope {scope}", "")})
    for c in extra:
        out[c] = merged[c].to_numpy()
    return add_equivalent(_sort(out), weights)


def read_measures(path: str | Path, weights: pd.DataFrame | None = None) -> pd.DataFrame:
    """Changes of measures that are not in the model, from a CSV table.

    Parameters
    ----------
    path : str or Path
        CSV with columns ``measure, pollutant, before, after`` and optionally
        ``city``, ``year``, ``unit``. ``before`` and ``after`` are emissions
        (>= 0) in one mass unit per measure for all air pollutants (e.g.
        t/yr; the CO2 unit may differ). Each measure (and city and year) needs
        a ``CO2`` row. Pollutant names are matched case-insensitively to
        CO2, SO2, NOx, PM2.5 (also ``PM25``); others are kept as written.
    weights : pandas.DataFrame, optional
        Pollution-equivalent values for ``APE`` (:func:`load_weights`).

    Returns
    -------
    pandas.DataFrame
        Changes table; ``city`` is empty and ``year`` is NA where the table
        has none.

    Raises
    ------
    UserInputError
        One line naming the file, the column (and line) and what is allowed:
        missing or unknown columns, non-numeric or negative levels, a
        non-integer year, duplicate rows, a group without CO2.
    """
    path = Path(path)
    df = _read_csv(path)
    _check_columns(df, path, TABLE_COLUMNS, TABLE_OPTIONAL)
    if df.empty:
        raise UserInputError(f"{path}: no rows; allowed: one row per measure and pollutant")
    for col in ("measure", "pollutant"):
        bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if bad.any():
            raise UserInputError(f"{path}: column '{col}', line {int(np.flatnonzero(bad)[0]) + 2}: empty; "
                                 "allowed: a name")
    df["measure"] = df["measure"].astype(str).str.strip()
    df["pollutant"] = [_normalise(p) for p in df["pollutant"]]
    if (df["pollutant"] == APE).any():
        line = int(np.flatnonzero(df["pollutant"] == APE)[0]) + 2
        raise UserInputError(f"{path}: column 'pollutant', line {line}: 'APE' is computed from the weights; "
                             "allowed: CO2 and single pollutants (SO2, NOx, PM2.5, ...)")
    for col in ("before", "after"):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | ~np.isfinite(num)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UserInputError(f"{path}: column '{col}', line {i + 2}: {df[col].iloc[i]!r} is not a number; "
                                 "allowed: emissions >= 0")
        if (num < 0).any():
            i = int(np.flatnonzero(num < 0)[0])
            raise UserInputError(f"{path}: column '{col}', line {i + 2} (measure {df['measure'].iloc[i]!r}, "
                                 f"{df['pollutant'].iloc[i]}): {num.iloc[i]:g} is negative; allowed: emissions >= 0")
        df[col] = num.astype(float)
    if "year" in df.columns:
        num = pd.to_numeric(df["year"], errors="coerce")
        bad = (df["year"].notna() & num.isna()) | (num.notna() & (num.round() - num).abs().gt(0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UserInputError(f"{path}: column 'year', line {i + 2}: {df['year'].iloc[i]!r} is not a year; "
                                 "allowed: an integer year or empty")
        df["year"] = num.round().astype("Int64")
    else:
        df["year"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df["city"] = df["city"].fillna("").astype(str).str.strip() if "city" in df.columns else ""
    df["unit"] = df["unit"].fillna("").astype(str).str.strip() if "unit" in df.columns else ""
    keys = ["city", "measure", "year"]
    dup = df.duplicated([*keys, "pollutant"])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise UserInputError(f"{path}: line {i + 2}: a second row for measure {df['measure'].iloc[i]!r}, "
                             f"pollutant {df['pollutant'].iloc[i]!r}{_where(df.iloc[i])}; allowed: one row each")
    has_co2 = df.groupby(keys, dropna=False, sort=False)["pollutant"].agg(lambda s: CO2 in set(s))
    if not has_co2.all():
        city, measure, year = has_co2.index[int(np.flatnonzero(~has_co2.to_numpy())[0])]
        where = _where(pd.Series({"city": city, "year": year}))
        raise UserInputError(f"{path}: column 'pollutant': measure {measure!r}{where} has no CO2 row; "
                             "allowed: every measure with one CO2 row")
    out = df.assign(pollutant_basis="emissions", note="")[CHANGE_COLUMNS]
    return add_equivalent(_sort(out), weights)


def parse_periods(text: str) -> tuple[tuple[int, int], ...]:
    """Parse ``"2012-2015,2015-2018"`` into ``((2012, 2015), (2015, 2018))``.

    Raises
    ------
    UserInputError
        A period that is not ``START-END`` with integer years, START < END.
    """
    periods = []
    for part in text.split(","):
        bits = part.strip().split("-")
        try:
            start, end = (int(b) for b in bits)
        except ValueError:
            start = end = None
        if start is None or not start < end:
            raise UserInputError(f"--periods: {part.strip()!r} is not allowed; allowed: START-END with "
                                 "integer years, START < END, comma-separated (e.g. 2012-2015,2015-2018)")
        periods.append((start, end))
    return tuple(periods)


def history_changes(periods: Sequence[tuple[int, int]] = DEFAULT_PERIODS, cities: Sequence[str] | None = None,
                    data: pd.DataFrame | None = None) -> pd.DataFrame:
    """Historical co-control: changes over periods from the project's series.

    The pollutant axis uses annual mean **concentrations** (microgram/m3:
    ``so2_conc`` as SO2, ``no2_conc`` as NO2, ``pm10`` as PM10, ``pm25`` as
    PM2.5), because the project has no historical emission inventories of
    air pollutants; ``pollutant_basis`` is ``concentration`` on those rows.
    CO2 is the CEADs territorial inventory (tCO2/Year). No ``APE`` is formed
    (the tax weights apply to emitted mass, not to concentrations).

    Parameters
    ----------
    periods : sequence of (int, int)
        ``(start, end)`` years; ``before`` = start, ``after`` = end.
    cities : sequence of str, optional
        City ids of ``history.csv`` (default: all).
    data : pandas.DataFrame, optional
        Tidy history ``city, year, variable, value, unit, source`` (default:
        :func:`megacity_sd.data.history`).

    Returns
    -------
    pandas.DataFrame
        Changes table with ``measure`` = ``"START-END"`` and ``year`` = END.
        A city gets a pollutant row if it has that series at all; a missing
        start or end value leaves ``before``/``after`` NaN with a ``note``.

    Raises
    ------
    UserInputError
        Unknown city, or a period year for which the data hold nothing.
    """
    data = history() if data is None else data
    known = sorted(data["city"].unique())
    cities = list(known) if cities is None else list(cities)
    for c in cities:
        if c not in known:
            raise UserInputError(f"history.csv: column 'city': no city {c!r}; allowed: {', '.join(known)}")
    vars_used = [*HISTORY_VARIABLES.values(), "co2"]
    years = set(data.loc[data["variable"].isin(vars_used), "year"].astype(int))
    for start, end in periods:
        for y in (start, end):
            if y not in years:
                raise UserInputError(f"--periods {start}-{end}: history.csv has no CO2 or air-quality data for "
                                     f"{y}; allowed: years {min(years)}-{max(years)}")
    rows = []
    for city in cities:
        dc = data[data["city"] == city]
        series = {CO2: ("co2", "tCO2/Year", "emissions")}
        series.update({p: (v, "microgram/m3", "concentration") for p, v in HISTORY_VARIABLES.items()})
        for pol, (var, unit, basis) in series.items():
            s = dc[dc["variable"] == var].set_index("year")["value"]
            if s.empty:
                continue
            for start, end in periods:
                missing = [str(y) for y in (start, end) if y not in s.index]
                note = f"no {var} for {' and '.join(missing)} in history.csv" if missing else ""
                rows.append({"city": city, "measure": f"{start}-{end}", "pollutant": pol, "year": end,
                             "unit": unit, "before": float(s.get(start, np.nan)), "after": float(s.get(end, np.nan)),
                             "pollutant_basis": basis, "note": note})
    out = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    out["year"] = out["year"].astype("Int64")
    return _sort(out)


# ---------------------------------------------------------------------------- analyses


def synergy_table(changes: pd.DataFrame, *, zero_tol: float = DEFAULT_ZERO_TOL) -> pd.DataFrame:
    """Coordinates, elasticity and quadrant of every measure, pollutant and year.

    Parameters
    ----------
    changes : pandas.DataFrame
        Changes table (:func:`model_changes`, :func:`read_measures`,
        :func:`history_changes`).
    zero_tol : float
        Relative changes with ``|r| <= zero_tol`` count as zero.

    Returns
    -------
    pandas.DataFrame
        :data:`SYNERGY_COLUMNS` (plus any extra id column such as ``run``):
        ``rel_change_pollutant`` = dP/P and ``rel_change_co2`` = dC/C
        (dimensionless, signed), ``elasticity`` = ET (NaN where undefined),
        ``quadrant`` (None where a coordinate is undefined),
        ``zero_baseline`` (bool), ``note``.
    """
    keys = _keys(changes)
    co2 = changes.loc[changes["pollutant"] == CO2, [*keys, "before", "after", "note"]]
    co2 = co2.rename(columns={"before": "co2_before", "after": "co2_after", "note": "co2_note"})
    pol = changes[changes["pollutant"] != CO2]
    m = pol.merge(co2, on=keys, how="left", validate="many_to_one")
    x = relative_change(m["before"], m["after"])
    y = relative_change(m["co2_before"], m["co2_after"])
    zp, zc = (m["before"] == 0).to_numpy(), (m["co2_before"] == 0).to_numpy()
    notes = []
    for note, cnote, a, b, pname, has_c in zip(m["note"], m["co2_note"], zp, zc, m["pollutant"],
                                              m["co2_before"].notna() | m["co2_note"].notna(), strict=True):
        parts = [n for n in (note, cnote) if isinstance(n, str) and n]
        if a:
            parts.append(f"zero baseline of {pname}: relative change not computed")
        if b:
            parts.append("zero baseline of CO2: relative change not computed")
        if not has_c:
            parts.append("no CO2 row")
        notes.append("; ".join(parts))
    out = pd.DataFrame({k: m[k].to_numpy() for k in keys})
    out["pollutant"] = m["pollutant"].to_numpy()
    out["rel_change_pollutant"] = x
    out["rel_change_co2"] = y
    out["elasticity"] = elasticity(x, y, zero_tol=zero_tol)
    out["quadrant"] = quadrant(x, y, zero_tol=zero_tol)
    out["pollutant_basis"] = m["pollutant_basis"].to_numpy()
    out["zero_baseline"] = zp | zc
    out["note"] = notes
    out["year"] = out["year"].astype("Int64")
    extra = [k for k in keys if k not in ("city", "measure", "year")]
    return _sort(out)[[*SYNERGY_COLUMNS, *extra]].reset_index(drop=True)


def cross_elasticity(changes: pd.DataFrame, *, variables: Sequence[str] | None = None,
                     zero_tol: float = DEFAULT_ZERO_TOL) -> pd.DataFrame:
    """Cross-elasticities d ln A / d ln B between every ordered pair of variables.

    Estimated as the ratio of relative changes (dA/A) / (dB/B), with the
    zero rules of :func:`elasticity` and :func:`relative_change`. The row
    with A = a pollutant and B = CO2 is the co-control elasticity ET.

    Parameters
    ----------
    changes : pandas.DataFrame
        Changes table.
    variables : sequence of str, optional
        Default: every pollutant present except ``APE`` (CO2, SO2, NOx,
        PM2.5 for model runs).
    zero_tol : float
        ``|dB/B| <= zero_tol`` leaves the elasticity undefined (NaN).

    Returns
    -------
    pandas.DataFrame
        ``city, measure, year, variable_a, variable_b, rel_change_a,
        rel_change_b, elasticity, pollutant_basis`` (dimensionless).
    """
    keys = _keys(changes)
    if variables is None:
        variables = [p for p in _ordered(changes["pollutant"].unique()) if p != APE]
    sel = changes[changes["pollutant"].isin(list(variables))].copy()
    sel["rel"] = relative_change(sel["before"], sel["after"])
    basis = sel[sel["pollutant"] != CO2].groupby(keys, dropna=False, sort=False)["pollutant_basis"].first()
    frames = []
    for a, b in permutations(variables, 2):
        ra = sel.loc[sel["pollutant"] == a, [*keys, "rel"]].rename(columns={"rel": "rel_change_a"})
        rb = sel.loc[sel["pollutant"] == b, [*keys, "rel"]].rename(columns={"rel": "rel_change_b"})
        m = ra.merge(rb, on=keys, how="inner")
        if m.empty:
            continue
        m.insert(len(keys), "variable_a", a)
        m.insert(len(keys) + 1, "variable_b", b)
        m["elasticity"] = elasticity(m["rel_change_a"], m["rel_change_b"], zero_tol=zero_tol)
        frames.append(m)
    cols = [*keys[:3], "variable_a", "variable_b", "rel_change_a", "rel_change_b", "elasticity",
            "pollutant_basis", *keys[3:]]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    out = out.merge(basis.rename("pollutant_basis").reset_index(), on=keys, how="left")
    out["pollutant_basis"] = out["pollutant_basis"].fillna("emissions")
    out["year"] = out["year"].astype("Int64")
    order = {m: i for i, m in enumerate(pd.unique(changes["measure"]))}
    out = out.sort_values(["city", "measure", "year"], key=lambda s: s.map(order) if s.name == "measure" else s,
                          kind="stable")
    return out[cols].reset_index(drop=True)


def interaction(changes: pd.DataFrame, *, combined: str = "combined",
                singles: Sequence[str] = ("energy_structure", "transport", "buildings"),
                additive_tol: float = 1e-3, zero_tol: float = DEFAULT_ZERO_TOL,
                rtol_baseline: float = 1e-9) -> pd.DataFrame:
    """Interaction of a combined measure with its single parts.

    ``interaction = d_combined - sum_i d_single_i`` with ``d = after -
    before`` (all against one common baseline), per city, pollutant (CO2
    included) and year. For reductions, a negative interaction means the
    packages reinforce each other (together they cut more than the sum of
    their separate cuts); a positive one that they counteract (overlap).

    Parameters
    ----------
    changes : pandas.DataFrame
        Changes table holding ``combined`` and every measure of ``singles``.
    combined : str
        The combined measure.
    singles : sequence of str
        The single measures it combines.
    additive_tol : float
        ``|interaction| / baseline <= additive_tol`` is labelled ``additive``
        (dimensionless; default 0.1 % of the baseline level).
    zero_tol : float
        ``interaction_share`` is NaN where ``|sum of single deltas| /
        baseline <= zero_tol``.
    rtol_baseline : float
        Relative tolerance for the check that all measures share a baseline.

    Returns
    -------
    pandas.DataFrame
        ``city, measure, singles, pollutant, year, unit, baseline,
        delta_combined, sum_delta_single, interaction`` (in ``unit``),
        ``rel_delta_combined, rel_sum_delta_single, rel_interaction``
        (divided by the baseline; NaN for a zero baseline),
        ``interaction_share`` (interaction / sum of single deltas: > 0 the
        combined measure goes further than the sum, < 0 it falls short; NaN
        where that sum is zero) and ``effect`` (``reinforcing``, ``counteracting``,
        ``additive``; empty for a zero baseline).

    Raises
    ------
    UserInputError
        A measure is missing, or the measures do not share a baseline.
    """
    keys = [k for k in _keys(changes) if k != "measure"] + ["pollutant"]
    present = list(pd.unique(changes["measure"]))
    for name in (combined, *singles):
        if name not in present:
            raise UserInputError(f"interaction: measure {name!r} not found; allowed: {', '.join(map(str, present))}")

    def part(name):
        d = changes.loc[changes["measure"] == name, [*keys, "unit", "before", "after"]]
        return d.set_index(keys)

    comb = part(combined)
    total = pd.Series(0.0, index=comb.index)
    for s in singles:
        d = part(s).reindex(comb.index)
        same = np.isclose(d["before"], comb["before"], rtol=rtol_baseline, atol=0.0)
        if not same.all():
            bad = comb.index[int(np.flatnonzero(~same)[0])]
            raise UserInputError(f"interaction: measures {combined!r} and {s!r} have different 'before' levels "
                                 f"at {dict(zip(keys, bad, strict=True))}; allowed: one common baseline")
        total = total + (d["after"] - d["before"])
    out = comb.reset_index()
    base = comb["before"].to_numpy()
    dc = (comb["after"] - comb["before"]).to_numpy()
    st = total.to_numpy()
    inter = dc - st
    zero = base == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(zero, np.nan, inter / np.where(zero, 1.0, base))
    out = pd.DataFrame({k: out[k].to_numpy() for k in keys})
    out.insert(1, "measure", combined)
    out.insert(2, "singles", "+".join(singles))
    out["unit"] = comb["unit"].to_numpy()
    out["baseline"] = base
    out["delta_combined"] = dc
    out["sum_delta_single"] = st
    out["interaction"] = inter
    out["rel_delta_combined"] = relative_change(base, base + dc)
    out["rel_sum_delta_single"] = relative_change(base, base + st)
    out["rel_interaction"] = rel
    out["interaction_share"] = elasticity(rel, out["rel_sum_delta_single"], zero_tol=zero_tol)
    out["effect"] = np.select([np.isnan(rel), np.abs(rel) <= additive_tol, rel < 0],
                              ["", "additive", "reinforcing"], default="counteracting")
    out["year"] = out["year"].astype("Int64")
    cols = ["city", "measure", "singles", "pollutant", "year", "unit", "baseline", "delta_combined",
            "sum_delta_single", "interaction", "rel_delta_combined", "rel_sum_delta_single", "rel_interaction",
            "interaction_share", "effect"]
    extra = [k for k in keys if k not in cols]
    return _sort(out)[cols + extra].reset_index(drop=True)


# ---------------------------------------------------------------------------- ensembles


@dataclass
class EnsembleCloud:
    """Per-run co-control points of one scenario and their uncertainty ellipse.

    Attributes
    ----------
    points : pandas.DataFrame
        One row per run: ``run, rel_change_pollutant, rel_change_co2,
        elasticity, quadrant`` (dimensionless).
    mean : numpy.ndarray
        Mean point ``[x, y]`` of the runs with defined coordinates.
    cov : numpy.ndarray
        2 x 2 sample covariance of ``[x, y]`` (ddof = 1).
    level : float
        Probability content of the ellipse (Gaussian assumption).
    scenario, pollutant : str
    year : int
    """

    points: pd.DataFrame
    mean: np.ndarray
    cov: np.ndarray
    level: float
    scenario: str
    pollutant: str
    year: int

    @property
    def chi2(self) -> float:
        """Squared Mahalanobis radius: chi-square quantile with 2 dof."""
        return float(-2.0 * np.log1p(-self.level))  # closed form of chi2.ppf(level, 2)

    def semi_axes(self) -> tuple[float, float, float]:
        """Ellipse semi-axes (major, minor; dimensionless) and angle of the major axis (degrees)."""
        vals, vecs = np.linalg.eigh(self.cov)
        major, minor = np.sqrt(np.maximum(vals[::-1], 0.0) * self.chi2)
        angle = float(np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1])))
        return float(major), float(minor), angle

    def ellipse(self, n: int = 181) -> np.ndarray:
        """Boundary of the ellipse as an ``(n, 2)`` array of ``[x, y]``."""
        t = np.linspace(0.0, 2.0 * np.pi, n)
        vals, vecs = np.linalg.eigh(self.cov)
        circle = np.stack([np.cos(t), np.sin(t)])
        return (self.mean[:, None] + vecs @ (np.sqrt(np.maximum(vals, 0.0) * self.chi2)[:, None] * circle)).T

    def contains(self, xy) -> np.ndarray:
        """Whether points ``(m, 2)`` lie inside the ellipse (Mahalanobis distance)."""
        d = np.atleast_2d(np.asarray(xy, dtype=float)) - self.mean
        return np.einsum("ij,jk,ik->i", d, np.linalg.inv(self.cov), d) <= self.chi2

    def quadrant_shares(self) -> pd.Series:
        """Share of runs in each quadrant (e.g. the probability of synergy, ``III``)."""
        return self.points["quadrant"].value_counts(normalize=True).reindex(list(QUADRANTS), fill_value=0.0)


def ensemble_cloud(long: pd.DataFrame, *, scenario: str, baseline: str = "baseline", pollutant: str = APE,
                   year: int = 2035, weights: pd.DataFrame | None = None, level: float = 0.95,
                   zero_tol: float = DEFAULT_ZERO_TOL) -> EnsembleCloud:
    """Co-control point cloud of an ensemble and its covariance ellipse.

    Parameters
    ----------
    long : pandas.DataFrame
        Long table with an extra ``run`` column: many runs of ``scenario``
        and of ``baseline`` (from the sensitivity work). Runs are paired by
        ``run`` id (one parameter sample, two policies); a baseline with a
        single run serves every run.
    scenario, baseline : str
        The measure and the reference.
    pollutant : str
        ``SO2``, ``NOx``, ``PM2.5`` or ``APE``.
    year : int
        Year of the point.
    weights : pandas.DataFrame, optional
        Pollution-equivalent values for ``APE``.
    level : float
        Probability content of the ellipse; its squared radius is the
        chi-square quantile with 2 degrees of freedom (5.991 for 0.95).
    zero_tol : float
        See :func:`quadrant`.

    Returns
    -------
    EnsembleCloud

    Raises
    ------
    UserInputError
        No ``run`` column, unknown scenario, pollutant or year, fewer than
        three runs with defined coordinates.
    """
    if "run" not in long.columns:
        raise UserInputError("ensemble: column 'run' missing; allowed: a long table with one 'run' id per run")
    if not 0.0 < level < 1.0:
        raise UserInputError(f"ensemble: level {level!r} not allowed; allowed: 0 < level < 1")
    scenarios = list(pd.unique(long["scenario"]))
    if scenario not in scenarios or scenario == baseline:
        raise UserInputError(f"ensemble: column 'scenario': no scenario {scenario!r}; allowed: "
                             f"{', '.join(s for s in scenarios if s != baseline)}")
    sub = long[long["scenario"].isin([scenario, baseline]) & (long["year"] == year)]
    if sub.empty:
        years = sorted(long["year"].unique())
        raise UserInputError(f"ensemble: column 'year': no {year!r}; allowed: {years[0]}-{years[-1]}")
    table = synergy_table(model_changes(sub, baseline=baseline, weights=weights), zero_tol=zero_tol)
    pts = table[(table["measure"] == scenario) & (table["pollutant"] == pollutant)]
    if pts.empty:
        raise UserInputError(f"ensemble: pollutant {pollutant!r} not allowed; allowed: "
                             f"{', '.join(pd.unique(table['pollutant']))}")
    pts = pts[["run", "rel_change_pollutant", "rel_change_co2", "elasticity", "quadrant"]].reset_index(drop=True)
    xy = pts[["rel_change_pollutant", "rel_change_co2"]].to_numpy(dtype=float)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) < 3:
        raise UserInputError(f"ensemble: {len(xy)} run(s) with defined coordinates; allowed: at least 3")
    return EnsembleCloud(points=pts, mean=xy.mean(axis=0), cov=np.cov(xy, rowvar=False), level=level,
                         scenario=scenario, pollutant=pollutant, year=int(year))


# ---------------------------------------------------------------------------- figures

_QUAD_STYLE = {"III": ("#d9f0d3", "III  synergistic"), "I": ("#fde0dd", "I  both raised"),
               "II": ("#fff7d6", "II  CO2 up, pollutant down"), "IV": ("#fff7d6", "IV  CO2 down, pollutant up")}


def _colour(name: str, i: int) -> str:
    import matplotlib.pyplot as plt

    from .plotting import COLORS

    return COLORS.get(name) or plt.get_cmap("tab10")(i % 10)


def _limits(values: np.ndarray, pad: float = 0.12, min_side: float = 0.15) -> tuple[float, float]:
    """Axis limits holding the values and zero, with room on both sides of zero."""
    v = values[np.isfinite(values)]
    lo, hi = (min(0.0, v.min()), max(0.0, v.max())) if v.size else (-0.1, 0.1)
    span = hi - lo if hi > lo else 0.1
    lo, hi = lo - pad * span, hi + pad * span
    lo, hi = min(lo, -min_side * span), max(hi, min_side * span)
    return lo, hi


def _quadrant_frame(ax, xlim, ylim, *, pollutant_label: str = "pollutant", co2_label: str = "CO2"):
    """Shade and label the four quadrants, draw the axes and the ET = 1 line."""
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import PercentFormatter

    (x0, x1), (y0, y1) = xlim, ylim
    boxes = {"III": (x0, y0, 0 - x0, 0 - y0), "I": (0, 0, x1, y1), "II": (x0, 0, -x0, y1), "IV": (0, y0, x1, -y0)}
    anchors = {"III": (x0, y0, "left", "bottom"), "I": (x1, y1, "right", "top"),
               "II": (x0, y1, "left", "top"), "IV": (x1, y0, "right", "bottom")}
    for q, (x, y, w, h) in boxes.items():
        colour, text = _QUAD_STYLE[q]
        ax.add_patch(Rectangle((x, y), w, h, color=colour, zorder=0, lw=0))
        ax_, ay, ha, va = anchors[q]
        ax.annotate(text, (ax_, ay), xytext=(4 if ha == "left" else -4, 4 if va == "bottom" else -4),
                    textcoords="offset points", ha=ha, va=va, fontsize=7, color="#555555", zorder=1)
    ax.axhline(0, color="black", lw=0.8, zorder=1)
    ax.axvline(0, color="black", lw=0.8, zorder=1)
    lo, hi = max(x0, y0), min(x1, y1)
    if hi > lo:
        ax.plot([lo, hi], [lo, hi], ls=":", lw=0.8, color="#777777", zorder=1)
        ax.annotate("ET = 1", (0.6 * lo, 0.6 * lo), xytext=(4, -2), textcoords="offset points", fontsize=7,
                    color="#777777", ha="left", va="top")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel(f"relative change of {pollutant_label}, dP/P")
    ax.set_ylabel(f"relative change of {co2_label}, dC/C")


def plot_coordinates(table: pd.DataFrame, ax, *, pollutant: str, year: int | None = None,
                     path_years: tuple[int, int] | None = PATH_YEARS, color_by: str = "measure",
                     title: str | None = None):
    """The co-control coordinate system for one pollutant.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`synergy_table` (all years wanted on the paths).
    ax : matplotlib.axes.Axes
    pollutant : str
        Which pollutant's x to plot.
    year : int, optional
        Year of the labelled points (default: every row, e.g. when the table
        has no years or holds historical periods).
    path_years : (int, int), optional
        Draw each measure's trajectory over these years as a path (None:
        no paths).
    color_by : {"measure", "city"}
        What the colours tell apart; the other goes into the labels when it
        varies.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    sel = table[table["pollutant"] == pollutant]
    pts = sel if year is None else sel[sel["year"] == year]
    paths = sel.iloc[0:0]
    if path_years is not None and sel["year"].notna().any():
        paths = sel[(sel["year"] >= path_years[0]) & (sel["year"] <= path_years[1])]
    xs = np.concatenate([pts["rel_change_pollutant"].to_numpy(float), paths["rel_change_pollutant"].to_numpy(float)])
    ys = np.concatenate([pts["rel_change_co2"].to_numpy(float), paths["rel_change_co2"].to_numpy(float)])
    basis = set(sel["pollutant_basis"])
    label = f"{pollutant} concentration" if basis == {"concentration"} else pollutant
    scopes = set(sel["note"].astype(str).str.extract(r"CO2 scope (\w+)")[0].dropna()) if "note" in sel else set()
    co2_label = {"total": "CO2 (scope 1+2)", "1": "CO2 (scope 1)", "2": "CO2 (scope 2)"}.get(
        next(iter(scopes)), "CO2") if len(scopes) == 1 else "CO2"
    _quadrant_frame(ax, _limits(xs), _limits(ys), pollutant_label=label, co2_label=co2_label)
    groups = list(pd.unique(sel[color_by]))
    other = "city" if color_by == "measure" else "measure"
    show_other = sel[other].nunique() > 1
    labels = []
    for i, g in enumerate(groups):
        colour = _colour(str(g), i)
        for _, p in paths[paths[color_by] == g].groupby(other, sort=False):
            p = p.sort_values("year")
            if len(p) >= 2:
                ax.plot(p["rel_change_pollutant"], p["rel_change_co2"], "-", color=colour, lw=1.0, alpha=0.6,
                        zorder=2)
                ax.plot(p["rel_change_pollutant"].iloc[:1], p["rel_change_co2"].iloc[:1], "o", mfc="white",
                        color=colour, ms=3, zorder=2)
                end = p[["rel_change_pollutant", "rel_change_co2"]].to_numpy(float)[-2:]
                ax.annotate("", xy=end[1], xytext=end[0], zorder=2,
                            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.0, "mutation_scale": 9})
        gp = pts[pts[color_by] == g]
        ax.plot(gp["rel_change_pollutant"], gp["rel_change_co2"], "o", color=colour, ms=6, zorder=3,
                label=str(g), mec="black", mew=0.5)
        for row in gp.itertuples(index=False):
            if not (np.isfinite(row.rel_change_pollutant) and np.isfinite(row.rel_change_co2)):
                continue
            text = str(g) if not show_other else f"{g} {getattr(row, other)}"
            labels.append(ax.annotate(text, (row.rel_change_pollutant, row.rel_change_co2), xytext=(5, 4),
                                      textcoords="offset points", fontsize=7, color=colour, zorder=4))
    ax.set_title(title or pollutant)
    from .plotting import declutter

    declutter(ax, labels)
    return ax


def plot_interaction_bars(changes: pd.DataFrame, ax, *, year: int | None, combined: str = "combined",
                          singles: Sequence[str] = ("energy_structure", "transport", "buildings"),
                          title: str | None = None):
    """Stacked single-measure changes next to the combined change, per pollutant.

    Bars are relative to the baseline (dimensionless, shown in %); the
    interaction is the gap between the combined bar and the stack.

    Parameters
    ----------
    changes : pandas.DataFrame
        Changes table with ``combined`` and every measure of ``singles``.
    ax : matplotlib.axes.Axes
    year : int or None
        The year (None: the table has no years).
    combined, singles : str, sequence of str
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import PercentFormatter

    sel = (changes if year is None else changes[changes["year"] == year]).copy()
    sel["rel"] = relative_change(sel["before"], sel["after"])
    pols = [p for p in _ordered(sel["pollutant"].unique())]
    pos = np.arange(len(pols))
    w = 0.38
    neg_base, pos_base = np.zeros(len(pols)), np.zeros(len(pols))
    for i, s in enumerate(singles):
        v = sel[sel["measure"] == s].set_index("pollutant")["rel"].reindex(pols).fillna(0.0).to_numpy()
        bottom = np.where(v < 0, neg_base, pos_base)
        ax.bar(pos - w / 2, v, w, bottom=bottom, color=_colour(s, i), label=s, edgecolor="white", lw=0.5)
        neg_base += np.minimum(v, 0)
        pos_base += np.maximum(v, 0)
    vc = sel[sel["measure"] == combined].set_index("pollutant")["rel"].reindex(pols).to_numpy()
    ax.bar(pos + w / 2, vc, w, color=_colour(combined, len(singles)), label=combined, edgecolor="white", lw=0.5)
    for k in range(len(pols)):
        inter = vc[k] - (neg_base[k] + pos_base[k])
        ax.annotate(f"{inter * 100:+.2f} pp", (pos[k], min(vc[k], neg_base[k])), xytext=(0, -10),
                    textcoords="offset points", ha="center", va="top", fontsize=7)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(pos, pols)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_ylabel("change against the baseline")
    lo = min(0.0, np.nanmin(vc), neg_base.min())
    ax.set_ylim(lo * 1.25 if lo < 0 else -0.05, max(0.02, np.nanmax(vc), pos_base.max()) * 1.3)
    when = "" if year is None else f"{year}: "
    ax.set_title(title or f"{when}singles stacked (left) vs {combined} (right); label = interaction")
    return ax


def plot_interaction_lines(inter: pd.DataFrame, ax, *, title: str | None = None):
    """Interaction over the years, one line per pollutant, in % of the baseline.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import PercentFormatter

    for pol in _ordered(inter["pollutant"].unique()):
        d = inter[inter["pollutant"] == pol].sort_values("year")
        ax.plot(d["year"].astype(float), d["rel_interaction"], lw=1.4 if pol in (CO2, APE) else 1.0,
                ls="-" if pol in (CO2, APE) else "--", label=pol)
    ax.axhline(0, color="black", lw=0.8)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=1))
    ax.set_ylabel("interaction, % of baseline\n(< 0: reinforcing, > 0: counteracting)")
    ax.set_title(title or "interaction = d combined - sum of d single")
    return ax


def plot_ensemble(cloud: EnsembleCloud, ax, *, color: str | None = None, label: str | None = None,
                  frame: bool = True):
    """Draw an ensemble's points, their mean and the uncertainty ellipse.

    Parameters
    ----------
    cloud : EnsembleCloud
    ax : matplotlib.axes.Axes
    color, label : str, optional
    frame : bool
        Draw the shaded quadrants and axes around the cloud.

    Returns
    -------
    matplotlib.axes.Axes
    """
    color = color or _colour(cloud.scenario, 0)
    pts = cloud.points[["rel_change_pollutant", "rel_change_co2"]].to_numpy(float)
    ell = cloud.ellipse()
    if frame:
        _quadrant_frame(ax, _limits(np.concatenate([pts[:, 0], ell[:, 0]])),
                        _limits(np.concatenate([pts[:, 1], ell[:, 1]])), pollutant_label=cloud.pollutant)
    ax.plot(pts[:, 0], pts[:, 1], ".", ms=2, alpha=0.4, color=color, zorder=2)
    ax.plot(ell[:, 0], ell[:, 1], "-", lw=1.2, color=color, zorder=3,
            label=f"{label or cloud.scenario}: {cloud.level:.0%} ellipse")
    ax.plot(*cloud.mean, "o", color=color, mec="black", ms=6, zorder=4)
    return ax


# ---------------------------------------------------------------------------- helpers


def _read_csv(path: Path) -> pd.DataFrame:
    from .io import read_csv_table

    return read_csv_table(path, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True)


def _check_columns(df: pd.DataFrame, path: Path, required: Sequence[str], optional: Sequence[str]) -> None:
    df.columns = [str(c).strip() for c in df.columns]
    allowed = f"required: {', '.join(required)}" + (f"; optional: {', '.join(optional)}" if optional else "")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserInputError(f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; {allowed}")
    unknown = [c for c in df.columns if c not in (*required, *optional)]
    if unknown:
        raise UserInputError(f"{path}: unknown column(s) {', '.join(repr(c) for c in unknown)}; {allowed}")


def _normalise(name) -> str:
    text = "" if pd.isna(name) else str(name).strip()
    return _ALIASES.get(text.lower(), text)


def _where(row) -> str:
    bits = []
    if isinstance(row.get("city"), str) and row.get("city"):
        bits.append(f"city {row['city']!r}")
    if not pd.isna(row.get("year")):
        bits.append(f"year {int(row['year'])}")
    return f" ({', '.join(bits)})" if bits else ""


def _keys(changes: pd.DataFrame) -> list[str]:
    """Group keys of a changes table: city, measure, year and any extra id column (e.g. run)."""
    extra = [c for c in changes.columns if c not in CHANGE_COLUMNS and c not in SYNERGY_COLUMNS]
    return ["city", "measure", "year", *extra]


def _ordered(pollutants) -> list[str]:
    pols = list(pollutants)
    return sorted(pols, key=lambda p: (_ORDER.index(p) if p in _ORDER else len(_ORDER), pols.index(p)))


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    """Stable order: city and measure as first seen, pollutant in the house order, then year."""
    rank = {c: {v: i for i, v in enumerate(pd.unique(df[c]))} for c in ("city", "measure")}
    prank = {p: i for i, p in enumerate(_ordered(pd.unique(df["pollutant"])))}

    def key(s):
        if s.name in rank:
            return s.map(rank[s.name])
        if s.name == "pollutant":
            return s.map(prank)
        return s

    cols = ["city", "measure", "pollutant", "year"]
    return df.sort_values(cols, key=key, kind="stable", na_position="first").reset_index(drop=True)
