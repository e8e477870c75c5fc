"""The identities decomposed: emissions as products of factors, from the model's own sector and fuel variables or from
the CEADs provincial inventories by sector and fuel with NBS population and GDP."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .lmdi import _REL_TOL
from .pollutants import POLLUTANTS

__all__ = [
    "FACTORS",
    "FACTOR_UNITS",
    "POLLUTANTS",
    "Identity",
    "model_constants",
    "model_identity",
    "history_cities",
    "history_years",
    "history_identity",
]


#: Factors in the order they are reported, with what each one is.
FACTORS = {
    "population": "resident population P",
    "gdp_per_capita": "GDP per capita G/P (constant 2005 yuan)",
    "structure": "share of the sector's activity in GDP (secondary GDP for industry, tertiary GDP for services; "
                 "1 for power, buildings and transport, whose activity is GDP)",
    "energy_intensity": "final energy of the sector per unit of its activity (power: electricity demand, "
                        "construction dust: floor area built, per unit GDP)",
    "fuel_mix": "fuel use per unit of the sector's final energy (power: fuel input of local plants, or imports at "
                "the grid factor, per unit of electricity demand)",
    "emission_factor": "emissions per unit of fuel (process CO2 per unit industrial energy, process PM per unit "
                       "secondary GDP, dust per m2 built)",
    "capture": "net / gross CO2 (1 - CCS coverage * capture rate)",
    "end_of_pipe": "1 - end-of-pipe removal (stationary sources); vehicle emission or fuel sulfur multiplier "
                   "(vehicles)",
    "carbon_intensity": "CO2 per unit GDP of a sector or fuel (history: structure, energy intensity, fuel mix, "
                        "emission factor and capture together)",
    "per_capita_emissions": "CO2 per person of a sector or fuel (history links without constant-price GDP: GDP per "
                            "capita and carbon intensity together)",
}


#: Units of the factors (the emission factor's unit depends on the pollutant and the term).
FACTOR_UNITS = {
    "population": "person", "gdp_per_capita": "yuan/(person*Year)", "structure": "dmnl",
    "energy_intensity": "tce/yuan", "fuel_mix": "dmnl", "emission_factor": "tCO2/tce or t/tce",
    "capture": "dmnl", "end_of_pipe": "dmnl", "carbon_intensity": "tCO2/yuan", "per_capita_emissions": "tCO2/person",
}


@dataclass
class Identity:
    """An emission aggregate written as a sum of products of factors, year by year.

    Attributes
    ----------
    pollutant, unit : str
        e.g. ``CO2``, ``tCO2/Year``.
    factors : pandas.DataFrame
        Index (year, term), one column per factor; NaN where a factor is not
        available in a year (it is then merged per :attr:`combine`).
    values : pandas.Series
        Index (year, term): the term's emissions V_i (product of its factors).
    terms : pandas.DataFrame
        Index term; columns ``sector``, ``fuel``.
    total : pandas.Series
        Index year: the published or modelled total that the terms reproduce.
    combine : dict of str to tuple of str
        A combined factor and the factors it stands for in a step where one
        of them is missing.
    notes : list of str
        What the identity could not separate, and its caveats.
    """

    pollutant: str
    unit: str
    factors: pd.DataFrame
    values: pd.Series
    terms: pd.DataFrame
    total: pd.Series
    combine: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def years(self) -> list[int]:
        """Years of the identity."""
        return sorted(int(y) for y in self.total.index)

    def state(self, year: int) -> tuple[pd.DataFrame, pd.Series]:
        """Factors (term x factor) and term values of one year."""
        return self.factors.xs(year, level="year"), self.values.xs(year, level="year")


def _check_identity(ident: Identity, what: str) -> Identity:
    prod = ident.factors.prod(axis=1, skipna=False)
    ok = prod.notna()
    gap = (prod[ok] - ident.values[ok]).abs()
    scale = ident.values.abs().groupby(level="year").transform("sum")[ok].replace(0, 1.0)
    worst = float(np.max((gap / scale).to_numpy(), initial=0.0))
    if worst > _REL_TOL:
        raise ValueError(f"{what}: the factors do not multiply to the term values (max relative gap {worst:.2e})")
    summed = ident.values.groupby(level="year").sum()
    rel = ((summed - ident.total).abs() / ident.total.abs().replace(0, 1.0)).max()
    if rel > _REL_TOL:
        raise ValueError(f"{what}: the terms do not sum to the total (max relative gap {rel:.2e}); the model's "
                         "equations may have changed: update megacity_sd.decompose")
    return ident


def _frame(rows: list[tuple[str, str, dict[str, pd.Series]]], years, columns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sector, fuel, {factor: series by year}) rows -> factors indexed (year, term), and the term table."""
    blocks, info = [], []
    for sector, fuel, facs in rows:
        term = f"{sector}/{fuel}" if fuel else sector
        df = pd.DataFrame({c: np.asarray(facs.get(c, 1.0) * np.ones(len(years)), dtype=float) for c in columns},
                          index=pd.Index(years, name="year"))
        df["term"] = term
        blocks.append(df)
        info.append({"term": term, "sector": sector, "fuel": fuel or "all"})
    factors = pd.concat(blocks).reset_index().set_index(["year", "term"]).sort_index()
    terms = pd.DataFrame(info).set_index("term")
    return factors[list(columns)], terms


