"""STIRPAT with space-time weights: geographically (and temporally) weighted regression.

The study this project starts from estimates STIRPAT (``ln I = a + b ln P +
c ln A [+ d ln T] + e``) "through the introduction of space and time weighted
elements". This module fits that model with local coefficients:

* ``method="gtwr"``: geographically and temporally weighted regression
  (Huang, Wu & Barry 2010, Int. J. Geogr. Inf. Sci. 24:383,
  doi:10.1080/13658810802672469) through the maintained package ``mgtwr``
  (:class:`mgtwr.model.GTWR`, bandwidth and space-time scale by
  :class:`mgtwr.sel.SearchGTWRParameter`). Space-time distance
  ``d^2 = d_s^2 + tau * dt^2``; one year of time counts as ``sqrt(tau)``
  units of space (100 km here).
* ``method="gwr"``: geographically weighted regression (Brunsdon,
  Fotheringham & Charlton 1996, Geogr. Anal. 28:281) through PySAL's ``mgwr``
  (:class:`mgwr.gwr.GWR`, bandwidth by :class:`mgwr.sel_bw.Sel_BW`); years
  are pooled, coefficients vary over space only.

Bandwidths are chosen by AICc or leave-one-out cross-validation (the
packages' golden-section searches) unless given. The two packages penalise
AICc differently (same log-likelihood): ``mgwr`` uses Fotheringham et al.
(2002) eq. 2.33, ``-2 llf + 2n(k+1)/(n-k-2)``; ``mgtwr`` uses
``AIC + 2k(k+1)/(n-k-1)`` with ``AIC = -2 llf + 2(k+1)`` (k = trace of the hat
matrix); each fit reports its package's value. Local standard errors are the
packages' (``sqrt(diag(C C') sigma^2)``, ``sigma^2 = RSS / (n - tr S)``).
Whether the local variation is more than noise is tested by the Monte Carlo
test of Fotheringham, Brunsdon & Charlton (2002, *Geographically Weighted
Regression*, section 4.4): the locations are permuted and the standard
deviation of each coefficient surface is compared with its permutation
distribution (``mgwr``'s ``GWRResults.spatial_variability`` for GWR; the same
procedure on ``mgtwr`` fits for GTWR, which has no test of its own).

Coordinates are longitude and latitude (degrees), projected to a plane by
``mgtwr.function.surface_to_plane`` (Gauss-Krueger about the data's median
meridian) and expressed in units of 100 km. :func:`load_province_panel` gives
the provincial panel shipped with the package (CEADs CO2, NBS population and
GDP, 30 provinces; ``megacity_sd/data/PROVINCE_PANEL.md``) with the
coordinates of the provincial capitals.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from .data import DATA_DIR
from .errors import UserInputError

__all__ = [
    "METHODS",
    "CRITERIA",
    "KERNELS",
    "MEGACITY_PROVINCE",
    "LocalFit",
    "LocalElasticities",
    "load_capitals",
    "load_province_panel",
    "project_coordinates",
    "fit_local",
    "variability_test",
    "local_elasticities",
    "megacity_table",
    "plot_local_elasticities",
    "write_local_figure",
]

METHODS = ("gtwr", "gwr")
CRITERIA = ("AICc", "CV")
KERNELS = ("bisquare", "gaussian", "exponential")

#: Province of each of the five megacities (Beijing, Tianjin and Shanghai are
#: provinces; Guangzhou and Shenzhen are in Guangdong).
MEGACITY_PROVINCE = {"beijing": "Beijing", "tianjin": "Tianjin", "shanghai": "Shanghai",
                     "guangzhou": "Guangdong", "shenzhen": "Guangdong"}

#: Units of the projected coordinates: 100 km.
COORD_UNIT_M = 1.0e5
#: Default upper end of the space-time scale search (1 year up to 5 x 100 km).
TAU_MAX = 25.0
_PANEL = "megacity_sd/data/province_panel.csv"


def _fail(source: str, message: str):
    raise UserInputError(f"{source}: {message}")


# ---------------------------------------------------------------------------
# data shipped with the package
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------

@dataclass
class LocalFit:
    """A local STIRPAT fit (GTWR or GWR) and what is needed to read it.

    Attributes
    ----------
    method : {"gtwr", "gwr"}
    frame : pandas.DataFrame
        The rows fitted: ``entity`` and ``time`` columns (named as in the
        data), ``lon, lat``, the dependent and the drivers.
    terms : list of str
        ``const`` and ``ln_<driver>``.
    params, bse : numpy.ndarray
        ``n x k`` local estimates (elasticities for the log terms,
        dimensionless) and their standard errors.
    bandwidth : float
        Adaptive kernels: number of nearest (space-time) neighbours; fixed
        kernels: distance in 100 km.
    tau : float or None
        GTWR space-time scale: one year counts as ``sqrt(tau)`` x 100 km.
    enp, sigma2, aicc, r2, rss : float
        Effective number of parameters (trace of the hat matrix), residual
        variance, AICc, R^2, residual sum of squares (all on ln I).
    global_fit : megacity_sd.stirpat.StirpatFit
        Pooled OLS of the same form (no fixed effects; s.e. clustered by
        entity), the limit of the local fit for an infinite bandwidth.
    variability : pandas.DataFrame or None
        :func:`variability_test`, once run.
    """

    method: str
    dependent: str
    drivers: list[str]
    entity: str
    time: str
    frame: pd.DataFrame
    terms: list[str]
    params: np.ndarray
    bse: np.ndarray
    bandwidth: float
    tau: float | None
    kernel: str
    fixed: bool
    criterion: str | None
    enp: float
    sigma2: float
    aicc: float
    r2: float
    rss: float
    global_fit: object
    coords: np.ndarray
    t: np.ndarray
    X: np.ndarray
    y: np.ndarray
    selector: object | None = None
    bandwidth_range: tuple[float, float] | None = None
    alpha: float = 0.05
    variability: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def nobs(self) -> int:
        return int(len(self.frame))

    @property
    def df_resid(self) -> float:
        """Residual degrees of freedom used for the local intervals, ``n - tr S``."""
        return float(self.nobs - self.enp)

    def estimates(self, alpha: float | None = None) -> pd.DataFrame:
        """Local estimates, one row per observation and term.

        Returns
        -------
        pandas.DataFrame
            ``<entity>, <time>, term, estimate, std_err, t_value, ci_low,
            ci_high`` (t quantile with ``n - tr S`` degrees of freedom, not
            corrected for multiple testing).
        """
        alpha = self.alpha if alpha is None else alpha
        q = stats.t.ppf(1 - alpha / 2, self.df_resid)
        frames = []
        for j, term in enumerate(self.terms):
            est, se = self.params[:, j], self.bse[:, j]
            frames.append(pd.DataFrame({self.entity: self.frame[self.entity].to_numpy(),
                                        self.time: self.frame[self.time].to_numpy(), "term": term,
                                        "estimate": est, "std_err": se, "t_value": est / se,
                                        "ci_low": est - q * se, "ci_high": est + q * se}))
        return pd.concat(frames, ignore_index=True)

    def bandwidth_text(self) -> str:
        """The chosen bandwidths in words."""
        if self.fixed:
            text = f"fixed {self.kernel} kernel, bandwidth {self.bandwidth:g} x 100 km"
        else:
            text = f"adaptive {self.kernel} kernel, {self.bandwidth:g} nearest neighbours of {self.nobs}"
        if self.method == "gtwr":
            text += (f"; space-time scale tau = {self.tau:g} (one year counts as {np.sqrt(self.tau) * 100:.0f} km)"
                     if self.tau else "; space-time scale tau = 0 (time ignored)")
        how = f"chosen by {self.criterion}" if self.criterion else "given by the user"
        return f"{text}; {how}"

    def info(self) -> pd.DataFrame:
        """How the fit was made, as ``key, value`` rows."""
        k = len(self.terms)
        rows = [("method", self.method), ("dependent", f"ln {self.dependent}"), ("drivers", ", ".join(self.drivers)),
                ("entity", self.entity), ("time", self.time), ("nobs", self.nobs),
                ("entities", int(self.frame[self.entity].nunique())), ("kernel", self.kernel),
                ("adaptive", "no" if self.fixed else "yes"), ("bandwidth", self.bandwidth),
                ("bandwidth_unit", "100 km" if self.fixed else "nearest neighbours"),
                ("tau", self.tau if self.tau is not None else ""),
                ("criterion", self.criterion or "given"),
                ("bandwidth_search_range", "" if self.bandwidth_range is None
                 else f"{self.bandwidth_range[0]:g}-{self.bandwidth_range[1]:g}"),
                ("enp", self.enp), ("df_resid", self.df_resid), ("sigma2", self.sigma2), ("aicc", self.aicc),
                ("r_squared", self.r2), ("rss", self.rss),
                ("adjusted_alpha_da_silva_fotheringham", self.alpha * k / self.enp),
                ("global_aicc_ols", float(self.global_fit.results.aic
                                          + 2 * (k + 1) * (k + 2) / (self.nobs - k - 2))),
                ("global_r_squared_ols", float(self.global_fit.results.rsquared)),
                ("ci_level", 1 - self.alpha)]
        rows += [("note", n) for n in self.notes]
        return pd.DataFrame(rows, columns=["key", "value"])

    def summary(self) -> str:
        """Bandwidths, fit, and the spread of each local coefficient next to the global one."""
        g = self.global_fit.table(self.alpha).set_index("term")
        lines = [f"{self.method.upper()} STIRPAT: ln {self.dependent} on "
                 f"{', '.join('ln ' + d for d in self.drivers)}; {self.nobs} observations, "
                 f"{self.frame[self.entity].nunique()} {self.entity} values, {self.time} "
                 f"{int(self.frame[self.time].min())}-{int(self.frame[self.time].max())}",
                 f"bandwidth: {self.bandwidth_text()}",
                 f"fit: R^2 {self.r2:.4f}, AICc {self.aicc:.2f}, effective parameters {self.enp:.1f}, "
                 f"sigma^2 {self.sigma2:.4g} (global OLS: R^2 {self.global_fit.results.rsquared:.4f})",
                 f"{'term':<22} {'global (OLS)':>22} {'local min':>10} {'q25':>8} {'median':>8} {'q75':>8} "
                 f"{'local max':>10}"]
        for j, term in enumerate(self.terms):
            col = self.params[:, j]
            gl = f"{g.at[term, 'estimate']:.3f} [{g.at[term, 'ci_low']:.2f}, {g.at[term, 'ci_high']:.2f}]"
            q = np.percentile(col, [25, 50, 75])
            lines.append(f"{term:<22} {gl:>22} {col.min():10.3f} {q[0]:8.3f} {q[1]:8.3f} {q[2]:8.3f} "
                         f"{col.max():10.3f}")
        if self.variability is not None:
            v = self.variability
            lines.append(f"local variation (Monte Carlo, {int(v['n_permutations'].iloc[0])} permutations): "
                         + "; ".join(f"{r.term} sd {r.sd_observed:.3f}, p = {r.p_value:.3f}"
                                     for r in v.itertuples(index=False)))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _check_frame(data: pd.DataFrame, dependent: str, drivers: Sequence[str], entity: str, time: str, lon: str,
                 lat: str, source: str) -> tuple[pd.DataFrame, list[str]]:
    drivers = list(drivers)
    if not drivers:
        _fail(source, "no drivers given; give at least one column, e.g. population,gdp_per_capita")
    if len(set(drivers)) != len(drivers):
        _fail(source, f"drivers {', '.join(drivers)}: each column may appear once")
    if dependent in drivers:
        _fail(source, f"column '{dependent}' is the dependent and cannot also be a driver")
    available = [str(c) for c in data.columns]
    missing_xy = [c for c in (lon, lat) if c not in data.columns]
    if missing_xy:
        _fail(source, f"coordinate column(s) {', '.join(repr(c) for c in missing_xy)} not found; allowed: columns "
              f"'{lon}' and '{lat}' (degrees) in the data, or --coords FILE with columns '{entity}', lon, lat "
              f"(columns here: {', '.join(available)})")
    for col in [dependent, *drivers, entity, time]:
        if col not in data.columns:
            _fail(source, f"column '{col}' not found; allowed: {', '.join(available)}")
    frame = data[list(dict.fromkeys([entity, time, lon, lat, dependent, *drivers]))].copy()
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="data_row")
    for col in [time, lon, lat, dependent, *drivers]:
        num = pd.to_numeric(frame[col], errors="coerce")
        bad = num.isna() & frame[col].notna()
        if bad.any():
            row = bad.idxmax()
            _fail(source, f"column '{col}' must be numeric (data row {row}: {frame.at[row, col]!r})")
        frame[col] = num.astype(float)
    notes = []
    complete = frame.dropna()
    if len(complete) < len(frame):
        notes.append(f"{len(frame) - len(complete)} row(s) with a missing value in {', '.join(frame.columns)} left out")
    frame = complete
    for col, lo, hi in ((lon, -180.0, 180.0), (lat, -90.0, 90.0)):
        bad = (frame[col] < lo) | (frame[col] > hi)
        if bad.any():
            row = bad.idxmax()
            _fail(source, f"column '{col}' = {frame.at[row, col]:g} at data row {row}; allowed: degrees in "
                  f"[{lo:g}, {hi:g}]")
    for col in [dependent, *drivers]:
        bad = frame[col] <= 0
        if bad.any():
            row = bad.idxmax()
            _fail(source, f"column '{col}' has {int(bad.sum())} non-positive value(s) (first {frame.at[row, col]:g} "
                  f"at data row {row}); a log is taken, so values must be > 0")
    for col in drivers:
        if frame[col].nunique() <= 1:
            _fail(source, f"column '{col}' is constant; a driver must vary")
    if frame.duplicated([entity, time]).any():
        dup = frame[frame.duplicated([entity, time])].iloc[0]
        _fail(source, f"columns '{entity}', '{time}': more than one row for ({dup[entity]}, {dup[time]:g}); "
              "one row per entity and year is allowed")
    return frame.sort_values([entity, time], kind="stable"), notes


def min_rows(n_terms: int) -> int:
    """Fewest complete rows for a local fit with ``n_terms`` terms: the packages' smallest adaptive bandwidth
    (40 + 2k neighbours, the GWR4 convention used by ``mgwr`` and ``mgtwr``) plus 10."""
    return 50 + 2 * n_terms


def fit_local(data: pd.DataFrame, dependent: str, drivers: Sequence[str], *, entity: str, time: str = "year",
              lon: str = "lon", lat: str = "lat", method: str = "gtwr", criterion: str = "AICc",
              kernel: str = "bisquare", fixed: bool = False, bandwidth: float | None = None,
              tau: float | None = None, bandwidth_range: tuple[float, float] | None = None,
              tau_max: float = TAU_MAX, alpha: float = 0.05, source: str = "data") -> LocalFit:
    """Fit STIRPAT with local coefficients by GTWR (``mgtwr``) or GWR (``mgwr``).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per entity and year with ``dependent``, ``drivers`` (> 0;
        logs are taken, so the coefficients are elasticities), ``lon`` and
        ``lat`` (degrees).
    dependent, drivers : str, sequence of str
        Impact column (e.g. ``co2``) and driver columns (e.g.
        ``population, gdp_per_capita``).
    entity, time : str
        Columns of the entity (province, city) and the year.
    method : {"gtwr", "gwr"}
        Space-time (GTWR) or space-only (GWR, years pooled) weights.
    criterion : {"AICc", "CV"}
        Bandwidth selection (ignored where ``bandwidth`` and ``tau`` are given).
    kernel : {"bisquare", "gaussian", "exponential"}
    fixed : bool
        ``False`` (default): adaptive bandwidth, a number of nearest
        neighbours; ``True``: a distance in 100 km.
    bandwidth, tau : float, optional
        Fix the bandwidth and (GTWR) the space-time scale instead of searching.
    bandwidth_range : (float, float), optional
        Search range of the bandwidth (default: the package's, 40 + 2k to n
        neighbours for adaptive kernels).
    tau_max : float
        Upper end of the search for ``tau`` (lower end 0).
    alpha : float
        1 - confidence level of the local intervals.
    source : str
        Name of the data in error messages.

    Returns
    -------
    LocalFit

    Raises
    ------
    UserInputError
        Unknown method, criterion or kernel; missing coordinate or other
        columns; non-numeric or non-positive values; too few rows or
        locations; a bandwidth or tau out of range.
    """
    if method not in METHODS:
        _fail(source, f"method '{method}' not allowed here; allowed: {', '.join(METHODS)}")
    if criterion not in CRITERIA:
        _fail(source, f"bandwidth criterion '{criterion}' not allowed; allowed: {', '.join(CRITERIA)}")
    if kernel not in KERNELS:
        _fail(source, f"kernel '{kernel}' not allowed; allowed: {', '.join(KERNELS)}")
    if not (0 < alpha < 1):
        _fail(source, f"alpha {alpha!r} not allowed; allowed: a number between 0 and 1")
    if tau is not None and not (np.isfinite(tau) and tau >= 0):
        _fail(source, f"--tau {tau!r} not allowed; allowed: a number >= 0")
    if not (np.isfinite(tau_max) and tau_max > 0):
        _fail(source, f"--tau-max {tau_max!r} not allowed; allowed: a number > 0")
    frame, notes = _check_frame(data, dependent, drivers, entity, time, lon, lat, source)
    drivers = list(drivers)
    k = len(drivers) + 1
    n = len(frame)
    if n < min_rows(k):
        _fail(source, f"{n} complete row(s) for a local fit with {k} terms; at least {min_rows(k)} rows are needed")
    n_loc = frame[[lon, lat]].drop_duplicates().shape[0]
    if n_loc < k + 2:
        _fail(source, f"{n_loc} distinct location(s) in '{lon}', '{lat}'; a local fit with {k} terms needs at "
              f"least {k + 2}")
    if bandwidth is not None:
        ok = np.isfinite(bandwidth) and bandwidth > 0 and (fixed or (k + 1 < bandwidth <= n))
        if not ok:
            allowed = "a distance > 0 (100 km)" if fixed else f"a number of neighbours from {k + 2} to {n}"
            _fail(source, f"--bandwidth {bandwidth!r} not allowed; allowed: {allowed}")
        if not fixed:
            bandwidth = float(int(round(bandwidth)))
    if bandwidth_range is not None:
        lo, hi = bandwidth_range
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi) or (not fixed and not (k + 1 < lo and hi <= n)):
            _fail(source, f"bandwidth range {lo:g}-{hi:g} not allowed; allowed: 0 < min < max"
                  + ("" if fixed else f", neighbours from {k + 2} to {n}"))

    coords = project_coordinates(frame[lon], frame[lat])
    t = (frame[time].to_numpy(dtype=float) - frame[time].min()).reshape(-1, 1)
    X = np.log(frame[drivers].to_numpy(dtype=float))
    y = np.log(frame[dependent].to_numpy(dtype=float)).reshape(-1, 1)
    terms = ["const", *[f"ln_{d}" for d in drivers]]

    from .stirpat import fit_stirpat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        global_fit = fit_stirpat(frame, dependent, drivers, entity=None, time=None, cov_type="cluster",
                                 cluster_by=entity, alpha=alpha, source=source)
    global_fit.notes.append(f"pooled OLS, no fixed effects, s.e. clustered by {entity}: the limit of the local "
                            "fit for an infinite bandwidth")
    bw_decimal = 2 if fixed else 0
    search_criterion = criterion if (bandwidth is None or (method == "gtwr" and tau is None)) else None
    selector = None
    rng = None
    if method == "gtwr":
        from mgtwr.model import GTWR
        from mgtwr.sel import SearchGTWRParameter

        if search_criterion:
            sel = SearchGTWRParameter(coords, t, X, y, kernel=kernel, fixed=fixed)
            if bandwidth is not None:
                bw_lo = bw_hi = bandwidth
            elif bandwidth_range is not None:
                bw_lo, bw_hi = bandwidth_range
            else:
                bw_lo, bw_hi = sel._init_section(None, None, 0.0, tau_max)[:2]
            tau_lo, tau_hi = (tau, tau) if tau is not None else (0.0, tau_max)
            rng = (float(bw_lo), float(bw_hi))
            with contextlib.redirect_stdout(io.StringIO()):
                bandwidth, tau = sel.search(criterion=criterion, bw_min=bw_lo, bw_max=bw_hi, tau_min=tau_lo,
                                            tau_max=tau_hi, bw_decimal=bw_decimal, tau_decimal=2, verbose=False)
            selector = sel
        with np.errstate(divide="ignore"):  # mgtwr divides by tau for a temporal bandwidth it only reports
            res = GTWR(coords, t, X, y, bandwidth, np.float64(tau), kernel=kernel, fixed=fixed).fit()
        params, bse = np.asarray(res.betas), np.asarray(res.bse)
        enp, sigma2, aicc, r2, rss = (float(res.tr_S), float(res.sigma2), float(res.aicc), float(res.R2),
                                      float(res.RSS))
        if search_criterion and tau >= tau_max - 1e-9:
            notes.append(f"tau at the top of its search range ({tau_max:g}): raise --tau-max")
        elif search_criterion and tau <= 0.02 * tau_max:
            notes.append(f"tau = {tau:g}, near the bottom of its search range (0-{tau_max:g}): the coefficients vary "
                         "mostly over space; time distance weighs little")
    else:
        from mgwr.gwr import GWR
        from mgwr.sel_bw import Sel_BW

        tau = None
        if bandwidth is None:
            sel = Sel_BW(coords, y, X, kernel=kernel, fixed=fixed, n_jobs=1)
            kw = {}
            if bandwidth_range is not None:
                kw = {"bw_min": bandwidth_range[0], "bw_max": bandwidth_range[1]}
            bandwidth = float(sel.search(criterion=criterion, **kw))
            # mgwr's default range for adaptive kernels: 40 + 2 x (number of columns with the constant) to n
            rng = bandwidth_range or ((40.0 + 2 * k, float(n)) if not fixed else None)
            selector = sel
        res = GWR(coords, y, X, bandwidth, kernel=kernel, fixed=fixed, n_jobs=1).fit()
        params, bse = np.asarray(res.params), np.asarray(res.bse)
        enp, sigma2, aicc, r2, rss = (float(res.tr_S), float(res.sigma2), float(res.aicc), float(res.R2),
                                      float(res.resid_ss))
        notes.append(f"GWR pools the years: coefficients vary over space only (time '{time}' is not weighted)")
    fit = LocalFit(method=method, dependent=dependent, drivers=drivers, entity=entity, time=time,
                   frame=frame.reset_index(drop=True), terms=terms, params=params, bse=bse, bandwidth=float(bandwidth),
                   tau=None if tau is None else float(tau), kernel=kernel, fixed=fixed, criterion=search_criterion,
                   enp=enp, sigma2=sigma2, aicc=aicc, r2=r2, rss=rss, global_fit=global_fit, coords=coords, t=t, X=X,
                   y=y, selector=selector, bandwidth_range=rng, alpha=alpha, notes=notes)
    if search_criterion and rng is not None and fit.bandwidth <= rng[0] + max(2.0, 0.02 * (rng[1] - rng[0])):
        fit.notes.append(f"the bandwidth sits at the bottom of its search range ({rng[0]:g}-{rng[1]:g}): "
                         f"{search_criterion} wants still more local fits, i.e. strong differences between "
                         "entities (intercepts); read single local estimates with care")
    fit.notes.append("coordinates: Gauss-Krueger projection (mgtwr.function.surface_to_plane) about the median "
                     "meridian, 100 km units; local intervals use t with n - tr(S) degrees of freedom and no "
                     "multiple-testing correction (see adjusted_alpha_da_silva_fotheringham)")
    return fit


# ---------------------------------------------------------------------------
# is the local variation significant?
# ---------------------------------------------------------------------------

def _local_betas(fit: LocalFit, coords: np.ndarray, t: np.ndarray) -> np.ndarray:
    if fit.method == "gtwr":
        from mgtwr.model import GTWR

        with np.errstate(divide="ignore"):
            return np.asarray(GTWR(coords, t, fit.X, fit.y, fit.bandwidth, np.float64(fit.tau), kernel=fit.kernel,
                                   fixed=fit.fixed).cal_multi().betas)
    from mgwr.gwr import GWR

    return np.asarray(GWR(coords, fit.y, fit.X, fit.bandwidth, kernel=fit.kernel, fixed=fit.fixed,
                          n_jobs=1).fit(lite=True).params)


def variability_test(fit: LocalFit, n_permutations: int = 99, seed: int | None = 1,
                     reselect: bool = False) -> pd.DataFrame:
    """Monte Carlo test of whether each local coefficient varies more than chance.

    Fotheringham, Brunsdon & Charlton (2002), section 4.4; Hope (1968):
    the statistic is the standard deviation of a coefficient over the
    observations. Under the null of no space(-time) variation the locations
    are exchangeable, so the (location, time) of the rows are permuted
    jointly and the model refitted; ``p = (1 + #{sd_perm >= sd_obs}) /
    (1 + n_permutations)``.

    * GWR with ``reselect=True`` calls ``mgwr``'s own
      ``GWRResults.spatial_variability`` (bandwidth re-selected in every
      permutation; its p value is ``#{sd_perm > sd_obs} / n``).
    * Otherwise (GTWR always, since ``mgtwr`` has no such test) the bandwidth
      and tau stay at the fitted values. A null fit at the same small
      bandwidth is noisier than one re-selected (which would smooth), so this
      variant is conservative, and about as many times cheaper as the search
      has steps.

    Parameters
    ----------
    fit : LocalFit
    n_permutations : int
        At least 19 (so that p can reach 0.05).
    seed : int or None
        Seed of ``numpy.random.default_rng``.
    reselect : bool
        GWR only: use ``mgwr``'s test with re-selection (needs a searched
        bandwidth).

    Returns
    -------
    pandas.DataFrame
        ``term, sd_observed, sd_null_median, p_value, n_permutations, test``;
        also stored as ``fit.variability``.

    Raises
    ------
    UserInputError
        ``n_permutations`` < 19, or ``reselect`` without a searched GWR bandwidth.
    """
    if not isinstance(n_permutations, int | np.integer) or n_permutations < 19:
        raise UserInputError(f"--permutations {n_permutations!r}: not allowed; allowed: an integer >= 19")
    sd_obs = fit.params.std(axis=0)
    if reselect:
        if fit.method != "gwr" or fit.selector is None:
            raise UserInputError("--reselect: allowed only with --method gwr and a searched bandwidth")
        rs = np.random.get_state()  # noqa: NPY002 - mgwr seeds the legacy global state; put it back after
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                from mgwr.gwr import GWR

                res = GWR(fit.coords, fit.y, fit.X, fit.bandwidth, kernel=fit.kernel, fixed=fit.fixed,
                          n_jobs=1).fit()
                p = np.asarray(res.spatial_variability(fit.selector, n_iters=n_permutations,
                                                       seed=1 if seed is None else seed))
        finally:
            np.random.set_state(rs)  # noqa: NPY002
        test = "mgwr GWRResults.spatial_variability (bandwidth re-selected in each permutation)"
        sd_null = np.full(len(fit.terms), np.nan)
    else:
        rng = np.random.default_rng(seed)
        sds = np.empty((n_permutations, len(fit.terms)))
        for i in range(n_permutations):
            perm = rng.permutation(fit.nobs)
            sds[i] = _local_betas(fit, fit.coords[perm], fit.t[perm]).std(axis=0)
        p = (1 + (sds >= sd_obs).sum(axis=0)) / (1 + n_permutations)
        sd_null = np.median(sds, axis=0)
        test = (f"permutation of the {'space-time' if fit.method == 'gtwr' else 'spatial'} locations, "
                f"bandwidth{' and tau' if fit.method == 'gtwr' else ''} held at the fitted value(s) "
                f"({'mgtwr' if fit.method == 'gtwr' else 'mgwr'} fits)")
    out = pd.DataFrame({"term": fit.terms, "sd_observed": sd_obs, "sd_null_median": sd_null, "p_value": p,
                        "n_permutations": n_permutations, "test": test})
    fit.variability = out
    return out


# ---------------------------------------------------------------------------
# local estimates for one entity, in the shape of a global fit
# ---------------------------------------------------------------------------

@dataclass
class LocalElasticities:
    """Local estimates of one entity averaged over a year range, shaped like a global fit.

    ``table(alpha)`` has the columns of
    :meth:`megacity_sd.stirpat.StirpatFit.table` (``term, estimate, std_err,
    ci_low, ci_high``), so the object can stand where
    :func:`megacity_sd.stirpat.compare_elasticities` takes ``history_fit``;
    ``params``, ``cov`` (diagonal), ``terms``, ``df_resid`` and ``nobs`` let
    it stand in :func:`megacity_sd.stirpat.project_co2` as well.

    The estimate is the mean of the yearly local estimates; its standard
    error is the mean of their standard errors, i.e. the yearly estimates are
    taken as perfectly correlated (they share most of their kernel weights),
    which is conservative.
    """

    entity: str
    years: tuple[int, int]
    method: str
    terms: list[str]
    params: pd.Series
    std_err: pd.Series
    df_resid: float
    nobs: int
    n_years: int
    alpha: float = 0.05
    notes: list[str] = field(default_factory=list)

    @property
    def cov(self) -> pd.DataFrame:
        return pd.DataFrame(np.diag(self.std_err.to_numpy() ** 2), index=self.terms, columns=self.terms)

    def table(self, alpha: float | None = None) -> pd.DataFrame:
        alpha = self.alpha if alpha is None else alpha
        q = stats.t.ppf(1 - alpha / 2, self.df_resid)
        est, se = self.params.to_numpy(), self.std_err.to_numpy()
        return pd.DataFrame({"term": self.terms, "estimate": est, "std_err": se, "ci_low": est - q * se,
                             "ci_high": est + q * se})

    def elasticity(self, driver: str) -> float:
        return float(self.params[f"ln_{driver}"])

    def summary(self) -> str:
        tab = self.table()
        lines = [f"{self.method.upper()} local estimates, {self.entity}, {self.years[0]}-{self.years[1]} "
                 f"({self.n_years} year(s) averaged)"]
        lines += [f"  {r.term:<22} {r.estimate:8.3f} [{r.ci_low:6.3f}, {r.ci_high:6.3f}]"
                  for r in tab.itertuples(index=False)]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def local_elasticities(fit: LocalFit, entity: str, years: tuple[int, int] | None = None,
                       alpha: float | None = None) -> LocalElasticities:
    """The local estimates of one entity (e.g. ``"Shanghai"``), averaged over ``years``.

    Parameters
    ----------
    fit : LocalFit
    entity : str
        A value of the entity column; a megacity id (``shenzhen``...) is
        mapped to its province by :data:`MEGACITY_PROVINCE`.
    years : (int, int), optional
        First and last year (default: the last five years of the fit).
    alpha : float, optional

    Returns
    -------
    LocalElasticities

    Raises
    ------
    UserInputError
        Unknown entity, or no fitted year in the range.
    """
    names = fit.frame[fit.entity].astype(str)
    name = MEGACITY_PROVINCE.get(str(entity).lower(), entity) if str(entity) not in set(names) else entity
    if str(name) not in set(names):
        from .errors import suggest

        raise UserInputError(f"{fit.entity} '{entity}' not in the fit{suggest(str(entity), sorted(set(names)))}; "
                             f"allowed: {', '.join(sorted(set(names)))}")
    tcol = fit.frame[fit.time]
    if years is None:
        years = (int(tcol.max()) - 4, int(tcol.max()))
    sel = (names == str(name)).to_numpy() & (tcol >= years[0]).to_numpy() & (tcol <= years[1]).to_numpy()
    if not sel.any():
        have = tcol[(names == str(name)).to_numpy()]
        raise UserInputError(f"{fit.entity} '{name}': no fitted {fit.time} in {years[0]}-{years[1]}; allowed: "
                             f"{int(have.min())}-{int(have.max())}")
    params = pd.Series(fit.params[sel].mean(axis=0), index=fit.terms)
    se = pd.Series(fit.bse[sel].mean(axis=0), index=fit.terms)
    note = (f"mean of {int(sel.sum())} yearly {fit.method.upper()} estimates; s.e. = mean of the yearly s.e. "
            "(yearly estimates taken as perfectly correlated); " + fit.bandwidth_text())
    return LocalElasticities(entity=str(name), years=(int(years[0]), int(years[1])), method=fit.method,
                             terms=list(fit.terms), params=params, std_err=se, df_resid=fit.df_resid, nobs=fit.nobs,
                             n_years=int(sel.sum()), alpha=fit.alpha if alpha is None else alpha, notes=[note])


def megacity_table(fit: LocalFit, years: tuple[int, int] | None = None, alpha: float | None = None) -> pd.DataFrame:
    """The five megacities' local elasticities next to the global ones.

    Returns
    -------
    pandas.DataFrame
        ``city, province, years, term, local, local_low, local_high,
        global, global_low, global_high``; cities whose province is not in the
        fit are left out (Guangzhou and Shenzhen share Guangdong's estimate).
    """
    alpha = fit.alpha if alpha is None else alpha
    g = fit.global_fit.table(alpha).set_index("term")
    have = set(fit.frame[fit.entity].astype(str))
    rows = []
    for city, prov in MEGACITY_PROVINCE.items():
        if prov not in have:
            continue
        loc = local_elasticities(fit, prov, years, alpha)
        for r in loc.table(alpha).itertuples(index=False):
            if r.term == "const":
                continue
            rows.append(dict(city=city, province=prov, years=f"{loc.years[0]}-{loc.years[1]}", term=r.term,
                             local=r.estimate, local_low=r.ci_low, local_high=r.ci_high,
                             **{"global": g.at[r.term, "estimate"]}, global_low=g.at[r.term, "ci_low"],
                             global_high=g.at[r.term, "ci_high"]))
    return pd.DataFrame(rows, columns=["city", "province", "years", "term", "local", "local_low", "local_high",
                                       "global", "global_low", "global_high"])


# ---------------------------------------------------------------------------
# figure
# ---------------------------------------------------------------------------

_LINE_COLORS = ("#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f")


def _highlight(fit: LocalFit, entities: Sequence[str] | None) -> list[str]:
    have = list(dict.fromkeys(fit.frame[fit.entity].astype(str)))
    if entities:
        return [e for e in entities if e in have]
    mega = [p for p in dict.fromkeys(MEGACITY_PROVINCE.values()) if p in have]
    return mega or have[:5]


def plot_local_elasticities(fit: LocalFit, ax, term: str, entities: Sequence[str] | None = None):
    """Local estimate of ``term`` over time for ``entities`` (bands: intervals) and the global estimate.

    Returns
    -------
    matplotlib.axes.Axes
    """
    est = fit.estimates()
    est = est[est["term"] == term]
    g = fit.global_fit.table(fit.alpha).set_index("term")
    x0, x1 = est[fit.time].min(), est[fit.time].max()
    ax.axhspan(g.at[term, "ci_low"], g.at[term, "ci_high"], color="#a0aec0", alpha=0.35, lw=0)
    ax.axhline(g.at[term, "estimate"], color="black", ls="--", lw=1.2, label="global (pooled OLS)")
    for i, ent in enumerate(_highlight(fit, entities)):
        s = est[est[fit.entity].astype(str) == ent].sort_values(fit.time)
        c = _LINE_COLORS[i % len(_LINE_COLORS)]
        label = ent + (" (Guangzhou, Shenzhen)" if ent == "Guangdong" else "")
        ax.plot(s[fit.time], s["estimate"], color=c, lw=1.6, label=label)
        ax.fill_between(s[fit.time], s["ci_low"], s["ci_high"], color=c, alpha=0.15, lw=0)
    ax.set_xlim(x0, x1)
    ax.set_title({"ln_population": "population (P)", "ln_gdp_per_capita": "GDP per capita (A)",
                  "ln_energy_intensity": "energy intensity (T)"}.get(term, term))
    ax.set_xlabel(fit.time)
    ax.set_ylabel(f"elasticity of {fit.dependent}")
    return ax


def write_local_figure(fit: LocalFit, out_dir, entities: Sequence[str] | None = None, name: str | None = None):
    """Write ``stirpat_<method>_elasticities.png``: local elasticities over time against the global fit.

    Returns
    -------
    pathlib.Path
        The file written (suffix as set by :func:`megacity_sd.plotting.figure_format`).
    """
    from pathlib import Path

    import matplotlib.pyplot as plt

    from .plotting import STYLE, savefig_atomic

    slopes = [t for t in fit.terms if t != "const"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(slopes), figsize=(5.2 * len(slopes), 4.2), squeeze=False)
        for ax, term in zip(axes[0], slopes, strict=True):
            plot_local_elasticities(fit, ax, term, entities)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), bbox_to_anchor=(0.5, 0.0))
        p = "" if fit.variability is None else "; local variation p = " + ", ".join(
            f"{r.term.removeprefix('ln_')} {r.p_value:.3f}" for r in fit.variability.itertuples(index=False)
            if r.term != "const")
        fig.suptitle(f"{fit.method.upper()} STIRPAT: local elasticities of {fit.dependent} (bands: "
                     f"{100 * (1 - fit.alpha):.0f} % intervals) against the global fit\n{fit.bandwidth_text()}{p}",
                     fontsize=9)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        return savefig_atomic(fig, Path(out_dir) / (name or f"stirpat_{fit.method}_elasticities.png"))
