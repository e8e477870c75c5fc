"""STIRPAT regression: ln I = a + b ln P + c ln A + d ln T + e.

OLS or ridge, with fixed effects and robust covariances (statsmodels).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.outliers_influence import variance_inflation_factor

from ..errors import UserInputError

__all__ = [
    "METHODS",
    "COV_TYPES",
    "StirpatFit",
    "hkb_ridge_constant",
    "vif_table",
    "fit_stirpat",
    "check_drivers",
    "numeric_frame",
    "check_logged",
]


METHODS = ("ols", "ridge")


COV_TYPES = ("nonrobust", "HC1", "cluster", "hac-panel")


HKB_RULE = ("Hoerl-Kennard-Baldwin (1975): k = p * s^2 / (g'g), with g the OLS coefficients of the p "
            "penalised log terms scaled to unit centred sum of squares (correlation form) and s^2 the OLS "
            "residual variance; only the log terms are penalised, never the intercept or the fixed effects")


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


def check_drivers(dependent: str, drivers: Sequence[str], source: str) -> list[str]:
    """The drivers as a list: at least one, each once, none the dependent (else one-line errors naming ``source``)."""
    drivers = list(drivers)
    if not drivers:
        _fail(source, "no drivers given; give at least one column, e.g. population,gdp_per_capita")
    if len(set(drivers)) != len(drivers):
        _fail(source, f"drivers {', '.join(drivers)}: each column may appear once")
    if dependent in drivers:
        _fail(source, f"column '{dependent}' is the dependent and cannot also be a driver")
    return drivers


def numeric_frame(data: pd.DataFrame, columns: Sequence[str], numeric: Sequence[str],
                  source: str) -> tuple[pd.DataFrame, list[str]]:
    """A user table's ``columns`` (each must exist), the ``numeric`` ones as floats, rows with a gap left out.

    Returns
    -------
    frame : pandas.DataFrame
        Indexed by the 1-based data row (for messages).
    notes : list of str
        How many rows were left out, if any.
    """
    available = [str(c) for c in data.columns]
    for col in columns:
        if col not in data.columns:
            _fail(source, f"column '{col}' not found; allowed: {', '.join(available)}")
    frame = data[list(dict.fromkeys(columns))].copy()
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="data_row")  # 1-based data row numbers for messages
    for col in numeric:
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
    return complete, notes


def check_logged(frame: pd.DataFrame, dependent: str, drivers: Sequence[str], source: str) -> None:
    """The columns whose logs are taken: every value > 0, and each driver varying (else one-line errors)."""
    for col in [dependent, *drivers]:
        inf = ~np.isfinite(frame[col])
        if inf.any():
            row = inf.idxmax()
            _fail(source, f"column '{col}' has {int(inf.sum())} infinite value(s) (first {frame.at[row, col]:g} at "
                  f"data row {row}); allowed: finite numbers > 0")
        bad = frame[col] <= 0
        if bad.any():
            row = bad.idxmax()
            _fail(source, f"column '{col}' has {int(bad.sum())} non-positive value(s) (first {frame.at[row, col]:g} "
                  f"at data row {row}); a log is taken, so values must be > 0")
    for col in drivers:
        if frame[col].nunique() <= 1:
            value = frame[col].iloc[0] if len(frame) else float("nan")
            _fail(source, f"column '{col}' is constant ({value:g}); a driver must vary")


def _design(data: pd.DataFrame, dependent: str, drivers: Sequence[str], *, entity: str | None,
            time: str | None, time_effects: bool, ekc: str | None, cluster_by: str | None, source: str):
    """Check a user table and build ``y`` and the design matrix (const, log terms, fixed effects)."""
    drivers = check_drivers(dependent, drivers, source)
    if ekc is not None and ekc not in drivers:
        _fail(source, f"EKC column '{ekc}' must be one of the drivers: {', '.join(drivers)}")
    needed = [dependent, *drivers]
    extra = [c for c in (entity, time if (time_effects or entity) else None, cluster_by) if c]
    frame, notes = numeric_frame(data, [*needed, *extra], needed, source)
    check_logged(frame, dependent, drivers, source)
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
        _fail(source, f"covariance '{cov_type}' needs an entity column (entity)")
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