def model_constants(constants: dict[str, float] | None = None) -> dict[str, float]:
    """The model's constants with overrides applied, keyed by canonical name.

    Parameters
    ----------
    constants : dict of str to float, optional
        Overrides, e.g. ``Scenario.constants``.
    """
    from ..model import canonical, model_doc

    out = {k: float(v.value) for k, v in model_doc().items() if v.kind == "constant" and v.value is not None}
    for k, v in (constants or {}).items():
        out[canonical(k)] = float(v)
    return out


def _ratio(num: pd.Series, den: pd.Series, empty: float = 0.0) -> pd.Series:
    num, den = num.astype(float), den.astype(float)
    return pd.Series(np.divide(num, den, out=np.full(len(num), empty), where=den.to_numpy() != 0), index=num.index)


def _model_rows(w: pd.DataFrame, c: dict[str, float], pollutant: str, scope: str):
    """Terms of the full breakdown: (sector, fuel, factors) with the factors of ``FACTORS``."""
    from ..model import canonical

    k = {name: c[canonical(name)] for name in (
        "electricity calorific factor", "coal CO2 factor", "oil CO2 factor", "gas CO2 factor",
        "aviation and shipping in scope 1", "coal SO2 factor", "oil SO2 factor", "vehicle SO2 factor",
        "coal NOx factor", "oil NOx factor", "gas NOx factor", "gasoline NOx factor", "diesel NOx factor",
        "CNG NOx factor", "coal PM factor", "oil PM factor", "diesel PM factor", "process PM intensity",
        "construction dust factor")}
    cal = k["electricity calorific factor"]
    P, G = w["Population"], w["GDP"]
    activity = {"power": G, "industry": w["secondary GDP"], "services": w["tertiary GDP"], "buildings": G,
                "transport": G}
    energy = {
        "power": w["electricity demand"] * cal,
        "industry": w["industry final energy"],
        "services": w["services final energy"],
        "buildings": w["buildings final energy"],
        "transport": w["transport oil use"] + w["transport gas use"] + w["transport electricity use"] * cal
        + w["transport hydrogen use"],
    }
    fuel_use = {
        ("power", "coal"): w["coal for power"], ("power", "gas"): w["gas for power"],
        ("industry", "coal"): w["industry coal use"], ("industry", "oil"): w["industry oil use"],
        ("industry", "gas"): w["industry gas use"] + w["hydrogen reforming gas use"],
        ("services", "oil"): w["services oil use"], ("services", "gas"): w["services gas use"],
        ("buildings", "coal"): w["buildings coal use"], ("buildings", "gas"): w["buildings gas use"],
        ("transport", "gasoline"): w["ICE car fuel use"],
        ("transport", "diesel"): w["diesel bus fuel use"] + w["diesel truck fuel use"],
        ("transport", "gas"): w["CNG bus fuel use"],
    }
    one = pd.Series(1.0, index=w.index)
    vehicle = w["vehicle emission multiplier"]
    if pollutant == "CO2":
        kind = {"coal": k["coal CO2 factor"], "oil": k["oil CO2 factor"], "gasoline": k["oil CO2 factor"],
                "diesel": k["oil CO2 factor"], "gas": k["gas CO2 factor"]}
        power_gross = w["power coal CO2"] + w["power gas CO2"]
        ind_gross = w["industry fossil CO2"] + w["process CO2 gross"]
        capture = {"power": 1.0 - _ratio(w["power CO2 captured"], power_gross),
                   "industry": 1.0 - _ratio(w["industry CO2 captured"], ind_gross)}
        coef = {}
        for (s, f) in fuel_use:
            ef = kind[f] * (k["aviation and shipping in scope 1"] if (s, f) == ("services", "oil") else 1.0)
            coef[(s, f)] = {"emission_factor": one * ef, "capture": capture.get(s, one)}
        extra = {("industry", "process"): {"energy_intensity": energy["industry"] / activity["industry"],
                                           "fuel_mix": one,
                                           "emission_factor": _ratio(w["process CO2 gross"], energy["industry"]),
                                           "capture": capture["industry"]}}
        if scope == "total":
            fuel_use[("power", "imports")] = w["imports at grid factor"] * cal
            coef[("power", "imports")] = {"emission_factor": w["grid emission factor"] / cal, "capture": one}
    else:
        stationary = {"SO2": 1.0 - w["SO2 removal"], "NOx": 1.0 - w["NOx removal"],
                      "PM25": 1.0 - w["PM removal"]}[pollutant]
        vehicles = {"SO2": w["fuel sulfur multiplier"].clip(lower=0.0), "NOx": vehicle, "PM25": vehicle}[pollutant]
        factors = {
            "SO2": {"coal": k["coal SO2 factor"], "oil": k["oil SO2 factor"], "gasoline": k["vehicle SO2 factor"],
                    "diesel": k["vehicle SO2 factor"]},
            "NOx": {"coal": k["coal NOx factor"], "oil": k["oil NOx factor"], "gas": k["gas NOx factor"],
                    "gasoline": k["gasoline NOx factor"], "diesel": k["diesel NOx factor"],
                    "transport gas": k["CNG NOx factor"]},
            "PM25": {"coal": k["coal PM factor"], "oil": k["oil PM factor"], "diesel": k["diesel PM factor"]},
        }[pollutant]
        coef = {}
        for (s, f) in fuel_use:
            key = "transport gas" if (s, f) == ("transport", "gas") else f
            if key not in factors:
                continue  # this fuel emits none of the pollutant in the model
            coef[(s, f)] = {"emission_factor": one * factors[key],
                            "end_of_pipe": vehicles if s == "transport" else stationary}
        extra = {}
        if pollutant == "PM25":
            extra[("industry", "process")] = {"energy_intensity": one, "fuel_mix": one,
                                              "emission_factor": one * k["process PM intensity"],
                                              "end_of_pipe": stationary}
            extra[("buildings", "construction")] = {"energy_intensity": w["construction"] / G, "fuel_mix": one,
                                                    "emission_factor": one * k["construction dust factor"],
                                                    "end_of_pipe": one}
    rows = []
    for (s, f), cf in coef.items():
        rows.append((s, f, {"population": P, "gdp_per_capita": G / P, "structure": activity[s] / G,
                            "energy_intensity": energy[s] / activity[s],
                            "fuel_mix": _ratio(fuel_use[(s, f)], energy[s]), **cf}))
    for (s, f), cf in extra.items():
        rows.append((s, f, {"population": P, "gdp_per_capita": G / P, "structure": activity[s] / G, **cf}))
    order = ["power", "industry", "services", "buildings", "transport"]
    rows.sort(key=lambda r: order.index(r[0]))
    return rows


