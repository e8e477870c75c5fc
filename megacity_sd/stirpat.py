"""STIRPAT regression, and the cross-check of the model's CO2 against it.

STIRPAT (Dietz & Rosa 1997, PNAS 94:175, doi:10.1073/pnas.94.1.175; York,
Rosa & Dietz 2003, Ecol. Econ. 46:351, doi:10.1016/S0921-8009(03)00188-5) is
the stochastic form of I = P A T, estimated in logs::

    ln I = a + b ln P + c ln A + d ln T [+ e (ln A)^2] [+ entity and year effects] + u

so that b, c, d are elasticities. Every fit here is a statsmodels fit
(:class:`statsmodels.regression.linear_model.OLS`; ridge by
``OLS.fit_regularized(alpha=..., L1_wt=0)``); :class:`StirpatFit` is a thin
wrapper that keeps the statsmodels results objects and adds the elasticity
table, the variance inflation factors and the notes on how the fit was made.

The cross-check (:func:`crosscheck`) confronts the system-dynamics model with
STIRPAT both ways: elasticities fitted on the five cities' history against
those implied by the model (a fit on its own output over its scenarios and a
seeded ensemble of uncertain parameters, and a perturbation of each driver);
and CO2 paths that the fitted elasticities predict from the model's projected
P, A and T against the model's own CO2.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.outliers_influence import variance_inflation_factor

from .data import DATA_DIR, history
from .errors import UserInputError

__all__ = [
    "COV_TYPES",
    "METHODS",
    "MODEL_VARIABLES",
    "PERTURBATIONS",
    "GDP_VINTAGE_BREAK",
    "StirpatFit",
    "CrosscheckResult",
    "fit_stirpat",
    "hkb_ridge_constant",
    "vif_table",
    "load_owid_panel",
    "load_literature",
    "owid_check",
    "history_panel",
    "fit_history",
    "sample_ensemble",
    "STIRPAT_SCENARIOS",
    "model_panel",
    "fit_model_panel",
    "perturbation_elasticities",
    "compare_elasticities",
    "project_co2",
    "gap_per_decade",
    "plot_paths",
    "plot_elasticities",
    "write_crosscheck_figures",
    "crosscheck",
]

METHODS = ("ols", "ridge")
COV_TYPES = ("nonrobust", "HC1", "cluster", "hac-panel")
HKB_RULE = ("Hoerl-Kennard-Baldwin (1975): k = p * s^2 / (g'g), with g the OLS coefficients of the p "
            "penalised log terms scaled to unit centred sum of squares (correlation form) and s^2 the OLS "
            "residual variance; only the log terms are penalised, never the intercept or the fixed effects")

#: Model variables for the STIRPAT quantities (model units: tCO2/Year, person,
#: yuan/(person*Year) at 2005 prices, tce/yuan).
MODEL_VARIABLES = {"co2": "CO2 emissions", "population": "Population", "gdp_per_capita": "GDP per capita",
                   "energy_intensity": "energy intensity of GDP"}


#: Constants moved together (by the same relative step) to perturb each driver:
#: population by its initial level and its cap together (the city scaled: with
#: the initial level alone, the cap pulls population back while the initial
#: GDP stays raised), affluence by the initial productivity growth rate, energy
#: intensity by every initial energy intensity of final demand (industry,
#: services, buildings, vehicles).
PERTURBATIONS = {
    "population": ("initial population", "population cap"),
    "gdp_per_capita": ("productivity growth initial",),
    "energy_intensity": ("initial industry energy intensity", "initial services energy intensity",
                         "conventional energy intensity", "initial ICE fuel intensity", "diesel bus fuel intensity",
                         "CNG bus fuel intensity", "initial truck fuel intensity", "NEV electricity intensity",
                         "electric bus electricity intensity"),
}

#: First year of the final-GDP vintage where the history file has a vintage
#: break in current-price GDP (megacity_sd/data/README.md): later years are
#: left out of the historical fit.
GDP_VINTAGE_BREAK = {"beijing": 2018, "tianjin": 2018}

#: Scenarios of the model panel by default: the six of the first round. ``neutrality`` and
#: ``city_plans`` change the carbon content of energy itself (capture, clean imports, hydrogen,
#: clean fuels), which a STIRPAT fit in P, A and T cannot represent; pass them explicitly to include them.
STIRPAT_SCENARIOS = ("baseline", "energy_structure", "transport", "buildings", "combined", "end_of_pipe")

YORK_2003_NOTE = ("York, Rosa & Dietz (2003) report a population elasticity of CO2 indistinguishable from 1 "
                  "across nations (abstract; their numeric table is not on file)")


# ---------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------

@dataclass
class StirpatFit:
    """A STIRPAT fit: the statsmodels results and what is needed to read them.

    Attributes
    ----------
    results : statsmodels RegressionResultsWrapper
        The OLS fit (for ``method="ridge"`` the OLS fit of the same design,
        which gives the residual variance used by the ridge rule).
    ridge : statsmodels RegularizedResultsWrapper or None
        The ridge fit, ``OLS.fit_regularized(alpha=..., L1_wt=0)``, on the
        design with the log terms scaled to correlation form.
    method : str
        ``"ols"`` or ``"ridge"``.
    terms : list of str
        Reported terms: ``const`` and ``ln_<driver>`` (elasticities), plus
        ``ln_<driver>_sq`` with the EKC term. Fixed effects are not listed.
    params, cov : pandas.Series, pandas.DataFrame
        Estimates and their covariance over ``terms`` (ridge: the ridge
        estimates and the Hoerl-Kennard sandwich covariance).
    vif : pandas.Series
        Variance inflation factor of each log term in the full design
        (fixed effects included, so a within-VIF in a panel).
    ridge_k : float or None
        The ridge constant in correlation form, and ``ridge_rule`` how it was
        chosen.
    notes : list of str
        How the fit was made, and what was dropped.
    """

    results: object
    method: str
    dependent: str
    drivers: list[str]
    terms: list[str]
    params: pd.Series
    cov: pd.DataFrame
    vif: pd.Series
    entity: str | None = None
    time_effects: bool = False
    cov_type: str = "nonrobust"
    ridge: object | None = None
    ridge_k: float | None = None
    ridge_rule: str | None = None
    alpha: float = 0.05
    n_entities: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def nobs(self) -> int:
        return int(self.results.nobs)

    @property
    def df_resid(self) -> float:
        return float(self.results.df_resid)

    def table(self, alpha: float | None = None) -> pd.DataFrame:
        """Estimates with standard errors and confidence intervals.

        Returns
        -------
        pandas.DataFrame
            Columns ``term, estimate, std_err, ci_low, ci_high``; the log
            terms' estimates are elasticities (dimensionless).
        """
        alpha = self.alpha if alpha is None else alpha
        se = np.sqrt(np.diag(self.cov.to_numpy()))
        if self.method == "ols":
            ci = self.results.conf_int(alpha=alpha).loc[self.terms].to_numpy()
        else:  # t quantile with the OLS residual degrees of freedom, around the (biased) ridge estimate
            q = stats.t.ppf(1 - alpha / 2, self.df_resid)
            ci = np.column_stack([self.params.to_numpy() - q * se, self.params.to_numpy() + q * se])
        return pd.DataFrame({"term": self.terms, "estimate": self.params.to_numpy(), "std_err": se,
                             "ci_low": ci[:, 0], "ci_high": ci[:, 1]})

    def info(self) -> pd.DataFrame:
        """How the fit was made, as ``key, value`` rows (written beside the table)."""
        rows = [("dependent", f"ln {self.dependent}"), ("drivers", ", ".join(self.drivers)),
                ("method", self.method), ("nobs", self.nobs), ("df_resid", self.df_resid),
                ("entity_fixed_effects", self.entity or "none"),
                ("entities", self.n_entities if self.n_entities is not None else ""),
                ("time_fixed_effects", "yes" if self.time_effects else "no"), ("cov_type", self.cov_type),
                ("r_squared_ols", float(self.results.rsquared)), ("ci_level", 1 - self.alpha)]
        if self.method == "ridge":
            rows += [("ridge_k", self.ridge_k), ("ridge_rule", self.ridge_rule)]
        rows += [(f"vif {t}", float(v)) for t, v in self.vif.items()]
        rows += [("note", n) for n in self.notes]
        return pd.DataFrame(rows, columns=["key", "value"])

    def summary(self) -> str:
        """The regression summary: statsmodels' header and term table, VIFs, notes."""
        with warnings.catch_warnings():  # the F test of a fixed-effects design with a robust covariance warns
            warnings.simplefilter("ignore")
            head = self.results.summary(yname=f"ln_{self.dependent}").tables[0].as_text()
        tab = self.table()
        lines = [head, f"{'term':<28} {'estimate':>10} {'std err':>10} {'ci low':>10} {'ci high':>10} {'VIF':>8}"]
        for r in tab.itertuples(index=False):
            v = self.vif.get(r.term, np.nan)
            vs = f"{v:8.1f}" if np.isfinite(v) else f"{'':8}"
            lines.append(f"{r.term:<28} {r.estimate:10.4f} {r.std_err:10.4f} {r.ci_low:10.4f} {r.ci_high:10.4f} {vs}")
        fe = []
        if self.entity:
            fe.append(f"{self.n_entities} {self.entity} intercepts")
        if self.time_effects:
            fe.append("year effects")
        lines.append(f"method {self.method}; covariance {self.cov_type}; {100 * (1 - self.alpha):.0f} % intervals; "
                     f"fixed effects absorbed: {', '.join(fe) or 'none'}")
        if self.method == "ridge":
            lines.append(f"ridge constant k = {self.ridge_k:.4g} ({self.ridge_rule}); intervals are around the "
                         "shrunken estimate and ignore its bias")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def elasticity(self, driver: str) -> float:
        """The elasticity of the dependent with respect to ``driver``."""
        return float(self.params[f"ln_{driver}"])


