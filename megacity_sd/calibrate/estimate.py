"""Estimation: multistart least squares against the observations, confidence intervals, the calibrated file."""

from __future__ import annotations

import datetime as _dt
import math
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import UserInputError
from ..io import write_atomic
from ..model import MODEL_PATH, canonical, check_constant, model_doc
from ..scenario import USER_SCENARIO_DIR, load_scenario
from ..simulate import run_one
from .config import CalibrationConfig, ParameterSpec, _err, load_config, observations
from .statistics import fit_table, weighted_residuals

__all__ = [
    "Simulator",
    "CalibrationResult",
    "calibrate",
    "parameter_table",
    "write_calibrated",
]


class Simulator:
    """Repeated runs of the model for the optimiser, through :func:`megacity_sd.engines.run_one`.

    pysimlin by default (about 3 ms a run, returning only the variables asked
    for); a failing or non-finite run is an infeasible point, not an error.

    Parameters
    ----------
    variables : sequence of str
        Model variables to return.
    base : mapping of str to float, optional
        Constants applied to every run (the city's uncalibrated values).
    engine : {"simlin", "fast", "pysd"}
        The engine (:data:`megacity_sd.engines.ENGINES`).
    mdl_path : str or Path
        The model file.
    """

    def __init__(self, variables: Sequence[str], base: Mapping[str, float] | None = None,
                 mdl_path: str | Path = MODEL_PATH, engine: str = "simlin"):
        self.mdl_path = mdl_path
        self.engine = engine
        self.variables = list(dict.fromkeys(variables))
        self.base = dict(base or {})
        self.runs = 0

    def run(self, constants: Mapping[str, float] | None = None) -> pd.DataFrame | None:
        """Simulate with ``base`` updated by ``constants``.

        Returns
        -------
        pandas.DataFrame or None
            Index ``time`` (whole years), one column per variable, model
            units; None if the run fails or gives a non-finite value.
        """
        self.runs += 1
        try:
            df = run_one(self.engine, {**self.base, **dict(constants or {})}, self.variables,
                         mdl_path=self.mdl_path)
        except Exception:  # noqa: BLE001 - any engine failure is an infeasible point for the optimiser
            return None
        if not np.isfinite(df.to_numpy()).all():
            return None
        df.index = pd.Index(df.index.to_numpy(dtype=float), name="time")
        return df


@dataclass
class CalibrationResult:
    """Outcome of :func:`calibrate` for one city.

    Attributes
    ----------
    city : str
    config : CalibrationConfig
    parameters : pandas.DataFrame
        One row per estimated constant: ``parameter, units, initial`` (the
        uncalibrated value), ``value`` (estimate, 6 significant digits),
        ``low, high`` (calibration bounds), ``std_error, ci_low, ci_high``,
        ``at_bound`` and ``identified`` (False if the standard error exceeds
        the width of the bounds: the data hardly constrain it).
    statistics : pandas.DataFrame
        :func:`fit_table` of the calibrated run (columns :data:`FIT_COLUMNS`).
    statistics_initial : pandas.DataFrame
        The same for the uncalibrated run.
    observations : pandas.DataFrame
        :func:`observations` of the city.
    simulated, simulated_initial : pandas.DataFrame
        Calibrated and uncalibrated runs (index ``time``).
    constants : dict of str to float
        The estimates, keyed by model name (what ``scenarios/calibrated/<city>.yaml`` holds).
    payoff, payoff_initial : float
        Weighted sum of squares at the estimate and at the uncalibrated values.
    n_obs, dof : int
        Fitted observations and degrees of freedom ``n - p``.
    residual_scale : float
        ``sqrt(payoff / dof)``: about 1 if the declared errors are right.
    ar1 : float
        Pooled lag-1 autocorrelation of the weighted residuals (clipped to [0, 0.95]).
    correlation : pandas.DataFrame
        Correlation matrix of the estimates.
    starts : pandas.DataFrame
        One row per starting point: ``start, payoff, nfev, status``.
    runs : int
        Model runs used.
    seconds : float
        Wall time.
    date : str
        ISO date of the calibration.
    """

    city: str
    config: CalibrationConfig
    parameters: pd.DataFrame
    statistics: pd.DataFrame
    statistics_initial: pd.DataFrame
    observations: pd.DataFrame
    simulated: pd.DataFrame
    simulated_initial: pd.DataFrame
    constants: dict[str, float]
    payoff: float
    payoff_initial: float
    n_obs: int
    dof: int
    residual_scale: float
    ar1: float
    correlation: pd.DataFrame
    starts: pd.DataFrame
    runs: int
    seconds: float
    date: str = field(default_factory=lambda: _dt.date.today().isoformat())

    @property
    def fitted_series(self) -> list[str]:
        """Names of the series in the payoff."""
        obs = self.observations
        return list(dict.fromkeys(obs.loc[obs["role"] == "fit", "series"]))

    def source(self) -> str:
        """The ``source`` text written beside each calibrated value."""
        a, b = self.config.in_sample
        pct = round(100 * self.config.confidence)
        return (f"calibrated by megacity-sd calibrate (WLS on {a}-{b} {', '.join(self.fitted_series)}; "
                f"best of {len(self.starts)} starts; holdout {self.config.holdout[0]}-{self.config.holdout[1]}; "
                f"ci: {pct} % interval from the Jacobian covariance), {self.date}")


