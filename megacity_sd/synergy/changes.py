"""The changes table: model runs against a baseline, a user's table of measures, or history; pollution equivalents."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import DATA_DIR, observed
from ..errors import UserInputError

__all__ = [
    "SYNERGY_COLUMNS",
    "CO2",
    "APE",
    "POLLUTANTS",
    "MODEL_VARIABLES",
    "CO2_SCOPES",
    "HISTORY_VARIABLES",
    "WEIGHTS_PATH",
    "DEFAULT_PERIODS",
    "load_weights",
    "add_equivalent",
    "model_changes",
    "read_measures",
    "parse_periods",
    "history_changes",
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


# the concentration series of history.csv end in 2017, so the second default period ends there
DEFAULT_PERIODS = ((2012, 2015), (2014, 2017))


CHANGE_COLUMNS = ["city", "measure", "pollutant", "year", "unit", "before", "after", "pollutant_basis", "note"]
SYNERGY_COLUMNS = ["city", "measure", "pollutant", "year", "rel_change_pollutant", "rel_change_co2",
                   "elasticity", "quadrant", "pollutant_basis", "zero_baseline", "note"]


TABLE_COLUMNS = ("measure", "pollutant", "before", "after")


TABLE_OPTIONAL = ("city", "year", "unit")


_ORDER = (CO2, "SO2", "NOx", "NO2", "PM10", "PM2.5", APE)


_ALIASES = {"co2": CO2, "so2": "SO2", "nox": "NOx", "no2": "NO2", "pm10": "PM10", "pm2.5": "PM2.5",
            "pm25": "PM2.5", "pm_2.5": "PM2.5", "ape": APE}


_KG = {"t/year": 1000.0, "t": 1000.0, "kg/year": 1.0, "kg": 1.0}


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
        bad = (df["year"].notna() & num.isna()) | (num.notna() & ((num.round() - num).abs().gt(0)
                                                                   | ~num.between(1000, 9999)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UserInputError(f"{path}: column 'year', line {i + 2}: {df['year'].iloc[i]!r} is not a year; "
                                 "allowed: an integer year from 1000 to 9999, or empty")
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


def parse_periods(text: str, *, name: str = "periods") -> tuple[tuple[int, int], ...]:
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
            raise UserInputError(f"{name}: {part.strip()!r} is not allowed; allowed: START-END with "
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
        :func:`megacity_sd.data.observed`: ``history.csv`` with the PM2.5 of the environment bulletins).

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
    data = observed() if data is None else data
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
                raise UserInputError(f"period {start}-{end}: history.csv has no CO2 or air-quality data for "
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
                note = f"no {var} for {' and '.join(missing)} in the project's data" if missing else ""
                rows.append({"city": city, "measure": f"{start}-{end}", "pollutant": pol, "year": end,
                             "unit": unit, "before": float(s.get(start, np.nan)), "after": float(s.get(end, np.nan)),
                             "pollutant_basis": basis, "note": note})
    out = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    out["year"] = out["year"].astype("Int64")
    return _sort(out)


def _read_csv(path: Path) -> pd.DataFrame:
    from ..io import read_csv_table

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
