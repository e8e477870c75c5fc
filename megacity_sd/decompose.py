"""LMDI decomposition: which drivers made emissions change.

The log-mean Divisia index method I (LMDI-I; Ang 2004, Energy Policy
32:1131; Ang 2005, Energy Policy 33:867, "The LMDI approach to decomposition
analysis: a practical guide") splits the change of an aggregate

    V = sum_i V_i,    V_i = x_1,i * x_2,i * ... * x_n,i

between two states 0 and T into one effect per factor k:

* additive:        dV_k = sum_i L(V_i^T, V_i^0) ln(x_k,i^T / x_k,i^0),
  and sum_k dV_k = V^T - V^0 exactly;
* multiplicative:  D_k = exp(dV_k / L(V^T, V^0)),
  and prod_k D_k = V^T / V^0 exactly,

with the logarithmic mean L(a, b) = (a - b) / ln(a / b), L(a, a) = a.

Zero values follow the small-value strategy (Ang & Liu 2007, Energy Policy
35:238, "Handling zero values in the logarithmic mean Divisia index
decomposition approach"): a zero is replaced by a small number delta and the
results are taken in the limit delta -> 0. The limit is computed analytically
(as Ang, Zhang & Choi 1998, Energy 23:489, Table 2 and Wood & Lenzen 2006,
Energy Policy 34:1326 tabulate it), so the decomposition stays exact: a term
that is zero in one state and V in the other gives all of its change to the
factor(s) that are zero (shared equally when m factors are zero, the limit
with the same delta for each), and nothing to the others; a term zero in both
states gives nothing. ``zero="small"`` instead replaces zeros by ``delta``
literally, for checking the convergence.

Negative values: a factor that keeps its sign (negative in both states) is
handled as Ang & Liu (2007, Energy Policy 35:739, "Negative-value problems of
the logarithmic mean Divisia index decomposition approach") do, with
L(a, b) = (a - b) / ln(a / b) for two numbers of the same sign. A factor
that changes sign between two states is refused (``ValueError``): the
published treatments of that case are not simple and are not implemented.

Periods are chained year by year: the effects of a period are the sums
(additive) or products (multiplicative) of the yearly effects, so the
decomposition stays exact and follows the path.

Identities
----------
:func:`model_identity` writes a model run as such a sum, :func:`history_identity`
the CEADs inventories on file, with the factors (see :data:`FACTORS`):

``CO2 = sum_(s, f) P * (G/P) * (G_s/G) * (E_s/G_s) * (E_sf/E_s) * (C_sf/E_sf) * (net/gross)``

population P (person), GDP per capita G/P (yuan/(person*Year)), structure
G_s/G (secondary or tertiary share of GDP), energy intensity E_s/G_s
(tce/yuan), fuel mix E_sf/E_s, emission factor (tCO2/tce, or t/tce for the air
pollutants) and capture (net/gross CO2; for the air pollutants ``end_of_pipe``
= 1 - removal, or the vehicle emission and fuel sulfur multipliers). On
history, only P, G/P and one carbon intensity per sector (CO2/G) can be
told apart: no energy use by sector or fuel and no GDP by sector is on file.

Everything here returns tidy tables with the columns :data:`COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "FACTORS",
    "FACTOR_UNITS",
    "POLLUTANTS",
    "TERM_COLUMNS",
    "Decomposition",
    "Identity",
    "decompose_against",
    "decompose_history",
    "decompose_run",
    "history_cities",
    "history_identity",
    "history_years",
    "lmdi",
    "lmdi_chain",
    "logmean",
    "model_constants",
    "model_identity",
    "plot_waterfall",
    "term_effects",
]

#: Columns of the decomposition table.
COLUMNS = ["city", "scenario", "pollutant", "period", "factor", "effect", "unit"]
#: Columns of the term (sector and fuel) table of an additive decomposition.
TERM_COLUMNS = ["city", "scenario", "pollutant", "period", "sector", "fuel", "factor", "effect", "unit"]

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

#: Pollutants: model variable and unit.
POLLUTANTS = {
    "CO2": ("CO2 emissions", "tCO2/Year"),
    "SO2": ("SO2 emissions", "t/Year"),
    "NOx": ("NOx emissions", "t/Year"),
    "PM25": ("primary PM25 emissions", "t/Year"),
}

FORMS = ("additive", "multiplicative")
ZERO_STRATEGIES = ("limit", "small")
_REL_TOL = 1e-9  # an identity must reproduce its total to this relative error


# ---------------------------------------------------------------------------------------------------------- core


def logmean(a, b) -> np.ndarray:
    """Logarithmic mean L(a, b) = (a - b) / ln(a / b), with L(a, a) = a.

    Parameters
    ----------
    a, b : array_like
        Non-zero numbers, pairwise of the same sign (any unit; the result has it).

    Returns
    -------
    numpy.ndarray
        Computed as b * r / log1p(r) with r = a/b - 1, accurate when a is close to b.

    Raises
    ------
    ValueError
        A zero, or a pair of opposite signs.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    if np.any(a == 0) or np.any(b == 0):
        raise ValueError("logmean: zero argument (handle zeros before, see term_effects)")
    if np.any(np.sign(a) != np.sign(b)):
        raise ValueError("logmean: arguments of opposite signs")
    r = a / b - 1.0
    out = np.array(b, dtype=float, copy=True)
    nz = r != 0
    out[nz] = b[nz] * r[nz] / np.log1p(r[nz])
    return out


