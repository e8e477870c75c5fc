"""STIRPAT with space-time weights: geographically (and temporally) weighted regression.

The study this project starts from estimates STIRPAT (``ln I = a + b ln P +
c ln A [+ d ln T] + e``) "through the introduction of space and time weighted
elements". This module (with :mod:`.local_data`, :mod:`.local_results` and
:mod:`.local_plots`) fits that model with local coefficients:

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

import numpy as np
import pandas as pd
from scipy import stats

from .fit import check_drivers, check_logged, numeric_frame
from .local_data import _fail, project_coordinates

__all__ = [
    "METHODS",
    "CRITERIA",
    "KERNELS",
    "LocalFit",
    "fit_local",
]


METHODS = ("gtwr", "gwr")


CRITERIA = ("AICc", "CV")


KERNELS = ("bisquare", "gaussian", "exponential")


#: Default upper end of the space-time scale search (1 year up to 5 x 100 km).
TAU_MAX = 25.0


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
    drivers = check_drivers(dependent, drivers, source)
    available = [str(c) for c in data.columns]
    missing_xy = [c for c in (lon, lat) if c not in data.columns]
    if missing_xy:
        _fail(source, f"coordinate column(s) {', '.join(repr(c) for c in missing_xy)} not found; allowed: columns "
              f"'{lon}' and '{lat}' (degrees) in the data, or --coords FILE with columns '{entity}', lon, lat "
              f"(columns here: {', '.join(available)})")
    frame, notes = numeric_frame(data, [entity, time, lon, lat, dependent, *drivers], [time, lon, lat, dependent,
                                                                                      *drivers], source)
    for col, lo, hi in ((lon, -180.0, 180.0), (lat, -90.0, 90.0)):
        bad = (frame[col] < lo) | (frame[col] > hi)
        if bad.any():
            row = bad.idxmax()
            _fail(source, f"column '{col}' = {frame.at[row, col]:g} at data row {row}; allowed: degrees in "
                  f"[{lo:g}, {hi:g}]")
    check_logged(frame, dependent, drivers, source)
    if frame.duplicated([entity, time]).any():
        dup = frame[frame.duplicated([entity, time])].iloc[0]
        _fail(source, f"columns '{entity}', '{time}': more than one row for ({dup[entity]}, {dup[time]:g}); "
              "one row per entity and year is allowed")
    return frame.sort_values([entity, time], kind="stable"), notes


def min_rows(n_terms: int) -> int:
    """Fewest complete rows for a local fit with ``n_terms`` terms: the packages' smallest adaptive bandwidth
    (40 + 2k neighbours, the GWR4 convention used by ``mgwr`` and ``mgtwr``) plus 10."""
    return 50 + 2 * n_terms


@contextlib.contextmanager
def _search_ticks(progress: bool):
    """A text sink for ``mgtwr``'s verbose search: each line it prints (``bw: .. , tau: .. , score: ..``, one per
    golden-section step) becomes a tick of a progress bar; without ``progress``, a sink that keeps nothing."""
    if not progress:
        yield io.StringIO()
        return
    from tqdm.auto import tqdm

    bar = tqdm(unit="step", desc="GTWR bandwidth search", mininterval=0.5)

    class _Sink(io.TextIOBase):
        """Whole lines only: ``print`` writes each of its arguments and the newline separately."""

        pending = ""

        def write(self, text: str) -> int:
            *lines, self.pending = (self.pending + text).split("\n")
            for line in lines:
                if line.strip():
                    bar.set_postfix_str(" ".join(line.split()), refresh=False)
                    bar.update(1)
            return len(text)

    try:
        yield _Sink()
    finally:
        bar.close()


def fit_local(data: pd.DataFrame, dependent: str, drivers: Sequence[str], *, entity: str, time: str = "year",
              lon: str = "lon", lat: str = "lat", method: str = "gtwr", criterion: str = "AICc",
              kernel: str = "bisquare", fixed: bool = False, bandwidth: float | None = None,
              tau: float | None = None, bandwidth_range: tuple[float, float] | None = None,
              tau_max: float = TAU_MAX, alpha: float = 0.05, source: str = "data",
              progress: bool = False) -> LocalFit:
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
    progress : bool
        Show the GTWR bandwidth search as it goes (tqdm, on stderr: one tick per bandwidth tried, with the
        best bandwidth, tau and score so far).

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
        _fail(source, f"tau {tau!r} not allowed; allowed: a number >= 0")
    if not (np.isfinite(tau_max) and tau_max > 0):
        _fail(source, f"tau_max {tau_max!r} not allowed; allowed: a number > 0")
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
            _fail(source, f"bandwidth {bandwidth!r} not allowed; allowed: {allowed}")
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

    from .fit import fit_stirpat

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
            with _search_ticks(progress) as sink, contextlib.redirect_stdout(sink):
                bandwidth, tau = sel.search(criterion=criterion, bw_min=bw_lo, bw_max=bw_hi, tau_min=tau_lo,
                                            tau_max=tau_hi, bw_decimal=bw_decimal, tau_decimal=2, verbose=progress)
            selector = sel
        with np.errstate(divide="ignore"):  # mgtwr divides by tau for a temporal bandwidth it only reports
            res = GTWR(coords, t, X, y, bandwidth, np.float64(tau), kernel=kernel, fixed=fixed).fit()
        params, bse = np.asarray(res.betas), np.asarray(res.bse)
        enp, sigma2, aicc, r2, rss = (float(res.tr_S), float(res.sigma2), float(res.aicc), float(res.R2),
                                      float(res.RSS))
        if search_criterion and tau >= tau_max - 1e-9:
            notes.append(f"tau at the top of its search range ({tau_max:g}): raise tau_max (--tau-max)")
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