def _fail(source: str, message: str):
    raise UserInputError(f"{source}: {message}")


def _design(data: pd.DataFrame, dependent: str, drivers: Sequence[str], *, entity: str | None,
            time: str | None, time_effects: bool, ekc: str | None, cluster_by: str | None, source: str):
    """Check a user table and build ``y`` and the design matrix (const, log terms, fixed effects)."""
    drivers = list(drivers)
    if not drivers:
        _fail(source, "no drivers given; give at least one column, e.g. population,gdp_per_capita")
    if len(set(drivers)) != len(drivers):
        _fail(source, f"drivers {', '.join(drivers)}: each column may appear once")
    if dependent in drivers:
        _fail(source, f"column '{dependent}' is the dependent and cannot also be a driver")
    if ekc is not None and ekc not in drivers:
        _fail(source, f"EKC column '{ekc}' must be one of the drivers: {', '.join(drivers)}")
    needed = [dependent, *drivers]
    extra = [c for c in (entity, time if (time_effects or entity) else None, cluster_by) if c]
    available = [str(c) for c in data.columns]
    for col in [*needed, *extra]:
        if col not in data.columns:
            _fail(source, f"column '{col}' not found; allowed: {', '.join(available)}")
    frame = data[list(dict.fromkeys([*needed, *extra]))].copy()
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="data_row")  # 1-based data row numbers for messages
    for col in needed:
        num = pd.to_numeric(frame[col], errors="coerce")
        bad = num.isna() & frame[col].notna()
        if bad.any():
            row = bad.idxmax()
            _fail(source, f"column '{col}' must be numeric (data row {row}: {frame.at[row, col]!r})")
        frame[col] = num.astype(float)
    notes = []
    complete = frame.dropna()
    if len(complete) < len(frame):
        notes.append(f"{len(frame) - len(complete)} row(s) with a missing value in {', '.join(frame.columns)} "
                     "left out")
    frame = complete
    for col in needed:
        bad = frame[col] <= 0
        if bad.any():
            row = bad.idxmax()
            _fail(source, f"column '{col}' has {int(bad.sum())} non-positive value(s) (first {frame.at[row, col]:g} "
                  f"at data row {row}); a log is taken, so values must be > 0")
    for col in drivers:
        if frame[col].nunique() <= 1:
            value = frame[col].iloc[0] if len(frame) else float("nan")
            _fail(source, f"column '{col}' is constant ({value:g}); a driver must vary")
    if entity and time and frame.duplicated([entity, time]).any():
        dup = frame[frame.duplicated([entity, time])].iloc[0]
        _fail(source, f"columns '{entity}', '{time}': more than one row for ({dup[entity]}, {dup[time]}); "
              "one row per entity and year is allowed")
    if entity or time_effects:
        frame = frame.sort_values([c for c in (entity, time) if c and c in frame.columns], kind="stable")
    y = np.log(frame[dependent]).rename(f"ln_{dependent}")
    X = pd.DataFrame({"const": 1.0}, index=frame.index)
    terms = ["const"]
    for col in drivers:
        X[f"ln_{col}"] = np.log(frame[col])
        terms.append(f"ln_{col}")
    if ekc is not None:
        X[f"ln_{ekc}_sq"] = np.log(frame[ekc]) ** 2
        terms.append(f"ln_{ekc}_sq")
    fe_cols = []
    for col, on in ((entity, bool(entity)), (time, time_effects)):
        if on:
            dummies = pd.get_dummies(frame[col].astype(str), prefix=f"fe_{col}", prefix_sep="=", drop_first=True,
                                     dtype=float)
            X = pd.concat([X, dummies], axis=1)
            fe_cols += list(dummies.columns)
    k = X.shape[1]
    if len(frame) <= k:
        _fail(source, f"{len(frame)} complete row(s) for {k} parameter(s) ({len(terms)} term(s) and {len(fe_cols)} "
              f"fixed effect(s)); at least {k + 1} rows are needed")
    # drivers that the fixed effects (or the other drivers) absorb
    for col, by in ((entity, "entity"), (time, "year")):
        if (col == entity and entity) or (col == time and time_effects):
            for d in drivers:
                logs = np.log(frame[d])
                within = logs - logs.groupby(frame[col]).transform("mean")
                if np.allclose(within.to_numpy(), 0.0, atol=1e-12):
                    _fail(source, f"column '{d}' is constant within every {col} value, so the {by} fixed effects "
                          f"absorb it; a driver must vary within '{col}'")
    rank = np.linalg.matrix_rank(X.to_numpy())
    if rank < k:
        for t in terms[1:]:
            if np.linalg.matrix_rank(X.drop(columns=t).to_numpy()) == rank:
                _fail(source, f"term '{t}' is collinear with the other terms or fixed effects; drop that driver "
                      "or one it duplicates")
        _fail(source, "the design is rank deficient; drop a driver")
    groups = frame[entity].to_numpy() if entity else None
    clusters = frame[cluster_by].to_numpy() if cluster_by else groups
    n_ent = int(frame[entity].nunique()) if entity else None
    return y, X, terms, groups, clusters, n_ent, notes