_MODEL_SECTORS = {"power_heat": "CO2 power and heat", "industry": "CO2 industry", "transport": "CO2 transport",
                  "buildings": "CO2 buildings and households"}


def model_identity(wide: pd.DataFrame, constants: dict[str, float] | None = None, *, pollutant: str = "CO2",
                   breakdown: str = "full", scope: str = "1") -> Identity:
    """Write a model run's emissions as an LMDI identity.

    Parameters
    ----------
    wide : pandas.DataFrame
        A run (:func:`megacity_sd.simulate.run`): years x model variables.
    constants : dict of str to float, optional
        The run's constant overrides (``Scenario.constants``); the model's
        defaults otherwise. The emission factors are constants.
    pollutant : {"CO2", "SO2", "NOx", "PM25"}
    breakdown : {"full", "sector"}
        ``full``: sectors x fuels with every factor of :data:`FACTORS` the
        model defines (power, industry, services, buildings, transport x
        coal, oil, gasoline, diesel, gas, plus process and construction terms).
        ``sector`` (CO2 only): the model's four CEADs-convention sector totals
        (``CO2 power and heat`` ...) with population, GDP per capita and carbon
        intensity, i.e. the identity that history supports.
    scope : {"1", "total"}
        CO2 only. ``1``: territorial ``CO2 emissions`` (as CEADs); ``total``:
        ``CO2 scope 1 and 2``, with imported electricity at the grid factor as a
        power term.

    Returns
    -------
    Identity
        Whose terms sum to the model's pollutant variable in every year
        (checked to a relative 1e-9).
    """
    if pollutant not in POLLUTANTS:
        raise ValueError(f"pollutant must be one of {tuple(POLLUTANTS)}, not {pollutant!r}")
    if breakdown not in ("full", "sector"):
        raise ValueError(f"breakdown must be 'full' or 'sector' for model runs, not {breakdown!r}")
    if scope not in ("1", "total"):
        raise ValueError(f"scope must be '1' or 'total', not {scope!r}")
    if pollutant != "CO2" and (breakdown != "full" or scope != "1"):
        raise ValueError("breakdown 'sector' and scope 'total' are defined for CO2 only")
    c = model_constants(constants)
    years = [int(y) for y in wide.index]
    variable, unit = POLLUTANTS[pollutant]
    total = wide["CO2 scope 1 and 2"] if scope == "total" else wide[variable]
    notes = []
    if breakdown == "sector":
        P, G = wide["Population"], wide["GDP"]
        rows = [(s, "", {"population": P, "gdp_per_capita": G / P, "carbon_intensity": wide[v] / G})
                for s, v in _MODEL_SECTORS.items()]
        factors, terms = _frame(rows, years, ["population", "gdp_per_capita", "carbon_intensity"])
        notes.append("model, breakdown 'sector': the model's CEADs-convention sector CO2 (net of capture) with "
                     "population, GDP per capita and carbon intensity only, as on history")
    else:
        rows = _model_rows(wide, c, pollutant, scope)
        cols = ["population", "gdp_per_capita", "structure", "energy_intensity", "fuel_mix", "emission_factor",
                "capture" if pollutant == "CO2" else "end_of_pipe"]
        factors, terms = _frame(rows, years, cols)
        notes.append(
            "model, breakdown 'full': activity = secondary GDP (industry), tertiary GDP (services), GDP (power, "
            "buildings, transport; structure = 1); energy = final energy of the sector (power: electricity demand); "
            "industry gas includes gas reformed to hydrogen; fuel shares are shares of final energy including "
            "electricity, so electrification shows as a lower fuel_mix of the fossil fuel and a higher "
            "energy_intensity of power (electricity demand per unit GDP)")
        if pollutant == "CO2":
            notes.append("capture is a factor (net/gross CO2 of power and of industry, fossil and process), not a "
                         "negative term; process CO2 enters as an industry term whose emission factor is process CO2 "
                         "per unit of industrial final energy")
            notes.append("CO2 scope 1 and 2 (imports at the grid factor as a power term)" if scope == "total" else
                         "CO2 is territorial scope 1 ('CO2 emissions', as CEADs): imported electricity carries no CO2 "
                         "here and shows as a lower fuel_mix of power (use scope 'total' to count it)")
        else:
            vehicles = "fuel sulfur multiplier" if pollutant == "SO2" else "vehicle emission multiplier"
            notes.append(f"{pollutant}: end_of_pipe = 1 - {pollutant.replace('25', '')} removal for stationary "
                         f"sources, the {vehicles} for vehicles")
    values = factors.prod(axis=1)
    return _check_identity(Identity(pollutant, unit, factors, values, terms, total.astype(float),
                                    notes=notes), f"model identity of {pollutant}")