def _as_frames(x0, x1) -> tuple[pd.DataFrame, pd.DataFrame]:
    x0 = pd.DataFrame(x0).astype(float)
    x1 = pd.DataFrame(x1).astype(float)
    if list(x0.columns) != list(x1.columns) or not x0.index.equals(x1.index):
        raise ValueError("x0 and x1 need the same terms (index) and factors (columns), in the same order")
    for name, x in (("x0", x0), ("x1", x1)):
        if not np.isfinite(x.to_numpy()).all():
            raise ValueError(f"{name}: a factor is NaN or infinite")
    return x0, x1


def term_effects(x0, x1, *, zero: str = "limit", delta: float = 1e-10) -> pd.DataFrame:
    """Additive LMDI-I effect of every factor on every term.

    Parameters
    ----------
    x0, x1 : pandas.DataFrame
        Factors in state 0 and state T: one row per term i, one column per
        factor k, V_i = product of the row (any units whose product is V's).
    zero : {"limit", "small"}
        ``limit`` (default): the limit delta -> 0 of the small-value strategy,
        computed analytically (exact). ``small``: replace each zero by
        ``delta`` (with the sign of the other state's value) and compute as usual.
    delta : float
        The small value of ``zero="small"``.

    Returns
    -------
    pandas.DataFrame
        Same shape as x0: effect of factor k on term i, in V's unit; each row
        sums to V_i^T - V_i^0.

    Raises
    ------
    ValueError
        Different shapes, a non-finite factor, or a factor that changes sign.
    """
    if zero not in ZERO_STRATEGIES:
        raise ValueError(f"zero must be one of {ZERO_STRATEGIES}, not {zero!r}")
    x0, x1 = _as_frames(x0, x1)
    a0, a1 = x0.to_numpy(copy=True), x1.to_numpy(copy=True)
    flip = (a0 != 0) & (a1 != 0) & (np.sign(a0) != np.sign(a1))
    if flip.any():
        i, k = map(int, np.argwhere(flip)[0])
        raise ValueError(f"term {x0.index[i]!r}, factor {x0.columns[k]!r} changes sign ({a0[i, k]:g} -> "
                         f"{a1[i, k]:g}); LMDI needs each factor to keep its sign (sign changes are not handled)")
    if zero == "small":
        for a, other in ((a0, a1), (a1, a0)):
            z = a == 0
            a[z] = np.where(other[z] < 0, -delta, delta)
    out = np.zeros_like(a0)
    z0, z1 = a0 == 0, a1 == 0
    v0, v1 = a0.prod(axis=1), a1.prod(axis=1)
    regular = ~z0.any(axis=1) & ~z1.any(axis=1)
    if regular.any():
        w = logmean(v1[regular], v0[regular])
        out[regular] = w[:, None] * np.log(a1[regular] / a0[regular])
    appear = z0.any(axis=1) & ~z1.any(axis=1)      # V_i^0 = 0 < |V_i^T|: the zero factors take V_i^T
    out[appear] = np.where(z0[appear], (v1[appear] / z0[appear].sum(axis=1))[:, None], 0.0)
    vanish = ~z0.any(axis=1) & z1.any(axis=1)      # |V_i^0| > 0 = V_i^T: the zero factors take -V_i^0
    out[vanish] = np.where(z1[vanish], (-v0[vanish] / z1[vanish].sum(axis=1))[:, None], 0.0)
    return pd.DataFrame(out, index=x0.index, columns=x0.columns)


