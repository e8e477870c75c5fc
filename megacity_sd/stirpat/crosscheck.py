"""The model's CO2 against STIRPAT.

Elasticities of the model (ensemble fit and perturbation), verdicts, projections and gaps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UserInputError
from ..model import model_years
from ..units import display_of
from .fit import StirpatFit, fit_stirpat
from .panels import YORK_2003_NOTE, fit_history, history_panel, load_owid_panel, owid_check

__all__ = [
    "MODEL_VARIABLES",
    "PERTURBATIONS",
    "STIRPAT_SCENARIOS",
    "sample_ensemble",
    "model_panel",
    "fit_model_panel",
    "perturbation_elasticities",
    "compare_elasticities",
    "project_co2",
    "gap_per_decade",
    "CrosscheckResult",
    "crosscheck",
]


#: Model variables for the STIRPAT quantities (model units: tCO2/Year, person,
#: yuan/(person*Year) at 2005 prices, tce/yuan).
MODEL_VARIABLES = {"co2": "CO2 emissions", "population": "Population", "gdp_per_capita": "GDP per capita",
                   "energy_intensity": "energy intensity of GDP"}


#: Constants moved together (by the same relative step) to perturb each driver:
#: population by its initial level and its cap together (the city scaled: with
#: the initial level alone, the cap pulls population back while the initial
#: GDP stays raised), affluence by the speed of productivity catch-up, energy
#: intensity by every initial energy intensity of final demand (industry,
#: services, buildings, vehicles).
PERTURBATIONS = {
    "population": ("initial population", "population cap"),
    "gdp_per_capita": ("productivity convergence rate",),
    "energy_intensity": ("initial industry energy intensity", "initial services energy intensity",
                         "conventional energy intensity", "initial ICE fuel intensity", "diesel bus fuel intensity",
                         "CNG bus fuel intensity", "initial truck fuel intensity", "NEV electricity intensity",
                         "electric bus electricity intensity"),
}


#: Scenarios of the model panel by default: the six of the first round. ``neutrality`` and
#: ``city_plans`` change the carbon content of energy itself (capture, clean imports, hydrogen,
#: clean fuels), which a STIRPAT fit in P, A and T cannot represent; pass them explicitly to include them.
STIRPAT_SCENARIOS = ("baseline", "energy_structure", "transport", "buildings", "combined", "end_of_pipe")




def _default(name: str, constants: Mapping[str, float]) -> float:
    from ..model import canonical, model_doc

    for key, value in constants.items():
        if canonical(key) == canonical(name):
            return float(value)
    return float(model_doc()[canonical(name)].value)


def sample_ensemble(n: int, seed: int | None = 1, scenario=None) -> pd.DataFrame:
    """Seeded uniform sample of the uncertain parameters of ``scenarios/uncertainty.yaml``.

    The one declaration of what is uncertain is the uncertainty file; each
    parameter is drawn uniformly within the range it resolves to for the
    scenario (:func:`megacity_sd.sensitivity.load_uncertainty`: the file's
    bounds, or the calibrated confidence interval of the city).

    Parameters
    ----------
    n : int
        Number of members.
    seed : int or None
        Seed of ``numpy.random.default_rng`` (``None``: not reproducible).
    scenario : Scenario, optional
        The resolved scenario giving the nominal values (default: the model's).

    Returns
    -------
    pandas.DataFrame
        One row per member (index ``member`` 1..n), one column per parameter,
        in model units.
    """
    from ..sensitivity import load_uncertainty

    unc = load_uncertainty(scenario=scenario)
    rng = np.random.default_rng(seed)
    cols = {p.name: rng.uniform(p.lower, p.upper, size=n) for p in unc.parameters}
    return pd.DataFrame(cols, index=pd.Index(range(1, n + 1), name="member"))


def _stirpat_columns(wide: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({k: wide[v].to_numpy() for k, v in MODEL_VARIABLES.items()}, index=wide.index)
    out.index.name = "year"
    return out.reset_index()


def model_panel(city: str = "shanghai", scenarios: Sequence[str] | None = None, n_members: int = 40,
                seed: int | None = 1, engine: str = "simlin") -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Run the model over scenarios x ensemble members; return the STIRPAT panel.

    Member 0 is the city's own parameter set; members 1..n override the
    uncertain parameters of ``scenarios/uncertainty.yaml`` with
    :func:`sample_ensemble`.

    Returns
    -------
    panel : pandas.DataFrame
        ``entity`` (``scenario/mNNN``), ``scenario, member, year, co2,
        population, gdp_per_capita, energy_intensity`` in model units; runs with
        a non-positive or non-finite value are left out.
    central : dict of str to pandas.DataFrame
        Scenario -> the member-0 run (all variables), for projections.

    Raises
    ------
    UserInputError
        Unknown city or scenario (from :func:`megacity_sd.scenario.load_scenario`).
    """
    from ..scenario import load_scenario
    from ..simulate import run, run_batch

    names = list(scenarios or STIRPAT_SCENARIOS)
    loaded = [load_scenario(s, city=city) for s in names]
    sample = sample_ensemble(n_members, seed, loaded[0]) if n_members else pd.DataFrame()
    frames, central = [], {}
    for scen in loaded:
        base = dict(scen.constants)
        central[scen.name] = run(base, engine=engine)
        members = [(0, _stirpat_columns(central[scen.name]))]
        if n_members:  # the members in one batch
            years, series = run_batch(engine, sample, base, list(MODEL_VARIABLES.values()))
            for i, member in enumerate(sample.index):
                members.append((int(member), pd.DataFrame({"year": years, **{k: series[v][i] for k, v in
                                                                             MODEL_VARIABLES.items()}})))
        for member, cols in members:
            values = cols[list(MODEL_VARIABLES)].to_numpy()
            if not (np.isfinite(values).all() and (values > 0).all()):
                continue
            cols.insert(0, "member", member)
            cols.insert(0, "scenario", scen.name)
            cols.insert(0, "entity", f"{scen.name}/m{member:03d}")
            frames.append(cols)
    return pd.concat(frames, ignore_index=True), central


def fit_model_panel(panel: pd.DataFrame, drivers: Sequence[str] = ("population", "gdp_per_capita"),
                    years: tuple[int, int] | None = None, year_step: int = 5, alpha: float = 0.05) -> StirpatFit:
    """STIRPAT fitted on the model's own output, in the historical fit's form.

    Entity (scenario x member) and year fixed effects, OLS, standard errors
    clustered by ensemble member (a member's runs under the six scenarios
    share its parameters). With year effects the slopes come from
    differences between runs in the same year, i.e. from the uncertain
    parameters and the scenarios: the elasticities the model's structure
    implies, comparable with :func:`fit_history`. The model's output is
    smooth, so it is taken every ``year_step`` years (2005, 2010, ...): the
    annual values add rows, not information, and make the dummy design slow. ``years``: the span used
    (default: the model's run, :func:`megacity_sd.model.model_years`).
    """
    years = model_years() if years is None else years
    sel = panel[(panel["year"] >= years[0]) & (panel["year"] <= years[1])
                & ((panel["year"] - years[0]) % year_step == 0)]
    fit = fit_stirpat(sel, "co2", list(drivers), entity="entity", time="year", time_effects=True,
                      cov_type="cluster", cluster_by="member", alpha=alpha, source="model ensemble")
    fit.notes.append(f"model output {years[0]}-{years[1]} every {year_step} year(s), {sel['scenario'].nunique()} "
                     f"scenario(s) x {sel['member'].nunique()} parameter set(s); s.e. clustered by parameter set")
    return fit


def perturbation_elasticities(city: str = "shanghai", n_members: int = 40, seed: int | None = 1,
                              engine: str = "simlin", step: float = 0.01,
                              years: tuple[int, int] | None = None) -> pd.DataFrame:
    """Total elasticities of the model's CO2 to each driver, by perturbation.

    For each driver, the constants in :data:`PERTURBATIONS` are moved by
    ``+-step`` (relative, kept within their Vensim range) in the baseline
    scenario, for the city's parameters and each ensemble member; per year,
    the elasticity is ``(ln CO2+ - ln CO2-) / (ln X+ - ln X-)``. It is a
    total elasticity: the other drivers respond too (their responses are
    reported, per unit change in ln X), as in a regression that omits them.

    Returns
    -------
    pandas.DataFrame
        One row per driver: ``driver, constants, elasticity`` (median over
        members and years), ``low, high`` (2.5 and 97.5 percentiles),
        ``dln_population, dln_gdp_per_capita, dln_energy_intensity`` (median
        co-movements), ``n`` (member-years).
    """
    if years is None:
        first, last = model_years()
        years = (first + 1, last)
    from ..model import canonical, model_doc
    from ..scenario import load_scenario
    from ..simulate import run_batch

    doc = model_doc()
    scen = load_scenario("baseline", city=city)
    sample = sample_ensemble(n_members, seed, scen) if n_members else pd.DataFrame()
    rows = []
    for driver, names in PERTURBATIONS.items():
        ratios, comoves = [], {d: [] for d in ("population", "gdp_per_capita", "energy_intensity")}
        # one batch: every member (0 = the city's own parameters) moved up, then down
        sets = []
        for member in range(0, n_members + 1):
            base = dict(scen.constants)
            if member:
                base.update(sample.loc[member].to_dict())
            for sign in (+1, -1):
                constants = {k: base[k] for k in sample.columns} if member else {}
                for name in names:
                    v = _default(name, base)
                    lo, hi = doc[canonical(name)].limits or (-np.inf, np.inf)
                    constants[name] = float(np.clip(v * (1 + sign * step), lo, hi))
                sets.append(constants)
        table = pd.DataFrame(sets)
        for c in table.columns:  # member 0 keeps the scenario's (or the model's) value of the sampled constants
            table[c] = table[c].fillna(_default(c, scen.constants))
        all_years, series = run_batch(engine, table, dict(scen.constants), list(MODEL_VARIABLES.values()))
        sel = (all_years >= years[0]) & (all_years <= years[1])
        for member in range(0, n_members + 1):
            up, down = (pd.DataFrame({k: series[v][2 * member + j][sel] for k, v in MODEL_VARIABLES.items()},
                                     index=pd.Index(all_years[sel], name="year")) for j in (0, 1))
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.log(up) - np.log(down)
            dx = d[driver]
            ok = np.isfinite(d).all(axis=1) & (dx.abs() > 1e-7)
            ratios.append((d["co2"][ok] / dx[ok]).to_numpy())
            for other in comoves:
                comoves[other].append((d[other][ok] / dx[ok]).to_numpy())
        r = np.concatenate(ratios)
        rows.append(dict(driver=driver, constants="; ".join(names), elasticity=float(np.median(r)),
                         low=float(np.percentile(r, 2.5)), high=float(np.percentile(r, 97.5)),
                         **{f"dln_{o}": float(np.median(np.concatenate(v))) for o, v in comoves.items()},
                         n=int(r.size)))
    return pd.DataFrame(rows)


def compare_elasticities(history_fit: StirpatFit, model_fit: StirpatFit, perturbation: pd.DataFrame, *,
                         model_fit_pat: StirpatFit | None = None, owid: pd.DataFrame | None = None,
                         alpha: float = 0.05) -> pd.DataFrame:
    """Elasticities from history and from the model, side by side, with a verdict.

    Rule: a driver is *consistent* when (i) the 95 % interval of the
    difference history - model fit (independent estimates, normal
    approximation: ``d +- z sqrt(se_h^2 + se_m^2)``) contains 0, and (ii) the
    model's perturbation interval overlaps the historical interval. Otherwise
    it is *not consistent*, and the note says by how much. A driver with no
    historical estimate (energy intensity) is *not testable*; the model's
    value is then shown next to the OWID and published ones.

    Returns
    -------
    pandas.DataFrame
        ``driver, history, history_low, history_high, model_fit, model_fit_low,
        model_fit_high, perturbation, perturbation_low, perturbation_high,
        difference, difference_low, difference_high, verdict, note``.
    """
    z = stats.norm.ppf(1 - alpha / 2)
    h, m = history_fit.table(alpha).set_index("term"), model_fit.table(alpha).set_index("term")
    pert = perturbation.set_index("driver")
    rows = []
    for driver in ("population", "gdp_per_capita", "energy_intensity"):
        t = f"ln_{driver}"
        row = dict(driver=driver)
        mf = m if t in m.index else (model_fit_pat.table(alpha).set_index("term") if model_fit_pat else None)
        if mf is not None and t in mf.index:
            row.update(model_fit=mf.at[t, "estimate"], model_fit_low=mf.at[t, "ci_low"],
                       model_fit_high=mf.at[t, "ci_high"])
        if driver in pert.index:
            row.update(perturbation=pert.at[driver, "elasticity"], perturbation_low=pert.at[driver, "low"],
                       perturbation_high=pert.at[driver, "high"])
        if t in h.index and t in m.index:
            hv, hs, mv, ms = h.at[t, "estimate"], h.at[t, "std_err"], m.at[t, "estimate"], m.at[t, "std_err"]
            diff, sd = hv - mv, float(np.hypot(hs, ms))
            row.update(history=hv, history_low=h.at[t, "ci_low"], history_high=h.at[t, "ci_high"],
                       difference=diff, difference_low=diff - z * sd, difference_high=diff + z * sd)
            fit_ok = abs(diff) <= z * sd
            p_lo, p_hi = row.get("perturbation_low", np.nan), row.get("perturbation_high", np.nan)
            pert_ok = not (p_hi < row["history_low"] or p_lo > row["history_high"])
            parts = [f"history {hv:.2f} [{row['history_low']:.2f}, {row['history_high']:.2f}] vs model fit "
                     f"{mv:.2f}: difference {diff:+.2f} ({diff / sd:+.1f} s.e.)"]
            if np.isfinite(row.get("perturbation", np.nan)):
                where = "inside" if pert_ok else ("above" if p_lo > row["history_high"] else "below")
                parts.append(f"perturbation {row['perturbation']:.2f} [{p_lo:.2f}, {p_hi:.2f}] {where} the "
                             "historical interval")
            if row["history_high"] - row["history_low"] > 1.0:
                parts.append("the historical interval is wider than 1, so history constrains this elasticity little")
            row["verdict"] = "consistent" if (fit_ok and pert_ok) else "not consistent"
            row["note"] = "; ".join(parts)
        else:
            row["verdict"] = "not testable"
            mv, lo, hi = (row.get(k, np.nan) for k in ("model_fit", "model_fit_low", "model_fit_high"))
            parts = [f"no historical estimate (no city energy data); model fit with T {mv:.2f} [{lo:.2f}, {hi:.2f}]"]
            if owid is not None:
                o = owid[(owid["term"] == driver) & (owid["source"] == "this project")]
                lit = owid[(owid["term"] == driver) & (owid["source"] == "literature")
                           & owid["dependent"].str.startswith("ln CO2")].dropna(subset=["estimate"])
                for r in o.itertuples():
                    where = "above" if lo > r.ci_high else ("below" if hi < r.ci_low else "overlapping")
                    parts.append(f"{where} {r.study} {r.estimate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]")
                if len(lit):
                    n_below = int((lit["estimate"] < lo).sum())
                    parts.append(f"published CO2 estimates {lit['estimate'].min():.2f} to {lit['estimate'].max():.2f} "
                                 f"({n_below} of {len(lit)} below the model's interval)")
            row["note"] = "; ".join(parts)
        rows.append(row)
    cols = ["driver", "history", "history_low", "history_high", "model_fit", "model_fit_low", "model_fit_high",
            "perturbation", "perturbation_low", "perturbation_high", "difference", "difference_low",
            "difference_high", "verdict", "note"]
    return pd.DataFrame(rows).reindex(columns=cols)


def project_co2(fit: StirpatFit, runs: Mapping[str, pd.DataFrame], *, label: str, anchor_year: int = 2020,
                end_year: int | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """CO2 paths that a STIRPAT fit predicts from the model's projected drivers.

    ``ln CO2_hat(t) = ln CO2_model(anchor) + sum_j b_j [ln X_j(t) - ln X_j(anchor)]``:
    only the elasticities are used (intercepts, fixed effects and year effects
    cannot be carried to another city's future), anchored on the model's
    own CO2 in ``anchor_year``, so any gap comes from the elasticities alone.
    The interval propagates the covariance of the slopes
    (``x' V x``); it is the uncertainty of the elasticities, not of a forecast.

    Parameters
    ----------
    fit : StirpatFit
        A fit whose drivers are in :data:`MODEL_VARIABLES` (no squared terms).
    runs : mapping of str to pandas.DataFrame
        Scenario -> model run (:func:`megacity_sd.simulate.run`).
    label : str
        Name of the projection in the output.

    Returns
    -------
    pandas.DataFrame
        ``projection, scenario, year, model, stirpat, stirpat_low,
        stirpat_high`` (tCO2/Year).
    """
    end_year = model_years()[1] if end_year is None else end_year
    slopes = [t for t in fit.terms if t != "const"]
    if any(t.endswith("_sq") for t in slopes):
        raise ValueError("project_co2 needs a fit without squared terms (units of A would matter)")
    drivers = [t.removeprefix("ln_") for t in slopes]
    b = fit.params[slopes].to_numpy()
    V = fit.cov.loc[slopes, slopes].to_numpy()
    q = stats.t.ppf(1 - alpha / 2, fit.df_resid)
    frames = []
    for scen, wide in runs.items():
        w = wide.loc[anchor_year:end_year]
        dx = np.column_stack([np.log(w[MODEL_VARIABLES[d]]) - np.log(w.at[anchor_year, MODEL_VARIABLES[d]])
                              for d in drivers])
        mean = dx @ b
        se = np.sqrt(np.einsum("ij,jk,ik->i", dx, V, dx))
        anchor = np.log(w.at[anchor_year, MODEL_VARIABLES["co2"]])
        frames.append(pd.DataFrame({"projection": label, "scenario": scen, "year": w.index.astype(int),
                                    "model": w[MODEL_VARIABLES["co2"]].to_numpy(),
                                    "stirpat": np.exp(anchor + mean), "stirpat_low": np.exp(anchor + mean - q * se),
                                    "stirpat_high": np.exp(anchor + mean + q * se)}))
    return pd.concat(frames, ignore_index=True)


def gap_per_decade(paths: pd.DataFrame) -> pd.DataFrame:
    """Gap between the model's CO2 and a STIRPAT projection, per decade.

    Returns
    -------
    pandas.DataFrame
        ``projection, scenario, decade`` (``2021-2030`` ...), ``model_mt,
        stirpat_mt`` (decade means, in the display unit of CO2, Mt CO2/yr),
        ``gap_mt`` (model - STIRPAT),
        ``gap_pct`` (100 * (model / STIRPAT - 1)), ``years_inside`` (share of
        the decade's years where the model lies inside the STIRPAT interval).
    """
    p = paths[paths["year"] > paths["year"].min()].copy()
    p["decade"] = ((p["year"] - 1) // 10) * 10 + 1
    p["inside"] = (p["model"] >= p["stirpat_low"]) & (p["model"] <= p["stirpat_high"])
    g = p.groupby(["projection", "scenario", "decade"], sort=False).agg(
        model=("model", "mean"), stirpat=("stirpat", "mean"), inside=("inside", "mean")).reset_index()
    per_mt = 1.0 / display_of(MODEL_VARIABLES["co2"]).scale  # tCO2 per Mt CO2 (1e6 exactly: the same numbers)
    return pd.DataFrame({"projection": g["projection"], "scenario": g["scenario"],
                         "decade": [f"{d}-{d + 9}" for d in g["decade"]], "model_mt": g["model"] / per_mt,
                         "stirpat_mt": g["stirpat"] / per_mt, "gap_mt": (g["model"] - g["stirpat"]) / per_mt,
                         "gap_pct": 100 * (g["model"] / g["stirpat"] - 1), "years_inside": g["inside"]})


@dataclass
class CrosscheckResult:
    """Everything :func:`crosscheck` computed.

    Attributes
    ----------
    city : str
    verdict : pandas.DataFrame
        :func:`compare_elasticities`.
    gaps : pandas.DataFrame
        :func:`gap_per_decade` for each projection and scenario.
    paths : pandas.DataFrame
        :func:`project_co2` for each projection and scenario.
    owid : pandas.DataFrame
        :func:`owid_check`.
    perturbation : pandas.DataFrame
        :func:`perturbation_elasticities`.
    fits : dict of str to StirpatFit
        ``history``, ``model`` (P, A), ``model_pat`` (P, A, T), ``owid_pat``.
    central : dict of str to pandas.DataFrame
        Scenario -> the model run with the city's own parameters.
    notes : list of str
    verdict_local : pandas.DataFrame or None
        :func:`compare_elasticities` against the local (GTWR or GWR) estimates
        of the city's province in recent years, when asked for.
    """

    city: str
    verdict: pd.DataFrame
    gaps: pd.DataFrame
    paths: pd.DataFrame
    owid: pd.DataFrame
    perturbation: pd.DataFrame
    fits: dict
    central: dict
    anchor_year: int
    notes: list = field(default_factory=list)
    verdict_local: pd.DataFrame | None = None


def crosscheck(city: str = "shanghai", *, scenarios: Sequence[str] | None = None, n_members: int = 40,
               seed: int | None = 1, engine: str = "simlin", anchor_year: int = 2020,
               alpha: float = 0.05, local: str | None = None, local_bandwidth: float | None = None,
               local_tau: float | None = None, local_years: tuple[int, int] = (2013, 2017)) -> CrosscheckResult:
    """Confront the model with STIRPAT both ways (issue 4).

    1. Elasticities: :func:`fit_history` (three cities with CO2, population and
       GDP together; city and year effects) against :func:`fit_model_panel`
       (same form, on the model's output over ``scenarios`` x the city's own
       parameters and ``n_members`` seeded members) and
       :func:`perturbation_elasticities`; verdict by
       :func:`compare_elasticities`.
       With ``local`` (``"gtwr"`` or ``"gwr"``), the model's elasticities are
       also compared with the local estimates of the city's province in
       ``local_years`` (:func:`megacity_sd.stirpat.fit_local` on the shipped
       provincial panel; the bandwidth and ``tau`` are searched by AICc unless
       given, which takes minutes).
    2. Paths: :func:`project_co2` from the model's projected drivers, per
       scenario, with (a) the historical elasticities (P, A) and (b) the
       OWID cross-national P, A, T elasticities; :func:`gap_per_decade`.

    Returns
    -------
    CrosscheckResult

    Raises
    ------
    UserInputError
        Unknown city or scenario.
    """
    from ..scenario import load_scenario

    if n_members < 2:
        raise UserInputError(f"n_members {n_members}: not allowed; allowed: an integer >= 2")
    if seed is not None and seed < 0:
        raise UserInputError(f"seed {seed}: not allowed; allowed: an integer >= 0")
    name = load_scenario("baseline", city=city).city
    hist_fit = fit_history(alpha=alpha)
    panel, central = model_panel(city, scenarios, n_members, seed, engine)
    model_fit = fit_model_panel(panel, ("population", "gdp_per_capita"), alpha=alpha)
    model_pat = fit_model_panel(panel, ("population", "gdp_per_capita", "energy_intensity"), alpha=alpha)
    pert = perturbation_elasticities(city, n_members, seed, engine)
    owid = owid_check(alpha)
    owid_pat = fit_stirpat(load_owid_panel(), "co2", ["population", "gdp_per_capita", "energy_intensity"],
                           time_effects=True, cov_type="cluster", cluster_by="iso_code", alpha=alpha,
                           source="megacity_sd/data/owid_stirpat_panel.csv")
    verdict = compare_elasticities(hist_fit, model_fit, pert, model_fit_pat=model_pat, owid=owid, alpha=alpha)
    verdict_local = None
    if local is not None:
        from .local import fit_local
        from .local_data import load_province_panel
        from .local_results import local_elasticities

        lfit = fit_local(load_province_panel(), "co2", ["population", "gdp_per_capita"], entity="province",
                         method=local, bandwidth=local_bandwidth, tau=local_tau, alpha=alpha,
                         source="megacity_sd/data/province_panel.csv")
        local_est = local_elasticities(lfit, name, local_years, alpha=alpha)
        verdict_local = compare_elasticities(local_est, model_fit, pert, model_fit_pat=model_pat, owid=owid,
                                             alpha=alpha)
    paths = pd.concat([project_co2(hist_fit, central, label="history P,A", anchor_year=anchor_year, alpha=alpha),
                       project_co2(owid_pat, central, label="OWID P,A,T", anchor_year=anchor_year, alpha=alpha)],
                      ignore_index=True)
    n_runs = panel["entity"].nunique()
    n_all = len(central) * (n_members + 1)
    panel_params = list(sample_ensemble(1, seed).columns) if n_members else []
    notes = [
        f"history: {hist_fit.nobs} city-years ({', '.join(sorted(history_panel()[0]['city'].unique()))}); "
        + "; ".join(hist_fit.notes),
        f"model: {n_runs} of {n_all} runs usable (all values positive and finite; {len(central)} scenarios x "
        f"{n_members + 1} parameter sets, seed {seed}, "
        f"engine {engine}); uncertain parameters: those of scenarios/uncertainty.yaml ({', '.join(panel_params)})",
        f"projections use only the elasticities, anchored on the model's CO2 in {anchor_year}; the historical one "
        "holds the year effect of the anchor year (no common technical change after it), the OWID one uses the "
        "model's own T (final energy per GDP, against primary energy per GDP in OWID)",
        YORK_2003_NOTE,
    ]
    return CrosscheckResult(city=name, verdict=verdict, gaps=gap_per_decade(paths), paths=paths, owid=owid,
                            perturbation=pert, fits={"history": hist_fit, "model": model_fit, "model_pat": model_pat,
                                                     "owid_pat": owid_pat},
                            central=central, anchor_year=anchor_year, notes=notes, verdict_local=verdict_local)