_HISTORY_SECTORS = ("power_heat", "industry", "transport", "buildings")


_HISTORY_FUELS = ("coal", "oil", "gas", "process")


def history_cities() -> list[str]:
    """Cities with CEADs CO2 by sector and by fuel on file (the three provinces)."""
    from ..data import table

    df = table("calibration_series")
    have = [set(df.loc[df["variable"] == f"co2_{s}", "city"]) for s in _HISTORY_SECTORS + _HISTORY_FUELS]
    return sorted(set.intersection(*have))


def _history_series(city: str) -> dict[str, pd.Series]:
    from ..data import history, table

    def series(df):
        return df.set_index("year")["value"].astype(float).sort_index()

    out = {f"co2_{v}": series(table("calibration_series", city, f"co2_{v}"))
           for v in _HISTORY_SECTORS + _HISTORY_FUELS}
    out["gdp"] = series(table("calibration_series", city, "gdp"))
    out["population"] = series(history(city, "population"))
    return out


def history_years(city: str) -> list[int]:
    """Years with CO2 by sector and fuel and population on file for ``city``."""
    s = _history_series(city)
    keys = [f"co2_{v}" for v in _HISTORY_SECTORS + _HISTORY_FUELS] + ["population"]
    common = set.intersection(*(set(int(y) for y in s[k].index) for k in keys))
    return sorted(common)