def hkb_ridge_constant(params: np.ndarray, sigma2: float) -> float:
    """Hoerl-Kennard-Baldwin ridge constant.

    ``k = p * sigma2 / (g'g)`` for the OLS coefficients ``g`` of ``p``
    regressors in correlation form (centred, unit sum of squares) and the OLS
    residual variance ``sigma2``. Hoerl, Kennard & Baldwin (1975), Commun.
    Stat. 4(2):105-123, doi:10.1080/03610927508827232.

    Parameters
    ----------
    params : array_like
        OLS coefficients of the penalised, correlation-form regressors.
    sigma2 : float
        OLS residual variance (``results.scale``).

    Returns
    -------
    float
        The ridge constant ``k`` (dimensionless, in correlation form).
    """
    g = np.asarray(params, dtype=float)
    return float(len(g) * sigma2 / np.dot(g, g))


def vif_table(X: pd.DataFrame, terms: Sequence[str]) -> pd.Series:
    """Variance inflation factors of ``terms`` within the design ``X``.

    Uses :func:`statsmodels.stats.outliers_influence.variance_inflation_factor`
    on the full design (with its constant and fixed effects).
    """
    exog = X.to_numpy()
    cols = list(X.columns)
    return pd.Series({t: float(variance_inflation_factor(exog, cols.index(t))) for t in terms}, name="vif")


