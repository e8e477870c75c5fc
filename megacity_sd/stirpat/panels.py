"""The panels STIRPAT is fitted on: the cities' history, the OWID cross-national panel, the published estimates."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from ..data import DATA_DIR, history
from .fit import StirpatFit, fit_stirpat

__all__ = [
    "YORK_2003_NOTE",
    "GDP_VINTAGE_BREAK",
    "load_owid_panel",
    "load_literature",
    "owid_check",
    "history_panel",
    "fit_history",
]


YORK_2003_NOTE = ("York, Rosa & Dietz (2003) report a population elasticity of CO2 indistinguishable from 1 "
                  "across nations (abstract; their numeric table is not on file)")
#: First year of the final-GDP vintage where the history file has a vintage
#: break in current-price GDP (megacity_sd/data/README.md): later years are
#: left out of the historical fit.
GDP_VINTAGE_BREAK = {"beijing": 2018, "tianjin": 2018}


@lru_cache(maxsize=1)
def _owid() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "owid_stirpat_panel.csv")


def load_owid_panel() -> pd.DataFrame:
    """The OWID country panel shipped with the package, with derived drivers.

    Returns
    -------
    pandas.DataFrame
        ``country, iso_code, year, co2`` (Mt CO2), ``population`` (person),
        ``gdp`` (international $ of 2011, Maddison), ``primary_energy_consumption``
        (TWh, BP), ``source``; derived ``gdp_per_capita`` ($/person) and
        ``energy_intensity`` (TWh per $). Years 1991, 1996, ..., 2016 (five-year
        waves; 2016 is the last year with all four series); countries with an
        ISO code only (no aggregates). See ``megacity_sd/data/stirpat_data.md``.
    """
    df = _owid().copy()
    df["gdp_per_capita"] = df["gdp"] / df["population"]
    df["energy_intensity"] = df["primary_energy_consumption"] / df["gdp"]
    return df


def load_literature() -> pd.DataFrame:
    """Published STIRPAT estimates with numeric coefficients (``stirpat_literature.csv``).

    Columns ``study_id, citation, where_read, scope, period, dependent,
    method, regressor, term, coefficient, t_or_se, significance, notes``;
    ``term`` maps the regressor to this module's driver names where it is one.
    """
    return pd.read_csv(DATA_DIR / "stirpat_literature.csv", keep_default_na=False)


def _literature_se(coef: float, t_or_se: str) -> float:
    m = re.search(r"SE=\s*([-0-9.]+)", t_or_se)
    if m:
        return float(m.group(1))
    m = re.search(r"t=\s*([-0-9.]+)", t_or_se)
    if m and float(m.group(1)) != 0:
        return abs(coef / float(m.group(1)))
    return float("nan")


def owid_check(alpha: float = 0.05) -> pd.DataFrame:
    """The OWID cross-national fits next to the published estimates.

    Three fits on the OWID panel (:func:`load_owid_panel`), all OLS on logs:

    * ``OWID P,A`` - ln CO2 on ln population and ln GDP per capita with year
      effects, pooled over the six waves 1991-2016, standard errors clustered
      by country (the specification closest to York, Rosa & Dietz 2003);
    * ``OWID P,A,T`` - the same plus ln primary energy per GDP;
    * ``OWID P,A,A2 1996`` - the 1996 cross-section with a squared log
      affluence term (Dietz & Rosa 1997; York et al. 2003 used ~1996 data),
      HC1 standard errors.

    Literature rows come from ``stirpat_literature.csv`` (terms population,
    GDP per capita, energy intensity); their intervals are normal
    approximations from the printed t or SE.

    Returns
    -------
    pandas.DataFrame
        ``source, study, scope, period, method, dependent, term, estimate,
        ci_low, ci_high, note``.
    """
    panel = load_owid_panel()
    src = "megacity_sd/data/owid_stirpat_panel.csv"
    specs = [("OWID P,A", ["population", "gdp_per_capita"], dict(time_effects=True, cov_type="cluster",
                                                                  cluster_by="iso_code"), panel),
             ("OWID P,A,T", ["population", "gdp_per_capita", "energy_intensity"],
              dict(time_effects=True, cov_type="cluster", cluster_by="iso_code"), panel),
             ("OWID P,A,A2 1996", ["population", "gdp_per_capita"], dict(ekc="gdp_per_capita", cov_type="HC1"),
              panel[panel["year"] == 1996])]
    rows = []
    for name, drivers, kw, df in specs:
        fit = fit_stirpat(df, "co2", drivers, alpha=alpha, source=src, **kw)
        n_c = df["iso_code"].nunique()
        years = f"{df['year'].min()}-{df['year'].max()}" if df["year"].nunique() > 1 else str(df["year"].iloc[0])
        for r in fit.table().itertuples(index=False):
            if r.term == "const":
                continue
            rows.append(dict(source="this project", study=name, scope=f"{n_c} countries", period=years,
                             method=f"OLS, {fit.cov_type} s.e." + (", year effects" if fit.time_effects else ""),
                             dependent="ln CO2 (Mt, GCP)", term=r.term.removeprefix("ln_"), estimate=r.estimate,
                             ci_low=r.ci_low, ci_high=r.ci_high, note=f"n={fit.nobs}"))
    lit = load_literature()
    z = stats.norm.ppf(1 - alpha / 2)
    for r in lit[lit["term"].isin(["population", "gdp_per_capita", "energy_intensity"])].itertuples(index=False):
        coef = float(r.coefficient)
        se = _literature_se(coef, r.t_or_se)
        rows.append(dict(source="literature", study=r.study_id, scope=r.scope, period=r.period, method=r.method,
                         dependent=r.dependent, term=r.term, estimate=coef, ci_low=coef - z * se,
                         ci_high=coef + z * se, note=f"{r.t_or_se}; interval approximated from the printed t or SE"))
    rows.append(dict(source="literature", study="york2003", scope="cross-national", period="~1996",
                     method="OLS", dependent="ln CO2", term="population", estimate=np.nan, ci_low=np.nan,
                     ci_high=np.nan, note=YORK_2003_NOTE))
    return pd.DataFrame(rows)


def history_panel() -> tuple[pd.DataFrame, list[str]]:
    """City-year table of the historical STIRPAT variables.

    Returns
    -------
    panel : pandas.DataFrame
        ``city, year, co2`` (tCO2/Year, CEADs), ``population`` (person,
        year-end resident), ``gdp_per_capita`` (yuan/person at *current*
        prices), rows where all three exist, without the years after a GDP
        vintage break (:data:`GDP_VINTAGE_BREAK`).
    notes : list of str
        Which cities and years are in and why the others are not.
    """
    hist = history()
    wide = hist[hist["variable"].isin(["co2", "population", "gdp_current"])].pivot_table(
        index=["city", "year"], columns="variable", values="value").reset_index()
    all_cities = sorted(hist["city"].unique())
    wide = wide.dropna(subset=[c for c in ("co2", "population", "gdp_current") if c in wide.columns])
    notes = []
    dropped = []
    for city, first in GDP_VINTAGE_BREAK.items():
        sel = (wide["city"] == city) & (wide["year"] >= first)
        if sel.any():
            dropped.append(f"{city} {first}-{int(wide.loc[sel, 'year'].max())}")
        wide = wide[~sel]
    if dropped:
        notes.append("left out after the 2017/2018 GDP vintage break: " + ", ".join(dropped))
    missing = [c for c in all_cities if c not in set(wide["city"])]
    if missing:
        notes.append(f"no year with CO2, resident population and GDP together for {', '.join(missing)} "
                     "(history.csv), so they are not in the fit")
    wide["gdp_per_capita"] = wide["gdp_current"] / wide["population"]
    panel = wide[["city", "year", "co2", "population", "gdp_per_capita"]].reset_index(drop=True)
    panel["year"] = panel["year"].astype(int)
    return panel, notes


def fit_history(alpha: float = 0.05, maxlags: int = 2) -> StirpatFit:
    """STIRPAT fitted on the cities' history: ln CO2 on ln P and ln A.

    City and year fixed effects, OLS, Newey-West standard errors within each
    city (``hac-panel``, ``maxlags`` lags). GDP is at current prices and no
    deflator is on file: with year effects, a price level common to the
    cities in a year is absorbed (ln A_nominal = ln A_real + ln D_t), so the
    slope on ln A is the elasticity with respect to real GDP per capita,
    provided the cities share one deflator. The price is that the year
    effects also absorb everything else common to the cities in a year
    (national technical change, energy mix, policy): the fit identifies how
    CO2 responds to a city's P and A moving relative to the others, not the
    common trend. Energy intensity is not in the history (no city energy
    data), so T cannot be estimated; its movements correlated with P and A
    load onto their slopes.
    """
    panel, notes = history_panel()
    fit = fit_stirpat(panel, "co2", ["population", "gdp_per_capita"], entity="city", time="year",
                      time_effects=True, cov_type="hac-panel", maxlags=maxlags, alpha=alpha,
                      source="megacity_sd/data/history.csv")
    fit.notes += notes + [
        "GDP at current prices; year effects absorb a deflator common to the cities, so ln A acts as real",
        "year effects also absorb the common trend (national technology, energy mix): not identified",
        "energy intensity (T) not identifiable: no city energy data in history.csv",
    ]
    return fit