def history_identity(city: str, *, breakdown: str = "sector") -> Identity:
    """CO2 history (CEADs provincial inventory) as an LMDI identity.

    ``CO2 = sum_s P * (G/P) * (C_s/G)``: population (NBS year-end residents),
    GDP per capita (constant 2005 yuan, national deflator) and the carbon
    intensity of GDP of each sector (or fuel group). Where constant-price GDP
    is missing (Beijing and Tianjin after 2017), a step uses
    ``per_capita_emissions`` = C_s/P in place of GDP per capita and carbon
    intensity.

    Parameters
    ----------
    city : str
        One of :func:`history_cities`.
    breakdown : {"sector", "fuel"}
        CEADs sectors (power and heat, industry, transport, buildings and
        households) or fuel groups (coal, oil, gas, cement process).

    Returns
    -------
    Identity
        Terms sum to the inventory's total (sum of the sectors or fuel
        groups; they agree within 2 t).
    """
    if breakdown not in ("sector", "fuel"):
        raise ValueError(f"breakdown must be 'sector' or 'fuel' on history, not {breakdown!r}")
    s = _history_series(city)
    years = history_years(city)
    if not years:
        raise ValueError(f"no CO2 inventory by sector and fuel on file for {city!r}; allowed: "
                         f"{', '.join(history_cities())}")
    idx = pd.Index(years, name="year")
    P = s["population"].reindex(idx)
    G = s["gdp"].reindex(idx)  # NaN where constant-price GDP is not on file
    names = _HISTORY_SECTORS if breakdown == "sector" else _HISTORY_FUELS
    rows = [(n, "", {"population": P, "gdp_per_capita": G / P, "carbon_intensity": s[f"co2_{n}"].reindex(idx) / G})
            for n in names]
    factors, terms = _frame(rows, years, ["population", "gdp_per_capita", "carbon_intensity"])
    if breakdown == "fuel":
        terms = terms.rename(columns={"sector": "fuel", "fuel": "sector"})[["sector", "fuel"]]
    values = pd.concat({n: s[f"co2_{n}"].reindex(idx) for n in names}, names=["term"]).swaplevel().sort_index()
    values.index = values.index.set_names(["year", "term"])
    total = values.groupby(level="year").sum()
    missing_gdp = [y for y in years if pd.isna(G.loc[y])]
    notes = [
        "history: CO2 is the CEADs provincial inventory (Shan et al. 2018, 2020; Guan et al. 2021), territorial "
        f"scope 1, by {'sector' if breakdown == 'sector' else 'fuel group'}; GDP at constant 2005 prices deflated by "
        "the national GDP deflator (calibration_series.csv); population NBS year-end residents",
        "not separated on history: economic structure, energy intensity, fuel mix, emission factor and capture are "
        "one factor, carbon_intensity (CO2 per unit GDP of each "
        f"{'sector' if breakdown == 'sector' else 'fuel group'}): no energy use by sector or fuel and no GDP by "
        "sector is on file",
    ]
    if breakdown == "sector":
        notes.append("CEADs sectors: private-car fuel is in buildings and households, aviation and shipping in "
                     "transport, cement process CO2 in industry; power and heat is plants in the province (imports "
                     "carry no CO2)")
    if missing_gdp:
        notes.append(f"no constant-price GDP on file for {', '.join(map(str, missing_gdp))} (vintage break after the "
                     "2018 economic census): steps touching those years use per_capita_emissions (GDP per capita and "
                     "carbon intensity not separated)")
    ident = Identity("CO2", "tCO2/Year", factors, values, terms, total,
                     combine={"per_capita_emissions": ("gdp_per_capita", "carbon_intensity")}, notes=notes)
    return _check_identity(ident, f"history identity of {city}")