def fit_stirpat(data: pd.DataFrame, dependent: str, drivers: Sequence[str], *, entity: str | None = None,
                time: str | None = "year", time_effects: bool = False, ekc: str | None = None,
                method: str = "ols", ridge_k: float | None = None, cov_type: str = "nonrobust",
                cluster_by: str | None = None, maxlags: int = 2, alpha: float = 0.05,
                source: str = "data") -> StirpatFit:
    """Fit ln I = a + sum_j b_j ln X_j [+ e (ln A)^2] [+ fixed effects] by OLS or ridge.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per entity and year; ``dependent`` and ``drivers`` must be
        positive numbers (rows with a missing value are left out, and noted).
    dependent : str
        Column of the impact I (e.g. ``co2``).
    drivers : sequence of str
        Columns of the drivers (e.g. ``population, gdp_per_capita,
        energy_intensity``); each enters as its log, so its coefficient is an
        elasticity.
    entity : str, optional
        Column naming the entity: adds entity fixed effects (one intercept
        per entity, as dummies; the first entity is the reference).
    time : str, optional
        Column of the year (for year effects, sorting and ``hac-panel``).
    time_effects : bool
        Add year fixed effects (absorb anything common to all entities in a
        year, e.g. a common price deflator).
    ekc : str, optional
        Driver whose squared log is added (environmental Kuznets curve).
    method : {"ols", "ridge"}
        OLS (``statsmodels.api.OLS``) or ridge
        (``OLS.fit_regularized(alpha, L1_wt=0)``) with only the log terms
        penalised.
    ridge_k : float, optional
        Ridge constant in correlation form; ``None`` chooses it by the
        Hoerl-Kennard-Baldwin rule (:func:`hkb_ridge_constant`). ``0`` gives
        the OLS estimates.
    cov_type : {"nonrobust", "HC1", "cluster", "hac-panel"}
        Covariance of the OLS fit: classical, heteroscedasticity-robust,
        clustered by ``cluster_by`` (default the entity), or Newey-West within
        each entity with ``maxlags`` lags. Ridge uses the classical sandwich
        ``s^2 (Z'Z + K)^-1 Z'Z (Z'Z + K)^-1`` (Hoerl & Kennard 1970).
    cluster_by : str, optional
        Column for ``cov_type="cluster"`` (default: ``entity``).
    maxlags : int
        Lags for ``hac-panel``.
    alpha : float
        1 - confidence level of the intervals.
    source : str
        Name of the data (a file path) used in error messages.

    Returns
    -------
    StirpatFit

    Raises
    ------
    UserInputError
        Missing column, non-numeric or non-positive values, a constant driver
        (also within every entity or year when those effects are on), too few
        rows for the terms, an unknown method or covariance.
    """
    if method not in METHODS:
        _fail(source, f"method '{method}' not allowed; allowed: {', '.join(METHODS)}")
    if cov_type not in COV_TYPES:
        _fail(source, f"covariance '{cov_type}' not allowed; allowed: {', '.join(COV_TYPES)}")
    if cov_type in ("cluster", "hac-panel") and not (entity or cluster_by):
        _fail(source, f"covariance '{cov_type}' needs an entity column (--entity)")
    if ridge_k is not None and not (np.isfinite(ridge_k) and ridge_k >= 0):
        _fail(source, f"ridge constant {ridge_k!r} not allowed; allowed: a number >= 0")
    y, X, terms, groups, clusters, n_ent, notes = _design(
        data, dependent, drivers, entity=entity, time=time, time_effects=time_effects, ekc=ekc,
        cluster_by=cluster_by if cov_type == "cluster" else None, source=source)
    model = sm.OLS(y, X)
    kw = {"method": "qr"}  # full column rank is checked above; QR is much faster than pinv on panel dummies
    if cov_type == "cluster":
        results = model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(clusters)[0]}, **kw)
    elif cov_type == "hac-panel":
        results = model.fit(cov_type="hac-panel", cov_kwds={"groups": pd.factorize(groups)[0], "maxlags": maxlags},
                            **kw)
    elif cov_type == "HC1":
        results = model.fit(cov_type="HC1", **kw)
    else:
        results = model.fit(**kw)
    log_terms = terms[1:]
    vif = vif_table(X, log_terms)
    fit = StirpatFit(results=results, method=method, dependent=dependent, drivers=list(drivers), terms=terms,
                     params=results.params[terms], cov=results.cov_params().loc[terms, terms], vif=vif,
                     entity=entity, time_effects=time_effects, cov_type=cov_type, alpha=alpha, n_entities=n_ent,
                     notes=notes)
    if method == "ridge":
        _ridge(fit, y, X, log_terms, ridge_k)
    if ekc is not None:
        c, e = fit.params[f"ln_{ekc}"], fit.params[f"ln_{ekc}_sq"]
        lo, hi = np.exp(X[f"ln_{ekc}"].min()), np.exp(X[f"ln_{ekc}"].max())
        kind = "peak" if e < 0 else "trough"
        fit.notes.append(f"EKC: elasticity of {ekc} = {c:.3g} + 2 * {e:.3g} * ln {ekc}; {kind} at "
                         f"{ekc} = exp(-c / 2e) = {np.exp(-c / (2 * e)):.4g} (data range {lo:.4g} to {hi:.4g})")
    return fit