def _multiplicative(additive: pd.Series, v0: float, v1: float) -> pd.Series:
    if v0 == 0 or v1 == 0 or np.sign(v0) != np.sign(v1):
        raise ValueError(f"multiplicative LMDI needs totals of one sign, not zero (got {v0:g} -> {v1:g}); "
                         "use the additive form")
    return np.exp(additive / float(logmean(v1, v0)))


def lmdi(x0, x1, *, form: str = "additive", zero: str = "limit", delta: float = 1e-10) -> pd.Series:
    """LMDI-I decomposition of V = sum_i prod_k x_k,i between two states.

    Parameters
    ----------
    x0, x1 : pandas.DataFrame
        Factors in state 0 and state T (rows: terms, columns: factors).
    form : {"additive", "multiplicative"}
        Additive effects (V's unit) sum to V^T - V^0; multiplicative effects
        (dmnl) multiply to V^T / V^0.
    zero, delta
        Zero strategy, see :func:`term_effects`.

    Returns
    -------
    pandas.Series
        One effect per factor.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, not {form!r}")
    eff = term_effects(x0, x1, zero=zero, delta=delta)
    add = eff.sum(axis=0)
    if form == "additive":
        return add
    return _multiplicative(add, float(pd.DataFrame(x0).prod(axis=1).sum()), float(pd.DataFrame(x1).prod(axis=1).sum()))


def lmdi_chain(states, *, form: str = "additive", zero: str = "limit", delta: float = 1e-10) -> pd.Series:
    """LMDI-I over a sequence of states, chained: each step decomposed, then summed or multiplied.

    Parameters
    ----------
    states : sequence of pandas.DataFrame
        Factors in consecutive states (e.g. years), same terms and factors.
    form, zero, delta
        As in :func:`lmdi`.

    Returns
    -------
    pandas.Series
        Additive: sum of the steps' effects (sums to V^last - V^first).
        Multiplicative: product of the steps' effects (multiplies to V^last / V^first).
    """
    states = list(states)
    if len(states) < 2:
        raise ValueError("lmdi_chain needs at least two states")
    steps = [lmdi(a, b, form=form, zero=zero, delta=delta) for a, b in zip(states[:-1], states[1:], strict=True)]
    if form == "additive":
        return sum(steps[1:], steps[0])
    return np.exp(sum((np.log(s) for s in steps[1:]), np.log(steps[0])))


# ------------------------------------------------------------------------------------------------- identities


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
    from .model import canonical, model_doc

    out = {k: float(v.value) for k, v in model_doc().items() if v.kind == "constant" and v.value is not None}
    for k, v in (constants or {}).items():
        out[canonical(k)] = float(v)
    return out


def _ratio(num: pd.Series, den: pd.Series, empty: float = 0.0) -> pd.Series:
    num, den = num.astype(float), den.astype(float)
    return pd.Series(np.divide(num, den, out=np.full(len(num), empty), where=den.to_numpy() != 0), index=num.index)


def _model_rows(w: pd.DataFrame, c: dict[str, float], pollutant: str, scope: str):
    """Terms of the full breakdown: (sector, fuel, factors) with the factors of ``FACTORS``."""
    from .model import canonical

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
        A run (:func:`megacity_sd.run.run`): years x model variables.
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


# -------------------------------------------------------------------------------------------------- history

_HISTORY_SECTORS = ("power_heat", "industry", "transport", "buildings")
_HISTORY_FUELS = ("coal", "oil", "gas", "process")


def history_cities() -> list[str]:
    """Cities with CEADs CO2 by sector and by fuel on file (the three provinces)."""
    from .data import table

    df = table("calibration_series")
    have = [set(df.loc[df["variable"] == f"co2_{s}", "city"]) for s in _HISTORY_SECTORS + _HISTORY_FUELS]
    return sorted(set.intersection(*have))


def _history_series(city: str) -> dict[str, pd.Series]:
    from .data import history, table

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


# ----------------------------------------------------------------------------------------------- decompositions


@dataclass
class Decomposition:
    """The result of one decomposition.

    Attributes
    ----------
    city, scenario, pollutant, period, form, unit : str
        ``unit`` is the pollutant's (additive) or ``dmnl`` (multiplicative).
    start, end : float
        The aggregate in the first and last state, in the pollutant's unit.
    effects : pandas.Series
        One effect per factor (sum to end - start, or multiply to end / start).
    terms : pandas.DataFrame
        Additive effects by term: index (sector, fuel), one column per factor
        (sums over the rows give ``effects`` in the additive form).
    notes : list of str
    zero_steps : int
        Term-steps where a zero was handled by the limit of the small-value strategy.
    """

    city: str
    scenario: str
    pollutant: str
    period: str
    form: str
    unit: str
    start: float
    end: float
    effects: pd.Series
    terms: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    zero_steps: int = 0

    @property
    def total(self) -> float:
        """The observed change: end - start (additive) or end / start (multiplicative)."""
        return self.end - self.start if self.form == "additive" else self.end / self.start

    def table(self) -> pd.DataFrame:
        """Tidy rows (:data:`COLUMNS`): one per factor, then ``total``."""
        rows = [(f, float(v)) for f, v in self.effects.items()] + [("total", self.total)]
        df = pd.DataFrame(rows, columns=["factor", "effect"])
        for col in ("city", "scenario", "pollutant", "period"):
            df[col] = getattr(self, col)
        df["unit"] = self.unit
        return df[COLUMNS]

    def terms_table(self) -> pd.DataFrame:
        """Tidy additive effects by sector, fuel and factor (:data:`TERM_COLUMNS`)."""
        long = self.terms.rename_axis(columns="factor").stack().rename("effect").reset_index()
        for col in ("city", "scenario", "pollutant", "period"):
            long[col] = getattr(self, col)
        long["unit"] = POLLUTANTS[self.pollutant][1] if self.pollutant in POLLUTANTS else self.unit
        return long[TERM_COLUMNS]


def _order(names) -> list[str]:
    known = [f for f in FACTORS if f in names]
    return known + [n for n in names if n not in known]


def _step(ident0: Identity, y0: int, ident1: Identity, y1: int, zero: str, delta: float):
    """Additive term effects of one step, merging unavailable factors per ``combine``."""
    x0, v0 = ident0.state(y0)
    x1, v1 = ident1.state(y1)
    missing = [c for c in x0.columns if x0[c].isna().any() or x1[c].isna().any()]
    if missing:
        combine = {**ident0.combine, **ident1.combine}
        groups = [(name, members) for name, members in combine.items() if set(members) & set(missing)]
        covered = set().union(*(set(m) for _, m in groups)) if groups else set()
        if not set(missing) <= covered:
            raise ValueError(f"factor(s) {sorted(set(missing) - covered)} missing in {y0} or {y1} and not combinable")
        for name, members in groups:
            others = [c for c in x0.columns if c not in members]
            parts = []
            for x, v in ((x0, v0), (x1, v1)):
                den = x[others].prod(axis=1)
                parts.append(pd.Series(np.divide(v.to_numpy(), den.to_numpy(), out=np.zeros(len(v)),
                                                 where=den.to_numpy() != 0), index=x.index))
            x0 = x0.drop(columns=list(members)).assign(**{name: parts[0]})
            x1 = x1.drop(columns=list(members)).assign(**{name: parts[1]})
    eff = term_effects(x0, x1, zero=zero, delta=delta)
    zeros = int(((x0 == 0).any(axis=1) | (x1 == 0).any(axis=1)).sum())
    return eff, zeros


def _decompose(steps, idents, *, city, scenario, period, form, zero, delta, notes) -> Decomposition:
    ident0 = idents[0]
    effects, zeros = [], 0
    for (i0, y0), (i1, y1) in steps:
        eff, z = _step(idents[i0], y0, idents[i1], y1, zero, delta)
        effects.append(eff)
        zeros += z
    cols = _order(list(dict.fromkeys(c for e in effects for c in e.columns)))
    terms = sum((e.reindex(columns=cols, fill_value=0.0) for e in effects[1:]),
                effects[0].reindex(columns=cols, fill_value=0.0))
    (i_first, y_first), (i_last, y_last) = steps[0][0], steps[-1][1]
    start = float(idents[i_first].values.xs(y_first, level="year").sum())
    end = float(idents[i_last].values.xs(y_last, level="year").sum())
    if form == "additive":
        eff = terms.sum(axis=0)
    else:
        # chained: ln D_k = sum over steps of dV_k,step / L(V_step^T, V_step^0)
        logs = []
        for ((i0, y0), (i1, y1)), e in zip(steps, effects, strict=True):
            a = float(idents[i0].values.xs(y0, level="year").sum())
            b = float(idents[i1].values.xs(y1, level="year").sum())
            logs.append(np.log(_multiplicative(e.sum(axis=0), a, b)).reindex(cols, fill_value=0.0))
        eff = np.exp(sum(logs[1:], logs[0]))
    info = idents[-1].terms
    terms.index = pd.MultiIndex.from_arrays([info.loc[terms.index, "sector"], info.loc[terms.index, "fuel"]],
                                            names=["sector", "fuel"])
    n = len(steps)
    method = (f"LMDI-I {form} (Ang 2004, 2005)" + (f", chained over {n} yearly steps (effects "
              + ("summed" if form == "additive" else "multiplied") + ")" if n > 1 else ", one step"))
    all_notes = [method + ": exact, the factor effects " + ("sum to the change" if form == "additive" else
                                                             "multiply to the ratio")]
    if zeros:
        all_notes.append(f"zero values in {zeros} term-step(s): "
                         + ("limit of the small-value strategy (Ang & Liu 2007), computed analytically" if
                            zero == "limit" else f"small-value strategy with delta = {delta:g}"))
    all_notes += list(dict.fromkeys(notes + [n for i in idents for n in i.notes]))
    unit = ident0.unit if form == "additive" else "dmnl"
    return Decomposition(city, scenario, ident0.pollutant, period, form, unit, start, end, eff[cols], terms,
                         all_notes, zeros)


def _check_form(form: str, zero: str) -> None:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, not {form!r}")
    if zero not in ZERO_STRATEGIES:
        raise ValueError(f"zero must be one of {ZERO_STRATEGIES}, not {zero!r}")


def _chain_steps(years: list[int], start: int, end: int, what: str) -> list:
    if start >= end:
        raise ValueError(f"start year {start} must be before end year {end}")
    for y in (start, end):
        if y not in years:
            raise ValueError(f"year {y} is not a year of {what}; allowed: {years[0]}-{years[-1]}")
    span = [y for y in years if start <= y <= end]
    return [((0, a), (0, b)) for a, b in zip(span[:-1], span[1:], strict=True)]


def decompose_history(city: str, start: int, end: int, *, breakdown: str = "sector", form: str = "additive",
                      zero: str = "limit", delta: float = 1e-10) -> Decomposition:
    """Decompose a city's historical CO2 change (CEADs) from ``start`` to ``end``, chained yearly.

    Parameters
    ----------
    city : str
        One of :func:`history_cities`.
    start, end : int
        Years, start < end, both in :func:`history_years`.
    breakdown : {"sector", "fuel"}
    form : {"additive", "multiplicative"}
    zero, delta
        Zero strategy, see :func:`term_effects`.

    Returns
    -------
    Decomposition
        Scenario ``history``, period ``"start-end"``.
    """
    _check_form(form, zero)
    if city not in history_cities():
        raise ValueError(f"no CO2 inventory by sector and fuel on file for {city!r}; allowed: "
                         f"{', '.join(history_cities())}")
    ident = history_identity(city, breakdown=breakdown)
    steps = _chain_steps(ident.years, start, end, f"the {city} inventory")
    return _decompose(steps, [ident], city=city, scenario="history", period=f"{start}-{end}", form=form,
                      zero=zero, delta=delta, notes=[])


def decompose_run(wide: pd.DataFrame, start: int, end: int, *, city: str, scenario: str,
                  constants: dict[str, float] | None = None, pollutant: str = "CO2", breakdown: str = "full",
                  scope: str = "1", form: str = "additive", zero: str = "limit",
                  delta: float = 1e-10) -> Decomposition:
    """Decompose the change of a model run from ``start`` to ``end``, chained yearly.

    Parameters
    ----------
    wide : pandas.DataFrame
        The run (years x variables).
    start, end : int
        Years of the run, start < end.
    city, scenario : str
        Labels.
    constants : dict, optional
        The run's constant overrides (``Scenario.constants``).
    pollutant, breakdown, scope
        See :func:`model_identity`.
    form, zero, delta
        See :func:`lmdi`.

    Returns
    -------
    Decomposition
        Period ``"start-end"``.
    """
    _check_form(form, zero)
    ident = model_identity(wide, constants, pollutant=pollutant, breakdown=breakdown, scope=scope)
    steps = _chain_steps(ident.years, start, end, "the model run")
    return _decompose(steps, [ident], city=city, scenario=scenario, period=f"{start}-{end}", form=form,
                      zero=zero, delta=delta, notes=[])


def decompose_against(base: pd.DataFrame, other: pd.DataFrame, year: int, *, city: str, scenario: str,
                      baseline: str = "baseline", base_constants: dict[str, float] | None = None,
                      constants: dict[str, float] | None = None, pollutant: str = "CO2", breakdown: str = "full",
                      scope: str = "1", form: str = "additive", zero: str = "limit",
                      delta: float = 1e-10) -> Decomposition:
    """Decompose the difference between a scenario and the baseline in one year.

    One LMDI step from the baseline's state in ``year`` (state 0) to the
    scenario's (state T): why the scenario ends where it does against the
    baseline (LMDI between two entities, as in cross-region comparisons).

    Parameters
    ----------
    base, other : pandas.DataFrame
        The baseline run and the scenario run.
    year : int
        A year of both runs.
    city, scenario, baseline : str
        Labels; the table's scenario is ``"<scenario>_vs_<baseline>"``.
    base_constants, constants : dict, optional
        Constant overrides of each run.
    pollutant, breakdown, scope, form, zero, delta
        As in :func:`decompose_run`.

    Returns
    -------
    Decomposition
        Period ``"<year>"``; start = baseline, end = scenario.
    """
    _check_form(form, zero)
    i0 = model_identity(base, base_constants, pollutant=pollutant, breakdown=breakdown, scope=scope)
    i1 = model_identity(other, constants, pollutant=pollutant, breakdown=breakdown, scope=scope)
    if year not in i0.years or year not in i1.years:
        raise ValueError(f"year {year} is not a year of the runs; allowed: {i0.years[0]}-{i0.years[-1]}")
    note = f"{scenario} against {baseline} in {year}: one LMDI step from the baseline's state to the scenario's"
    return _decompose([((0, year), (1, year))], [i0, i1], city=city, scenario=f"{scenario}_vs_{baseline}",
                      period=str(year), form=form, zero=zero, delta=delta, notes=[note])


# ------------------------------------------------------------------------------------------------------ figure


def plot_waterfall(dec: Decomposition, ax, *, scale: float = 1.0, unit: str | None = None):
    """Waterfall of a decomposition: start level, one bar per factor, end level.

    Additive: each bar is the factor's effect. Multiplicative: the bars apply
    the factors' ratios in the order shown (start * D_1 * D_2 ...), so their
    heights depend on that order while the end is exact.

    Parameters
    ----------
    dec : Decomposition
    ax : matplotlib.axes.Axes
    scale : float
        Multiplier for the levels (e.g. 1e-6 for Mt).
    unit : str, optional
        Axis label (default: the pollutant's unit).

    Returns
    -------
    matplotlib.axes.Axes
    """
    labels = ["start"] + list(dec.effects.index) + ["end"]
    level = dec.start
    bottoms, heights, colors = [0.0], [dec.start], ["#777777"]
    for v in dec.effects.to_numpy():
        new = level + v if dec.form == "additive" else level * v
        bottoms.append(min(level, new))
        heights.append(abs(new - level))
        colors.append("#d95f02" if new > level else "#1b9e77")
        level = new
    bottoms.append(0.0)
    heights.append(dec.end)
    colors.append("#444444")
    x = np.arange(len(labels))
    ax.bar(x, np.asarray(heights) * scale, bottom=np.asarray(bottoms) * scale, color=colors, width=0.7)
    for i, (b, h) in enumerate(zip(bottoms, heights, strict=True)):
        if 0 < i < len(labels) - 1:
            v = dec.effects.iloc[i - 1]
            text = f"{v * scale:+.3g}" if dec.form == "additive" else f"x{v:.3f}"
            ax.annotate(text, (i, (b + h) * scale), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [lab.replace("_", " ") for lab in labels], rotation=35, ha="right")
    ax.set_ylabel(unit or POLLUTANTS.get(dec.pollutant, ("", dec.unit))[1])
    if "_vs_" in dec.scenario:
        end_label, start_label = dec.scenario.split("_vs_", 1)
    else:
        start_label, end_label = (dec.period.split("-") + [""])[:2]
    ax.set_title(f"{dec.city} {dec.pollutant}: {dec.scenario} {dec.period} (LMDI-I {dec.form}; "
                 f"{start_label} -> {end_label})")
    return ax