def _sig(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def _city_values(city: str, params: Sequence[ParameterSpec], mdl_path: Path) -> tuple[dict[str, float], np.ndarray]:
    scen = load_scenario("baseline", city=city, mdl_path=mdl_path, calibrated=False)
    doc = model_doc(mdl_path)
    x0 = np.array([scen.constants.get(p.name, doc[canonical(p.name)].value) for p in params], dtype=float)
    return dict(scen.constants), x0


def _check_bounds(city: str, params: Sequence[ParameterSpec], x0: np.ndarray, cfg: CalibrationConfig) -> None:
    for p, v in zip(params, x0, strict=True):
        if not p.low <= v <= p.high:
            raise _err(cfg.path, f"cities.{city}.parameters.{p.name}",
                       f"bounds [{p.low:g}, {p.high:g}] exclude the city's uncalibrated value {v:g} (where the "
                       "optimiser starts); allowed: bounds that contain it")


def _ar1(r: np.ndarray, obs: pd.DataFrame) -> float:
    num = den = 0.0
    for _, idx in obs.groupby("series").indices.items():
        order = idx[np.argsort(obs["year"].to_numpy()[idx])]
        years = obs["year"].to_numpy()[order]
        x = r[order]
        consecutive = np.diff(years) == 1
        num += float(np.sum(x[1:][consecutive] * x[:-1][consecutive]))
        den += float(np.sum(x**2))
    return float(np.clip(num / den, 0.0, 0.95)) if den > 0 else 0.0


def _jacobian(fun, theta: np.ndarray, lo: np.ndarray, hi: np.ndarray, r0: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian in parameter units (one-sided at a bound)."""
    jac = np.empty((len(r0), len(theta)))
    for j in range(len(theta)):
        h = 1e-3 * (hi[j] - lo[j])
        up, dn = min(theta[j] + h, hi[j]), max(theta[j] - h, lo[j])
        tu, td = theta.copy(), theta.copy()
        tu[j], td[j] = up, dn
        ru = fun(tu) if up > theta[j] else r0
        rd = fun(td) if dn < theta[j] else r0
        jac[:, j] = (ru - rd) / (up - dn)
    return jac


def calibrate(city: str, config: CalibrationConfig | str | Path | None = None, *, starts: int | None = None,
              seed: int | None = None, obs: pd.DataFrame | None = None, mdl_path: str | Path = MODEL_PATH,
              progress: bool = False) -> CalibrationResult:
    """Estimate a city's parameters by weighted least squares on its history.

    Parameters
    ----------
    city : str
        City id with an entry in ``calibration.yaml`` (and a city file).
    config : CalibrationConfig or path, optional
        Default: :data:`CALIBRATION_PATH`.
    starts : int, optional
        Starting points (default: the configuration's ``optimiser.starts``).
    seed : int, optional
        Seed of the starting points (default: the configuration's).
    obs : pandas.DataFrame, optional
        Observations to use instead of :func:`observations` (same columns);
        e.g. data generated by the model itself.
    mdl_path : str or Path
        The model file.
    progress : bool
        Show a progress bar of the model runs (tqdm, on stderr) and print one line per starting point.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    UserInputError
        Unknown city, no data for a listed series, bounds that exclude the
        city's uncalibrated value; see also :func:`load_config`.
    """
    from scipy.optimize import least_squares
    from scipy.stats import qmc
    from scipy.stats import t as student_t

    t_start = _time.perf_counter()
    mdl_path = Path(mdl_path)
    cfg = config if isinstance(config, CalibrationConfig) else load_config(config, mdl_path=mdl_path)
    load_scenario("baseline", city=city, mdl_path=mdl_path, calibrated=False)  # unknown city: one line
    if city not in cfg.cities:
        raise UserInputError(f"{cfg.path}: key 'cities': no entry for city '{city}'; allowed: {', '.join(cfg.cities)}")
    _, params = cfg.cities[city]
    base, x0 = _city_values(city, params, mdl_path)
    _check_bounds(city, params, x0, cfg)
    obs = observations(city, cfg) if obs is None else obs.reset_index(drop=True)
    fit_obs = obs[(obs["role"] == "fit") & obs["period"].isin(["in_sample", "anchor"])].reset_index(drop=True)
    names = [p.name for p in params]
    lo = np.array([p.low for p in params])
    hi = np.array([p.high for p in params])
    n_starts = cfg.starts if starts is None else int(starts)
    rng_seed = cfg.seed if seed is None else int(seed)
    simulator = Simulator(obs["model"].unique(), base=base, mdl_path=mdl_path)
    penalty = np.full(len(fit_obs), 1e3)

    prior_sd = cfg.prior_width * (hi - lo)

    def residuals(theta: np.ndarray) -> np.ndarray:
        sim = simulator.run(dict(zip(names, theta, strict=True)))
        r = penalty if sim is None else weighted_residuals(sim, fit_obs)
        if cfg.prior_width > 0:
            r = np.concatenate([r, (theta - x0) / prior_sd])
        return r

    def fun(u: np.ndarray) -> np.ndarray:
        return residuals(lo + np.clip(u, 0.0, 1.0) * (hi - lo))

    u_init = (x0 - lo) / (hi - lo)
    points = [u_init]
    if n_starts > 1:
        points += list(qmc.LatinHypercube(d=len(params), seed=rng_seed).random(n_starts - 1))
    best, rows = None, []
    bar = None
    if progress:  # a start takes up to a few minutes: show the model runs as they go (tqdm, on stderr)
        from tqdm.auto import tqdm

        bar = tqdm(unit="run", desc=f"{city}: start 1/{len(points)}", mininterval=0.5, leave=False)

    def counted(u: np.ndarray) -> np.ndarray:
        if bar is not None:
            bar.update(1)
        return fun(u)

    try:
        for k, u0 in enumerate(points):
            if bar is not None:
                bar.set_description(f"{city}: start {k + 1}/{len(points)}", refresh=False)
            res = least_squares(counted, np.clip(u0, 0.0, 1.0), bounds=(0.0, 1.0), method="trf", diff_step=1e-3,
                                x_scale=1.0, max_nfev=100 * (len(params) + 1))
            rows.append({"start": "uncalibrated" if k == 0 else f"lhs{k}", "payoff": 2.0 * float(res.cost),
                         "nfev": int(res.nfev), "status": int(res.status)})
            if progress:
                (bar.write if bar is not None else print)(
                    f"    start {k + 1}/{len(points)} ({rows[-1]['start']}): payoff {rows[-1]['payoff']:.4g} "
                    f"after {res.nfev} runs")
            if best is None or res.cost < best.cost:
                best = res
    finally:
        if bar is not None:
            bar.close()
    theta = np.array([_sig(v) for v in lo + np.clip(best.x, 0.0, 1.0) * (hi - lo)])
    theta = np.clip(theta, lo, hi)
    r = residuals(theta)
    pay = float(r @ r)
    n, p = len(r), len(theta)
    dof = n - p
    jac = _jacobian(residuals, theta, lo, hi, r)
    ar1 = _ar1(r, fit_obs)
    inflation = (1.0 + ar1) / (1.0 - ar1)
    s2 = pay / dof if dof > 0 else float("nan")
    cov = s2 * inflation * np.linalg.pinv(jac.T @ jac)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    tq = float(student_t.ppf(0.5 + cfg.confidence / 2.0, dof)) if dof > 0 else float("nan")
    width = hi - lo
    identified = np.isfinite(se) & (se < width)
    ci_lo = np.where(identified, np.maximum(lo, theta - tq * se), lo)
    ci_hi = np.where(identified, np.minimum(hi, theta + tq * se), hi)
    ci_lo = np.minimum([_sig(v) for v in ci_lo], theta)
    ci_hi = np.maximum([_sig(v) for v in ci_hi], theta)
    at_bound = np.isclose(theta, lo, rtol=0, atol=1e-4 * width) | np.isclose(theta, hi, rtol=0, atol=1e-4 * width)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    parameters = pd.DataFrame({"parameter": names, "units": [pp.units for pp in params], "initial": x0,
                               "value": theta, "low": lo, "high": hi, "std_error": se, "ci_low": ci_lo,
                               "ci_high": ci_hi, "at_bound": at_bound, "identified": identified})
    constants = dict(zip(names, theta.tolist(), strict=True))
    sim = simulator.run(constants)
    sim0 = simulator.run({})
    if sim is None or sim0 is None:
        raise RuntimeError(f"{city}: the model failed at the calibrated or the uncalibrated values")
    order = list(dict.fromkeys(obs["series"]))
    r_init = weighted_residuals(sim0, fit_obs)
    return CalibrationResult(
        city=city, config=cfg, parameters=parameters, statistics=fit_table(city, sim, obs, order),
        statistics_initial=fit_table(city, sim0, obs, order), observations=obs, simulated=sim,
        simulated_initial=sim0, constants=constants, payoff=pay, payoff_initial=float(r_init @ r_init),
        n_obs=n, dof=dof, residual_scale=math.sqrt(s2) if s2 == s2 else float("nan"), ar1=ar1,
        correlation=pd.DataFrame(corr, index=names, columns=names), starts=pd.DataFrame(rows),
        runs=simulator.runs, seconds=_time.perf_counter() - t_start)


def parameter_table(result: CalibrationResult) -> pd.DataFrame:
    """The estimates of one city as a table (the ``calibrated_parameters.csv`` rows).

    Returns
    -------
    pandas.DataFrame
        Columns ``city, parameter, units, initial, value, low, high, std_error, ci_low, ci_high,
        at_bound, identified`` (see :attr:`CalibrationResult.parameters`).
    """
    out = result.parameters.copy()
    out.insert(0, "city", result.city)
    return out


def write_calibrated(result: CalibrationResult, folder: str | Path = USER_SCENARIO_DIR / "calibrated") -> Path:
    """Write the calibrated parameter set that ``megacity-sd run`` applies after the city file.

    The file is ``<folder>/<city>.yaml`` (``scenarios/calibrated/`` by
    default), with ``name``, ``title``, ``description`` and, per estimated
    constant, ``value``, ``source`` and ``ci``. It is written to a temporary
    name, checked with the scenario loader's schema and ranges, then renamed.

    Returns
    -------
    Path
    """
    from ..scenario import read_scenario_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.city}.yaml"
    src = result.source()
    constants = {}
    for row in result.parameters.itertuples(index=False):
        constants[row.parameter] = {"value": float(row.value), "source": src,
                                    "ci": [float(row.ci_low), float(row.ci_high)]}
    fit = result.statistics
    lines = [f"{r.variable} {r.period} MAPE {r.mape:.1f} %" for r in fit.itertuples(index=False)
             if r.n > 0 and r.variable in result.fitted_series]
    data = {"name": result.city,
            "title": f"{result.city.capitalize()} (calibrated parameters)",
            "description": (f"Parameters estimated by weighted least squares on {result.config.in_sample[0]}-"
                            f"{result.config.in_sample[1]} history and checked on the {result.config.holdout[0]}-"
                            f"{result.config.holdout[1]} holdout ({'; '.join(lines)}). Written by megacity-sd "
                            f"calibrate on {result.date}; rerun it rather than editing by hand. 'ci' is the "
                            f"{round(100 * result.config.confidence)} % confidence interval, the default range of "
                            "the sensitivity analysis."),
            "constants": constants}
    header = (f"# Calibrated parameter set for {result.city}, applied by megacity-sd run after "
              f"scenarios/cities/{result.city}.yaml.\n# Written by 'megacity-sd calibrate' on {result.date} "
              f"from {result.config.path.name}; do not edit by hand.\n")
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(header)
            yaml.safe_dump(data, f, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
        spec = read_scenario_file(tmp)  # what was written reads back as a valid city file
        for key, raw in spec.constants.items():
            check_constant(key, float(raw.value), where=f"{path}: key 'constants.{key}'")

    return write_atomic(path, write, ".yaml")