def _ridge(fit: StirpatFit, y: pd.Series, X: pd.DataFrame, log_terms: list[str], ridge_k: float | None) -> None:
    """Ridge on the design with the log terms in correlation form; fills ``fit`` in place."""
    centred = X[log_terms] - X[log_terms].mean()
    scale = np.sqrt((centred ** 2).sum())
    Z = X.copy()
    Z[log_terms] = X[log_terms] / scale
    ols_z = sm.OLS(y, Z).fit()
    if ridge_k is None:
        k, rule = hkb_ridge_constant(ols_z.params[log_terms].to_numpy(), ols_z.scale), HKB_RULE
    else:
        k, rule = float(ridge_k), "fixed by the user"
    pen = np.array([k if c in log_terms else 0.0 for c in Z.columns])
    n = len(y)
    ridge = sm.OLS(y, Z).fit_regularized(alpha=pen / n, L1_wt=0)  # statsmodels: (Z'Z + n*alpha) b = Z'y
    # Hoerl-Kennard covariance of the ridge estimator, back to the original scale of the log terms
    ZtZ = Z.to_numpy().T @ Z.to_numpy()
    inv = np.linalg.inv(ZtZ + np.diag(pen))
    cov_z = ols_z.scale * inv @ ZtZ @ inv
    back = np.array([1.0 / scale[c] if c in log_terms else 1.0 for c in Z.columns])
    params = pd.Series(np.asarray(ridge.params) * back, index=Z.columns)
    cov = pd.DataFrame(cov_z * np.outer(back, back), index=Z.columns, columns=Z.columns)
    fit.ridge, fit.ridge_k, fit.ridge_rule = ridge, k, rule
    fit.params = params[fit.terms]
    fit.cov = cov.loc[fit.terms, fit.terms]
    fit.cov_type = "nonrobust (ridge sandwich)"


