"""Sensitivity and uncertainty methods over the ensemble runner: one-at-a-time, Morris, Sobol, Monte Carlo (SALib)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..ensemble import RunOptions, ensemble_id, run_ensemble, session
from ..errors import UserInputError
from ..indicators import INDICATORS
from ..model import canonical, model_doc
from ..scenario import Scenario
from ..units import display_of
from .uncertainty import UncertaintySet

__all__ = [
    "METHODS",
    "DEFAULT_N",
    "SERIES",
    "RunOptions",
    "check_n",
    "oat",
    "morris",
    "sobol_table",
    "sobol",
    "monte_carlo",
]


METHODS = ("oat", "morris", "sobol", "mc")


DEFAULT_N = {"oat": 2, "morris": 20, "sobol": 512, "mc": 500}


# yearly series for fan charts and per-year Sobol: variable -> (label, scale, unit)
_SERIES_LABELS = {"CO2 scope 1 and 2": "CO2 (scope 1+2)", "PM25": "PM2.5", "Population": "population"}
SERIES = {var: (label, *display_of(var)) for var, label in _SERIES_LABELS.items()}




def _evaluate(X: np.ndarray, names: list[str], scenario: Scenario | None, opts: RunOptions, store: Path, runner,
              tag: str, seed: int | None, series: Sequence[str] = ()):
    base = scenario.constants if scenario is not None else {}
    label = f"{tag}" if scenario is None else f"{tag} {scenario.city}/{scenario.name}"
    params = pd.DataFrame(X, columns=names)
    # the folder is named after the ensemble's identity (megacity_sd.ensemble.ensemble_id, the key its manifest
    # holds): an edited uncertainty file, scenario, engine or time step starts a new ensemble instead of clashing
    # with the stored one; the same command resumes the same folder
    key = ensemble_id(params, base=base, series=list(series), engine=opts.engine, time_step=opts.time_step)
    return run_ensemble(params, store / f"{tag}-{key[:12]}", base=base, series=list(series), engine=opts.engine,
                        runner=runner, time_step=opts.time_step, batch_size=opts.batch_size,
                        progress=opts.progress, seed=seed, label=label)


def check_n(method: str, n: int) -> None:
    """Reject a sample size that is too small (or not allowed) for a method.

    Raises
    ------
    UserInputError
    """
    if method not in METHODS:
        raise UserInputError(f"method {method!r}: unknown; allowed: {', '.join(METHODS)}")
    if not isinstance(n, int | np.integer) or isinstance(n, bool):
        raise UserInputError(f"n {n!r}: not an integer")
    rules = {"oat": (2, "levels per parameter, at least 2 (the two bounds)"),
             "morris": (4, "Morris trajectories, at least 4"),
             "sobol": (16, "a power of two, at least 16 (Sobol' base sample; runs = N x (parameters + 2))"),
             "mc": (20, "Latin hypercube runs per scenario, at least 20 (for 5 and 95 % bands)")}
    low, what = rules[method]
    if n < low or (method == "sobol" and n & (n - 1)):
        raise UserInputError(f"n {n}: too small or not allowed for {method}; allowed: {what}")


def _ind_units() -> dict[str, str]:
    return {i.name: i.unit for i in INDICATORS}


def oat(unc: UncertaintySet, scenario: Scenario | None = None, *, levels: int = 2,
        opts: RunOptions = RunOptions()) -> pd.DataFrame:
    """One-at-a-time: each parameter at ``levels`` quantiles (0 to 1), the others nominal.

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator, unit, parameter, level, quantile, parameter_value,
        value, nominal_value`` (``level`` 0 = lower bound ... ``levels - 1`` =
        upper bound; ``nominal_value``: every parameter at its nominal value).
    """
    check_n("oat", levels)
    names = unc.names
    nominal = np.array([p.nominal for p in unc.parameters])
    qs = np.linspace(0.0, 1.0, levels)
    rows = [nominal.copy()]
    meta = [(None, None, None, None)]
    for j, p in enumerate(unc.parameters):
        for k, (q, v) in enumerate(zip(qs, p.ppf(qs), strict=True)):
            x = nominal.copy()
            x[j] = v
            rows.append(x)
            meta.append((p.name, k, float(q), float(v)))
    with session(opts) as (store, runner):
        res = _evaluate(np.array(rows), names, scenario, opts, store, runner, _tag("oat", scenario, levels, None),
                        None)
    ind = res.indicators.to_numpy()
    units = _ind_units()
    out = []
    for c, name in enumerate(res.indicators.columns):
        for i, (pname, k, q, v) in enumerate(meta):
            if pname is None:
                continue
            out.append((name, units[name], pname, k, q, v, ind[i, c], ind[0, c]))
    return pd.DataFrame(out, columns=["indicator", "unit", "parameter", "level", "quantile", "parameter_value",
                                      "value", "nominal_value"])


def _tag(method: str, scenario: Scenario | None, n: int, seed: int | None, extra: str = "") -> str:
    scen = "model" if scenario is None else f"{scenario.city}-{scenario.name}"
    return f"{method}-{scen}-n{n}" + ("" if seed is None else f"-seed{seed}") + extra


def morris(unc: UncertaintySet, scenario: Scenario | None = None, *, n: int = DEFAULT_N["morris"],
           num_levels: int = 4, seed: int = 1, num_resamples: int = 1000,
           opts: RunOptions = RunOptions()) -> tuple[pd.DataFrame, object]:
    """Morris screening of the named indicators (SALib ``sample.morris`` / ``analyze.morris``).

    Returns
    -------
    table : pandas.DataFrame
        Columns ``indicator, unit, parameter, mu, mu_star, sigma, mu_star_conf``.
    problem : SALib.ProblemSpec
        With samples, results and ``analysis`` (one ResultDict per indicator).
    """
    check_n("morris", n)
    names = [i.name for i in INDICATORS]
    sp = unc.problem(outputs=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp.sample_morris(n, num_levels=num_levels, seed=seed)
    with session(opts) as (store, runner):
        res = _evaluate(sp.samples, unc.names, scenario, opts, store, runner,
                        _tag("morris", scenario, n, seed), seed)
    sp.set_results(res.indicators[names].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp.analyze_morris(num_levels=num_levels, num_resamples=num_resamples, conf_level=0.95, seed=seed)
    units = _ind_units()
    rows = []
    for name in names:
        a = sp.analysis[name] if len(names) > 1 else sp.analysis
        for j, p in enumerate(unc.names):
            rows.append((name, units[name], p, float(a["mu"][j]), float(a["mu_star"][j]), float(a["sigma"][j]),
                         float(a["mu_star_conf"][j])))
    return pd.DataFrame(rows, columns=["indicator", "unit", "parameter", "mu", "mu_star", "sigma",
                                       "mu_star_conf"]), sp


def sobol_table(sp, Y: np.ndarray, outputs: Sequence[str], *, seed: int = 1, num_resamples: int = 100) -> pd.DataFrame:
    """Sobol S1 and ST with 95 % intervals from SALib for each output column of ``Y``.

    Parameters
    ----------
    sp : SALib.ProblemSpec
        With the Saltelli samples that produced ``Y`` (``sample_sobol``,
        ``calc_second_order=False``).
    Y : numpy.ndarray
        ``(samples, outputs)``.
    outputs : sequence of str
        Names of the columns of ``Y``.

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator, parameter, S1, S1_conf, ST, ST_conf``; NaN for an
        output that does not vary.
    """
    rows = _sobol_rows(sp, np.asarray(Y, dtype=float).reshape(len(Y), -1), list(outputs), seed, num_resamples)
    return pd.DataFrame(rows, columns=["indicator", "parameter", "S1", "S1_conf", "ST", "ST_conf"])


def _sobol_rows(sp, Y: np.ndarray, outputs: list[str], seed: int, num_resamples: int) -> list[tuple]:
    sp["outputs"] = list(outputs)
    sp.set_results(Y[:, 0] if Y.shape[1] == 1 else Y)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        sp.analyze_sobol(calc_second_order=False, num_resamples=num_resamples, conf_level=0.95, seed=seed)
    rows = []
    for c, name in enumerate(outputs):
        a = sp.analysis[name] if len(outputs) > 1 else sp.analysis
        finite = Y[:, c][np.isfinite(Y[:, c])]
        constant = not (len(finite) > 1 and np.std(finite) > 0)  # all NaN (a year never reached) counts as constant
        for j, p in enumerate(sp["names"]):
            vals = [a[k][j] for k in ("S1", "S1_conf", "ST", "ST_conf")]
            rows.append((name, p, *[float("nan") if constant else float(v) for v in vals]))
    return rows


def sobol(unc: UncertaintySet, scenario: Scenario | None = None, *, n: int = DEFAULT_N["sobol"], seed: int = 1,
          yearly: bool = True, num_resamples: int = 100,
          opts: RunOptions = RunOptions()) -> tuple[pd.DataFrame, pd.DataFrame | None, object]:
    """First-order and total Sobol indices with 95 % bootstrap confidence intervals.

    Saltelli's scheme on a scrambled Sobol' sequence (SALib ``sample.sobol``,
    ``calc_second_order=False``: ``n * (D + 2)`` runs), analysed by SALib
    ``analyze.sobol``. An output that does not vary gets NaN indices.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``indicator, parameter, S1, S1_conf, ST, ST_conf``.
    yearly : pandas.DataFrame or None
        Columns ``variable, year, parameter, S1, S1_conf, ST, ST_conf`` for CO2,
        PM2.5 and population in every year.
    problem : SALib.ProblemSpec
        Samples, indicator results and their ``analysis``.
    """
    check_n("sobol", n)
    names = [i.name for i in INDICATORS]
    sp = unc.problem(outputs=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp.sample_sobol(n, calc_second_order=False, seed=seed)
    with session(opts) as (store, runner):
        res = _evaluate(sp.samples, unc.names, scenario, opts, store, runner, _tag("sobol", scenario, n, seed),
                        seed, series=list(SERIES) if yearly else ())
    n_out = len(names) + (sum(res.series[v].shape[1] for v in SERIES) if yearly else 0)
    bar = None
    if opts.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_out, unit="output", desc=f"Sobol indices ({num_resamples} bootstrap resamples)",
                   mininterval=0.5, dynamic_ncols=True)
    table = sobol_table(sp, res.indicators[names].to_numpy(), names, seed=seed, num_resamples=num_resamples)
    if bar is not None:
        bar.update(len(names))
    per_year = None
    if yearly:
        rows = []
        for var in SERIES:
            s = res.series[var]
            years = list(s.columns)
            outs = [f"{var}|{y}" for y in years]
            spy = unc.problem(outputs=outs)
            spy.set_samples(sp.samples)
            for name, p, *vals in _sobol_rows(spy, s.to_numpy(), outs, seed, num_resamples):
                v, y = name.rsplit("|", 1)
                rows.append((v, int(y), p, *vals))
            if bar is not None:
                bar.update(len(outs))
        per_year = pd.DataFrame(rows, columns=["variable", "year", "parameter", "S1", "S1_conf", "ST", "ST_conf"])
    if bar is not None:
        bar.close()
    return table, per_year, sp


def monte_carlo(unc: UncertaintySet, scenarios: Sequence[Scenario], *, n: int = DEFAULT_N["mc"], seed: int = 1,
                quantiles: tuple[float, float, float] = (0.05, 0.5, 0.95),
                opts: RunOptions = RunOptions()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Latin hypercube bands of CO2, PM2.5 and population for each scenario.

    The same ``n`` parameter sets (SALib ``sample.latin``, seeded) are run in
    every scenario (common random numbers).

    Returns
    -------
    bands : pandas.DataFrame
        Columns ``city, scenario, variable, unit, year, p05, p50, p95, mean``
        (model units).
    indicators : pandas.DataFrame
        Columns ``city, scenario, indicator, unit, p05, p50, p95, mean``.
    """
    check_n("mc", n)
    sp = unc.problem()
    sp.sample_latin(n, seed=seed)
    doc = model_doc()
    qcols = [f"p{round(q * 100):02d}" for q in quantiles]
    bands, inds = [], []
    units = _ind_units()
    with session(opts) as (store, runner):
        for scen in scenarios:
            res = _evaluate(sp.samples, unc.names, scen, opts, store, runner, _tag("mc", scen, n, seed), seed,
                            series=list(SERIES))
            for var in SERIES:
                s = res.series[var]
                q, mean = _nan_summary(s.to_numpy(), quantiles)
                for k, year in enumerate(s.columns):
                    bands.append((scen.city, scen.name, var, doc[canonical(var)].units, int(year),
                                  *q[:, k].tolist(), float(mean[k])))
            ind = res.indicators
            q, mean = _nan_summary(ind.to_numpy(), quantiles)
            for k, name in enumerate(ind.columns):
                inds.append((scen.city, scen.name, name, units[name], *q[:, k].tolist(), float(mean[k])))
    return (pd.DataFrame(bands, columns=["city", "scenario", "variable", "unit", "year", *qcols, "mean"]),
            pd.DataFrame(inds, columns=["city", "scenario", "indicator", "unit", *qcols, "mean"]))


def _nan_summary(values: np.ndarray, quantiles) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles and means of each column over the runs that have a value; NaN for a column with none (e.g. a
    year CO2 never reaches), without numpy's all-NaN warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(values, quantiles, axis=0), np.nanmean(values, axis=0)
