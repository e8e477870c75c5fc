"""What a local STIRPAT fit says: the Monte Carlo test of local variation, a place's local elasticities over years,
the megacities beside the global fit."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UserInputError
from .local import LocalFit
from .local_data import MEGACITY_PROVINCE

__all__ = [
    "variability_test",
    "LocalElasticities",
    "local_elasticities",
    "megacity_table",
]


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
                     reselect: bool = False, progress: bool = False) -> pd.DataFrame:
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
    progress : bool
        Show a progress bar of the permutations (tqdm, on stderr).

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
        raise UserInputError(f"permutations {n_permutations!r}: not allowed; allowed: an integer >= 19")
    sd_obs = fit.params.std(axis=0)
    if reselect:
        if fit.method != "gwr" or fit.selector is None:
            raise UserInputError("reselect: allowed only with the method gwr and a searched bandwidth")
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
        steps = range(n_permutations)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, unit="fit", desc="permutation test", mininterval=0.5)
        for i in steps:
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
        from ..errors import suggest

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