# ---------------------------------------------------------------------------
# data shipped with the package: OWID panel and published estimates
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# the five cities' history
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# the model's side: ensemble, panel fit, perturbation
# ---------------------------------------------------------------------------

def _default(name: str, constants: Mapping[str, float]) -> float:
    from .model import canonical, model_doc

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
    from .sensitivity import load_uncertainty

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
    from .engines import run_batch
    from .run import run
    from .scenario import load_scenario

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
                    years: tuple[int, int] = (2005, 2060), year_step: int = 5, alpha: float = 0.05) -> StirpatFit:
    """STIRPAT fitted on the model's own output, in the historical fit's form.

    Entity (scenario x member) and year fixed effects, OLS, standard errors
    clustered by ensemble member (a member's runs under the six scenarios
    share its parameters). With year effects the slopes come from
    differences between runs in the same year, i.e. from the uncertain
    parameters and the scenarios: the elasticities the model's structure
    implies, comparable with :func:`fit_history`. The model's output is
    smooth, so it is taken every ``year_step`` years (2005, 2010, ...): the
    annual values add rows, not information, and make the dummy design slow.
    """
    sel = panel[(panel["year"] >= years[0]) & (panel["year"] <= years[1])
                & ((panel["year"] - years[0]) % year_step == 0)]
    fit = fit_stirpat(sel, "co2", list(drivers), entity="entity", time="year", time_effects=True,
                      cov_type="cluster", cluster_by="member", alpha=alpha, source="model ensemble")
    fit.notes.append(f"model output {years[0]}-{years[1]} every {year_step} year(s), {sel['scenario'].nunique()} "
                     f"scenario(s) x {sel['member'].nunique()} parameter set(s); s.e. clustered by parameter set")
    return fit


def perturbation_elasticities(city: str = "shanghai", n_members: int = 40, seed: int | None = 1,
                              engine: str = "simlin", step: float = 0.01,
                              years: tuple[int, int] = (2006, 2060)) -> pd.DataFrame:
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
    from .engines import run_batch
    from .model import canonical, model_doc
    from .scenario import load_scenario

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


# ---------------------------------------------------------------------------
# the comparison
# ---------------------------------------------------------------------------

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
                end_year: int = 2060, alpha: float = 0.05) -> pd.DataFrame:
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
        Scenario -> model run (:func:`megacity_sd.run.run`).
    label : str
        Name of the projection in the output.

    Returns
    -------
    pandas.DataFrame
        ``projection, scenario, year, model, stirpat, stirpat_low,
        stirpat_high`` (tCO2/Year).
    """
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
        stirpat_mt`` (decade means, Mt CO2/yr), ``gap_mt`` (model - STIRPAT),
        ``gap_pct`` (100 * (model / STIRPAT - 1)), ``years_inside`` (share of
        the decade's years where the model lies inside the STIRPAT interval).
    """
    p = paths[paths["year"] > paths["year"].min()].copy()
    p["decade"] = ((p["year"] - 1) // 10) * 10 + 1
    p["inside"] = (p["model"] >= p["stirpat_low"]) & (p["model"] <= p["stirpat_high"])
    g = p.groupby(["projection", "scenario", "decade"], sort=False).agg(
        model=("model", "mean"), stirpat=("stirpat", "mean"), inside=("inside", "mean")).reset_index()
    return pd.DataFrame({"projection": g["projection"], "scenario": g["scenario"],
                         "decade": [f"{d}-{d + 9}" for d in g["decade"]], "model_mt": g["model"] / 1e6,
                         "stirpat_mt": g["stirpat"] / 1e6, "gap_mt": (g["model"] - g["stirpat"]) / 1e6,
                         "gap_pct": 100 * (g["model"] / g["stirpat"] - 1), "years_inside": g["inside"]})


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------

_PROJ_STYLE = {0: dict(color="#2b6cb0", ls="--"), 1: dict(color="#c05621", ls=":")}


def plot_paths(paths: pd.DataFrame, scenario: str, ax, *, hist: pd.DataFrame | None = None,
               model_history: pd.Series | None = None, color: str = "#444444"):
    """Model CO2 and the STIRPAT projections (with intervals) for one scenario.

    Returns
    -------
    matplotlib.axes.Axes
    """
    sel = paths[paths["scenario"] == scenario]
    if model_history is not None:
        ax.plot(model_history.index, model_history.to_numpy() / 1e6, color=color, lw=1.0, alpha=0.6)
    first = sel[sel["projection"] == sel["projection"].iloc[0]]
    ax.plot(first["year"], first["model"] / 1e6, color=color, lw=1.8, label="model")
    for i, (name, s) in enumerate(sel.groupby("projection", sort=False)):
        st = _PROJ_STYLE.get(i, {})
        ax.plot(s["year"], s["stirpat"] / 1e6, lw=1.4, label=f"STIRPAT: {name}", **st)
        ax.fill_between(s["year"], s["stirpat_low"] / 1e6, s["stirpat_high"] / 1e6, color=st.get("color"),
                        alpha=0.15, lw=0)
    if hist is not None and not hist.empty:
        ax.plot(hist["year"], hist["value"] / 1e6, "o", ms=2.5, color="black", label="CEADs history")
    ax.set_title(scenario)
    ax.set_ylabel("Mt CO2/yr")
    return ax


def plot_elasticities(rows: pd.DataFrame, ax, driver: str):
    """Dot-and-interval plot of the elasticity estimates of one driver.

    ``rows``: ``label, estimate, low, high, kind`` (kind picks the colour).
    """
    colors = {"history": "black", "model": "#2b6cb0", "owid": "#c05621", "literature": "#718096"}
    sel = rows[rows["driver"] == driver].reset_index(drop=True)
    ypos = np.arange(len(sel))[::-1]
    for y, r in zip(ypos, sel.itertuples(index=False), strict=True):
        c = colors.get(r.kind, "gray")
        if np.isfinite(r.low) and np.isfinite(r.high):
            ax.plot([r.low, r.high], [y, y], color=c, lw=2 if r.kind != "literature" else 1)
        ax.plot([r.estimate], [y], "o", color=c, ms=4)
    ax.set_yticks(ypos)
    ax.set_yticklabels(sel["label"])
    ax.axvline(1.0, color="gray", lw=0.6, ls=":")
    ax.axvline(0.0, color="gray", lw=0.6)
    ax.set_title({"population": "population (P)", "gdp_per_capita": "GDP per capita (A)",
                  "energy_intensity": "energy intensity (T)"}[driver])
    ax.set_xlabel("elasticity of CO2")
    return ax


def _forest_rows(result: CrosscheckResult) -> pd.DataFrame:
    rows = []

    def add(fit, label, kind):
        for r in fit.table().itertuples(index=False):
            if r.term.startswith("ln_") and not r.term.endswith("_sq"):
                rows.append(dict(driver=r.term.removeprefix("ln_"), label=label, estimate=r.estimate,
                                 low=r.ci_low, high=r.ci_high, kind=kind))

    add(result.fits["history"], "history, 3 cities (P,A)", "history")
    add(result.fits["model"], "model fit (P,A)", "model")
    add(result.fits["model_pat"], "model fit (P,A,T)", "model")
    for r in result.perturbation.itertuples(index=False):
        rows.append(dict(driver=r.driver, label="model perturbation", estimate=r.elasticity, low=r.low,
                         high=r.high, kind="model"))
    o = result.owid
    for r in o[o["source"] == "this project"].itertuples(index=False):
        if r.study.endswith("1996"):
            continue
        rows.append(dict(driver=r.term, label=r.study, estimate=r.estimate, low=r.ci_low, high=r.ci_high,
                         kind="owid"))
    lit = o[(o["source"] == "literature") & o["estimate"].notna() & o["dependent"].str.startswith("ln CO2")]
    for r in lit.itertuples(index=False):
        rows.append(dict(driver=r.term, label=r.study, estimate=r.estimate, low=r.ci_low, high=r.ci_high,
                         kind="literature"))
    return pd.DataFrame(rows)


def write_crosscheck_figures(result: CrosscheckResult, out_dir) -> list:
    """Write ``<city>_stirpat_crosscheck.png`` (CO2 paths) and ``<city>_stirpat_elasticities.png``."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    from .plotting import COLORS, STYLE, savefig_atomic

    out_dir = Path(out_dir)
    city = result.city
    written = []
    with plt.rc_context(STYLE):
        scens = list(result.paths["scenario"].unique())
        cols = min(3, len(scens))
        nrows = (len(scens) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.9 * nrows + 0.6), squeeze=False,
                                 sharey=True, sharex=True)
        hist = history(city, "co2")
        for ax, scen in zip(axes.flat, scens, strict=False):
            mh = result.central[scen][MODEL_VARIABLES["co2"]].loc[:2020]
            plot_paths(result.paths, scen, ax, hist=hist, model_history=mh, color=COLORS.get(scen, "#444444"))
            ax.set_xlim(2004, 2061)
        for ax in list(axes.flat)[len(scens):]:
            ax.set_visible(False)
        top = max(result.paths["stirpat_high"].max(), result.paths["model"].max()) / 1e6
        axes[0, 0].set_ylim(0, min(top * 1.05, 4 * result.paths["model"].max() / 1e6))
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, 0.035))
        fig.suptitle(f"{city}: model CO2 vs STIRPAT predicted from the model's own P, A (and T), anchored in "
                     f"{result.anchor_year}\n(bands: 95 % interval of the elasticities)", fontsize=10)
        fig.text(0.5, 0.005, "history P,A: elasticities of the three cities (city and year effects); the year effect "
                 f"is held at its {result.anchor_year} value, i.e. no common technical change after it.\n"
                 "OWID P,A,T: cross-national elasticities (143 countries, year effects) applied to the model's own "
                 "P, A and T.", ha="center", va="bottom", fontsize=7.5, color="#4a5568")
        for ax in axes[:, 1:].flat:
            ax.set_ylabel("")
        fig.tight_layout(rect=(0, 0.085, 1, 1))
        written.append(savefig_atomic(fig, out_dir / f"{city}_stirpat_crosscheck.png"))

        rows = _forest_rows(result)
        counts = rows.groupby("driver").size()
        fig, axes = plt.subplots(1, 3, figsize=(13, 0.32 * counts.max() + 1.6))
        for ax, d in zip(axes, ("population", "gdp_per_capita", "energy_intensity"), strict=True):
            plot_elasticities(rows, ax, d)
        fig.suptitle(f"{city}: elasticities of CO2 - history (black), model (blue), OWID (orange), "
                     "published (grey); 95 % intervals, perturbation: 2.5-97.5 % range", fontsize=10)
        fig.tight_layout()
        written.append(savefig_atomic(fig, out_dir / f"{city}_stirpat_elasticities.png"))
    return written


# ---------------------------------------------------------------------------
# the whole cross-check
# ---------------------------------------------------------------------------

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


def crosscheck(city: str = "shanghai", *, scenarios: Sequence[str] | None = None, n_members: int = 40,
               seed: int | None = 1, engine: str = "simlin", anchor_year: int = 2020,
               alpha: float = 0.05) -> CrosscheckResult:
    """Confront the model with STIRPAT both ways (issue 4).

    1. Elasticities: :func:`fit_history` (three cities with CO2, population and
       GDP together; city and year effects) against :func:`fit_model_panel`
       (same form, on the model's output over ``scenarios`` x the city's own
       parameters and ``n_members`` seeded members) and
       :func:`perturbation_elasticities`; verdict by
       :func:`compare_elasticities`.
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
    from .scenario import load_scenario

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
                            central=central, anchor_year=anchor_year, notes=notes)
