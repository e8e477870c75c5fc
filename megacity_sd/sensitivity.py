"""Sensitivity and uncertainty: one file of uncertain parameters, mapped onto SALib.

The uncertain parameters (``scenarios/uncertainty.yaml``: name, distribution,
range, source) become a :class:`SALib.ProblemSpec`; SALib samples and
analyses, the ensemble runner (:mod:`megacity_sd.ensemble`) evaluates. Four
methods:

* :func:`oat`: one at a time, every parameter at ``levels`` quantiles of its
  distribution (default: its two bounds) with the others nominal; a tornado
  figure of the swings.
* :func:`morris`: Morris elementary-effects screening (Morris 1991,
  https://doi.org/10.1080/00401706.1991.10484804; mu* of Campolongo et al. 2007,
  https://doi.org/10.1016/j.envsoft.2006.10.004).
* :func:`sobol`: first-order and total Sobol indices with bootstrap confidence
  intervals (Saltelli 2002, https://doi.org/10.1016/S0010-4655(02)00280-1;
  Saltelli et al. 2010, https://doi.org/10.1016/j.cpc.2009.09.018) for the named
  indicators and for every year of CO2, PM2.5 and population.
* :func:`monte_carlo`: Latin hypercube (McKay et al. 1979) bands, 5-50-95 %, of
  CO2, PM2.5 and population for each scenario.

The nominal value of a parameter is the resolved scenario's (city file, then
scenario file) or the model default. Ranges default to the model's Vensim
``[min,max]``; a calibration's confidence intervals replace them where the
city has a calibrated parameter set, ``scenarios/calibrated/<city>.yaml``
(:func:`apply_calibration`).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, ValidationError

from .ensemble import DaskRunner, LocalRunner, run_ensemble
from .errors import UserInputError
from .indicators import INDICATORS
from .io import read_yaml_mapping, validation_error
from .model import MODEL_PATH, _resource_dir, canonical, check_constant, model_doc
from .scenario import Scenario

__all__ = [
    "METHODS",
    "DISTRIBUTIONS",
    "DEFAULT_N",
    "SERIES",
    "UNCERTAINTY_FILE",
    "Uncertainty",
    "UncertaintySet",
    "RunOptions",
    "load_uncertainty",
    "apply_calibration",
    "check_n",
    "oat",
    "morris",
    "sobol",
    "sobol_table",
    "monte_carlo",
    "plot_tornado",
    "plot_morris",
    "plot_sobol",
    "plot_sobol_years",
    "plot_fan",
]

METHODS = ("oat", "morris", "sobol", "mc")
DISTRIBUTIONS = ("uniform", "triangular", "truncnorm")
DEFAULT_N = {"oat": 2, "morris": 20, "sobol": 512, "mc": 500}
UNCERTAINTY_FILE = _resource_dir("scenarios") / "uncertainty.yaml"
# yearly series for fan charts and per-year Sobol: variable -> (label, scale, unit)
SERIES = {"CO2 scope 1 and 2": ("CO2 (scope 1+2)", 1e-6, "Mt CO2/yr"), "PM25": ("PM2.5", 1.0, "ug/m3"),
          "Population": ("population", 1e-6, "million")}
_SALIB_DIST = {"uniform": "unif", "triangular": "triang", "truncnorm": "truncnorm"}

Number = StrictFloat | StrictInt


# ----------------------------------------------------------------------------- the uncertainty file


class _ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    distribution: Literal["uniform", "triangular", "truncnorm"] = "uniform"
    bounds: tuple[Number, Number] | None = None
    relative: Number | None = None
    mode: Number | None = None
    mean: Number | None = None
    sd: Number | None = None
    source: str


class _UncertaintyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    title: str | None = None
    description: str = ""
    parameters: list[_ParamSpec]


@dataclass(frozen=True)
class Uncertainty:
    """One uncertain model constant.

    Attributes
    ----------
    name : str
        Model name of the constant.
    distribution : {"uniform", "triangular", "truncnorm"}
    lower, upper : float
        Range (truncation bounds of ``truncnorm``), in the constant's units.
    nominal : float
        The value in the resolved scenario (city and scenario files, else the
        model default): the base of one-at-a-time runs.
    mode : float or None
        Peak of ``triangular``.
    mean, sd : float or None
        Mean and standard deviation of ``truncnorm`` before truncation.
    units : str
    source : str
        Why this range.
    origin : str
        ``"file"``, ``"model range"`` or ``"calibration <file>"``.
    """

    name: str
    distribution: str
    lower: float
    upper: float
    nominal: float
    mode: float | None = None
    mean: float | None = None
    sd: float | None = None
    units: str = ""
    source: str = ""
    origin: str = "file"

    def salib(self) -> tuple[str, list[float]]:
        """SALib's distribution name and its ``bounds`` entry."""
        if self.distribution == "uniform":
            return "unif", [self.lower, self.upper]
        if self.distribution == "triangular":
            # SALib takes the peak as a fraction of the width and refuses exactly 1 (a peak at the upper
            # bound, which a calibration estimate on its bound gives): 1 - 1e-12 is the same distribution
            c = min((self.mode - self.lower) / (self.upper - self.lower), 1.0 - 1e-12)
            return "triang", [self.lower, self.upper, c]
        return "truncnorm", [self.lower, self.upper, self.mean, self.sd]

    def ppf(self, q) -> np.ndarray:
        """Quantiles of the distribution, as SALib scales its samples (scipy.stats)."""
        from scipy import stats

        q = np.atleast_1d(np.asarray(q, dtype=float))
        dist, b = self.salib()
        if dist == "unif":
            return q * (self.upper - self.lower) + self.lower
        if dist == "triang":
            return stats.triang.ppf(q, c=b[2], scale=b[1] - b[0], loc=b[0])
        return stats.truncnorm.ppf(q, (b[0] - b[2]) / b[3], (b[1] - b[2]) / b[3], loc=b[2], scale=b[3])


@dataclass
class UncertaintySet:
    """The uncertain parameters of one analysis.

    Attributes
    ----------
    name, title : str
    parameters : tuple of Uncertainty
    files : list of Path
        The uncertainty file and any calibration file applied.
    """

    name: str
    title: str
    parameters: tuple[Uncertainty, ...]
    files: list[Path] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def problem(self, outputs: Sequence[str] | None = None):
        """The SALib problem: names, bounds, distributions (and output names).

        Returns
        -------
        SALib.ProblemSpec
        """
        from SALib import ProblemSpec

        dists, bounds = zip(*(p.salib() for p in self.parameters), strict=True)
        spec = {"names": self.names, "bounds": [list(b) for b in bounds], "dists": list(dists)}
        if outputs is not None:
            spec["outputs"] = list(outputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ProblemSpec(spec)

    def table(self) -> pd.DataFrame:
        """One row per parameter: distribution, range, nominal value, units, source, origin."""
        return pd.DataFrame([p.__dict__ for p in self.parameters])


def _read_yaml(path: Path, schema, what: str):
    data = read_yaml_mapping(path, f"({what})")
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        raise validation_error(path, err, f"unknown key; allowed: {what}") from None


_PARAM_KEYS = ("name, distribution (uniform, triangular, truncnorm), bounds [low, high] or relative r, "
               "mode, mean, sd, source")


def load_uncertainty(path: str | Path | None = None, *, scenario: Scenario | None = None,
                     calibration: str | Path | bool = True, mdl_path: str | Path = MODEL_PATH) -> UncertaintySet:
    """Read the uncertain parameters and resolve their ranges for a scenario.

    Parameters
    ----------
    path : str or Path, optional
        The uncertainty file (default: ``scenarios/uncertainty.yaml``).
    scenario : Scenario, optional
        Resolved scenario (city and scenario constants) giving the nominal
        values (default: the model's defaults).
    calibration : bool or path
        ``True``: where the scenario carries confidence intervals of
        calibrated constants (``scenarios/calibrated/<city>.yaml``, applied by
        :func:`~megacity_sd.scenario.load_scenario`), they replace the ranges
        of those parameters (:func:`apply_calibration`); a path: take the
        intervals from that calibrated file; ``False``: the file's ranges only.
    mdl_path : str or Path
        The model whose names and ranges the file is checked against.

    Returns
    -------
    UncertaintySet

    Raises
    ------
    UserInputError
        Missing or malformed file, unknown key, a name that is not a model
        constant (or is a policy lever, or is listed twice), a range outside
        the model's ``[min,max]`` or empty, a missing mode/mean/sd.
    """
    path = Path(path) if path is not None else UNCERTAINTY_FILE
    spec = _read_yaml(path, _UncertaintyFile, "name, title, description, parameters (a list of: "
                      + _PARAM_KEYS + ")")
    doc = model_doc(Path(mdl_path))
    nominal_of = {k: v.value for k, v in doc.items() if v.kind == "constant"}
    for k, v in (scenario.constants if scenario is not None else {}).items():
        nominal_of[canonical(k)] = float(v)
    if not spec.parameters:
        raise UserInputError(f"{path}: key 'parameters': empty; allowed: at least two uncertain parameters")
    out, seen = [], set()
    for i, p in enumerate(spec.parameters):
        where = f"{path}: key 'parameters.{i}.{{}}' ({p.name})"
        var = check_constant(p.name, where=where.format("name"), mdl_path=mdl_path)
        if var.sector == "Policy":
            raise UserInputError(where.format("name") + ": a policy constant; allowed: constants outside the "
                                 "Policy sector (levers and baseline paths belong in scenario and city files)")
        if var.name in seen:
            raise UserInputError(where.format("name") + ": listed twice")
        seen.add(var.name)
        lim = var.limits or (-math.inf, math.inf)
        nominal = float(nominal_of[canonical(var.name)])
        origin = "file"
        if p.bounds is not None and p.relative is not None:
            raise UserInputError(where.format("relative") + ": give bounds or relative, not both")
        if p.relative is not None:
            if not 0 < p.relative < 1:
                raise UserInputError(where.format("relative") + f": {p.relative:g} not allowed; allowed: 0 < r < 1")
            lo, hi = sorted((nominal * (1 - p.relative), nominal * (1 + p.relative)))
            lo, hi = max(lo, lim[0]), min(hi, lim[1])
        elif p.bounds is not None:
            lo, hi = float(p.bounds[0]), float(p.bounds[1])
            if not (lim[0] <= lo and hi <= lim[1]):
                raise UserInputError(where.format("bounds") + f": [{lo:g}, {hi:g}] outside the model's range; "
                                     f"allowed: within [{lim[0]:g}, {lim[1]:g}] {var.units}")
        else:
            if var.limits is None:
                raise UserInputError(where.format("bounds") + ": the model gives no [min,max]; allowed: bounds")
            lo, hi = lim
            origin = "model range"
        if not lo < hi:
            raise UserInputError(where.format("bounds") + f": empty range [{lo:g}, {hi:g}]; allowed: low < high")
        mode = mean = sd = None
        if p.distribution == "triangular":
            mode = float(p.mode) if p.mode is not None else nominal
            if not lo <= mode <= hi:
                raise UserInputError(where.format("mode") + f": {mode:g} outside [{lo:g}, {hi:g}]")
            if hi < 0:
                raise UserInputError(where.format("bounds") + ": triangular needs an upper bound >= 0 (SALib)")
        elif p.distribution == "truncnorm":
            mean = float(p.mean) if p.mean is not None else nominal
            if p.sd is None or not p.sd > 0:
                raise UserInputError(where.format("sd") + ": truncnorm needs sd > 0")
            sd = float(p.sd)
        for k in ("mode", "mean", "sd"):
            if getattr(p, k) is not None and not (k == "mode" and p.distribution == "triangular") \
                    and not (k in ("mean", "sd") and p.distribution == "truncnorm"):
                raise UserInputError(where.format(k) + f": not used by {p.distribution}; allowed: mode for "
                                     "triangular, mean and sd for truncnorm")
        out.append(Uncertainty(var.name, p.distribution, lo, hi, nominal, mode, mean, sd, var.units, p.source,
                               origin))
    if len(out) < 2:
        raise UserInputError(f"{path}: key 'parameters': one parameter; allowed: at least two")
    unc = UncertaintySet(spec.name, spec.title or spec.name, tuple(out), [path])
    if calibration is True and scenario is not None and scenario.intervals:
        cal_files = [f for f in scenario.files if f.parent.name == "calibrated"]
        label = f"calibration {cal_files[-1].name}" if cal_files else "calibration"
        unc = apply_calibration(unc, scenario.intervals, estimates=scenario.constants, label=label,
                                mdl_path=mdl_path)
    elif calibration not in (True, False):
        from .scenario import read_scenario_file

        cal_path = Path(calibration)
        spec_cal = read_scenario_file(cal_path)
        intervals = {k: tuple(v.ci) for k, v in spec_cal.constants.items() if getattr(v, "ci", None) is not None}
        estimates = {k: float(getattr(v, "value", v)) for k, v in spec_cal.constants.items()}
        unc = apply_calibration(unc, intervals, estimates=estimates, label=f"calibration {cal_path.name}",
                                mdl_path=mdl_path)
        unc.files.append(cal_path)
    return unc


def apply_calibration(unc: UncertaintySet, intervals: Mapping[str, tuple[float, float]], *,
                      estimates: Mapping[str, float] | None = None, level: float = 0.95, label: str = "calibration",
                      mdl_path: str | Path = MODEL_PATH) -> UncertaintySet:
    """Replace ranges by a calibration's confidence intervals (the calibration hook).

    ``megacity-sd calibrate`` writes ``scenarios/calibrated/<city>.yaml`` with a
    ``ci: [low, high]`` beside each estimated constant; :func:`load_scenario`
    applies the estimates after the city file and keeps the intervals in
    ``Scenario.intervals``, which :func:`load_uncertainty` passes here.

    For every parameter that is both uncertain and calibrated: ``uniform``
    takes the interval as its bounds; ``triangular`` the interval as bounds and
    the estimate as mode; ``truncnorm`` the estimate as mean, the interval's
    half-width over the normal quantile of ``level`` as sd, and bounds of
    +-3 sd. Everything is clipped to the model's ``[min,max]``. Calibrated
    constants that are not in the uncertainty file are not made uncertain.

    Parameters
    ----------
    unc : UncertaintySet
    intervals : mapping of str to (float, float)
        Confidence interval of each calibrated constant (model names).
    estimates : mapping of str to float, optional
        Point estimates (default: the interval's midpoint).
    level : float
        Confidence level of the intervals.
    label : str
        Recorded in ``origin``.

    Returns
    -------
    UncertaintySet
    """
    from scipy.stats import norm

    doc = model_doc(Path(mdl_path))
    ci = {canonical(k): (float(min(v)), float(max(v))) for k, v in intervals.items()}
    est_of = {canonical(k): float(v) for k, v in (estimates or {}).items()}
    params = []
    for p in unc.parameters:
        key = canonical(p.name)
        if key not in ci:
            params.append(p)
            continue
        lim = doc[key].limits or (-math.inf, math.inf)
        lo, hi = ci[key]
        est = est_of.get(key, (lo + hi) / 2)
        if not (lo <= est <= hi and lo < hi):
            raise UserInputError(f"{label}: '{p.name}': interval [{lo:g}, {hi:g}] empty or without the estimate "
                                 f"{est:g}; allowed: low < estimate < high")
        kw: dict = {"origin": label, "source": f"{label}: {round(100 * level)} % confidence interval",
                    "nominal": est}
        if p.distribution == "truncnorm":
            sd = (hi - lo) / 2 / norm.ppf(0.5 + level / 2)
            kw.update(mean=est, sd=sd, lower=max(lim[0], est - 3 * sd), upper=min(lim[1], est + 3 * sd))
        else:
            kw.update(lower=max(lim[0], lo), upper=min(lim[1], hi))
            if p.distribution == "triangular":
                kw.update(mode=est)
        params.append(replace(p, **kw))
    return UncertaintySet(unc.name, unc.title, tuple(params), list(unc.files))


# ----------------------------------------------------------------------------- running


@dataclass(frozen=True)
class RunOptions:
    """How the ensembles of an analysis are run and where they are stored.

    Attributes
    ----------
    store : Path or None
        Folder for the ensembles (resumable); None: a temporary folder.
    engine : {"fast", "simlin", "pysd"}
    workers : int or None
        Local worker processes (None: every CPU; 0: in this process).
    scheduler : str or distributed.Client or None
        A Dask scheduler instead of the local pool.
    time_step : float or None
        Integration step (None: the model's TIME STEP, 1/8 year).
    batch_size : int or None
    progress : bool
    """

    store: Path | None = None
    engine: str = "fast"
    workers: int | None = None
    scheduler: object = None
    time_step: float | None = None
    batch_size: int | None = None
    progress: bool = False


@contextmanager
def _session(opts: RunOptions):
    tmp = None
    store = opts.store
    if store is None:
        tmp = tempfile.TemporaryDirectory(prefix="megacity-sd-ensemble-")
        store = Path(tmp.name)
    if opts.scheduler is not None:
        runner = DaskRunner(opts.scheduler)
    else:
        import os

        runner = LocalRunner((os.cpu_count() or 1) if opts.workers is None else opts.workers)
    try:
        yield Path(store), runner
    finally:
        runner.close()
        if tmp is not None:
            tmp.cleanup()


def _evaluate(X: np.ndarray, names: list[str], scenario: Scenario | None, opts: RunOptions, store: Path, runner,
              tag: str, seed: int | None, series: Sequence[str] = ()):
    base = scenario.constants if scenario is not None else {}
    label = f"{tag}" if scenario is None else f"{tag} {scenario.city}/{scenario.name}"
    # the folder name carries a digest of the inputs: an edited uncertainty file or scenario starts a new
    # ensemble instead of clashing with the stored one; the same command resumes the same folder
    digest = hashlib.sha256(json.dumps([names, sorted(base.items()), opts.engine, opts.time_step],
                                       default=str).encode() + np.ascontiguousarray(X, dtype=float).tobytes()
                            + MODEL_PATH.read_bytes())
    return run_ensemble(pd.DataFrame(X, columns=names), store / f"{tag}-{digest.hexdigest()[:8]}", base=base,
                        series=list(series),
                        engine=opts.engine, runner=runner, time_step=opts.time_step, batch_size=opts.batch_size,
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
    with _session(opts) as (store, runner):
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
    with _session(opts) as (store, runner):
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
        constant = not np.nanstd(Y[:, c]) > 0
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
    with _session(opts) as (store, runner):
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
    with _session(opts) as (store, runner):
        for scen in scenarios:
            res = _evaluate(sp.samples, unc.names, scen, opts, store, runner, _tag("mc", scen, n, seed), seed,
                            series=list(SERIES))
            for var in SERIES:
                s = res.series[var]
                q = np.nanquantile(s.to_numpy(), quantiles, axis=0)
                mean = np.nanmean(s.to_numpy(), axis=0)
                for k, year in enumerate(s.columns):
                    bands.append((scen.city, scen.name, var, doc[canonical(var)].units, int(year),
                                  *q[:, k].tolist(), float(mean[k])))
            ind = res.indicators
            q = np.nanquantile(ind.to_numpy(), quantiles, axis=0)
            for k, name in enumerate(ind.columns):
                inds.append((scen.city, scen.name, name, units[name], *q[:, k].tolist(),
                             float(np.nanmean(ind[name]))))
    return (pd.DataFrame(bands, columns=["city", "scenario", "variable", "unit", "year", *qcols, "mean"]),
            pd.DataFrame(inds, columns=["city", "scenario", "indicator", "unit", *qcols, "mean"]))


# ----------------------------------------------------------------------------- figures


def plot_tornado(table: pd.DataFrame, indicator: str, ax, *, top: int = 10):
    """Tornado of one indicator: change from the nominal run at each parameter's bounds.

    Returns
    -------
    matplotlib.axes.Axes
    """
    sel = table[table["indicator"] == indicator]
    lo = sel[sel["level"] == sel["level"].min()].set_index("parameter")
    hi = sel[sel["level"] == sel["level"].max()].set_index("parameter")
    base = float(sel["nominal_value"].iloc[0])
    d_lo = lo["value"] - base
    d_hi = hi["value"] - base
    swing = (d_hi - d_lo).abs().sort_values(ascending=True).tail(top)
    y = np.arange(len(swing))
    ax.barh(y, d_lo[swing.index], color="#1b9e77", label="parameter at lower bound")
    ax.barh(y, d_hi[swing.index], color="#d95f02", label="parameter at upper bound", alpha=0.85)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, list(swing.index))
    unit = sel["unit"].iloc[0]
    ax.set_xlabel(f"change from nominal ({unit}; nominal {base:.4g})")
    ax.set_title(indicator)
    return ax


def plot_morris(table: pd.DataFrame, indicator: str, ax, *, top: int = 10):
    """Morris mu* with its 95 % interval (bars) and sigma (points) for one indicator."""
    sel = table[table["indicator"] == indicator].sort_values("mu_star").tail(top)
    y = np.arange(len(sel))
    ax.barh(y, sel["mu_star"], xerr=sel["mu_star_conf"], color="#7570b3", alpha=0.8, label="mu*", capsize=2)
    ax.plot(sel["sigma"], y, "o", color="#d95f02", ms=4, label="sigma")
    ax.set_yticks(y, list(sel["parameter"]))
    ax.set_xlabel(f"elementary effect ({sel['unit'].iloc[0]} over the range)")
    ax.set_title(indicator)
    return ax


def plot_sobol(table: pd.DataFrame, indicator: str, ax, *, top: int = 10):
    """First-order and total Sobol indices with 95 % intervals for one indicator."""
    sel = table[table["indicator"] == indicator].sort_values("ST").tail(top)
    y = np.arange(len(sel))
    ax.barh(y + 0.2, sel["ST"], height=0.4, xerr=sel["ST_conf"], color="#d95f02", label="ST (total)", capsize=2)
    ax.barh(y - 0.2, sel["S1"], height=0.4, xerr=sel["S1_conf"], color="#1b9e77", label="S1 (first order)",
            capsize=2)
    ax.set_yticks(y, list(sel["parameter"]))
    ax.set_xlim(left=min(0.0, float(np.nanmin(sel["S1"] - sel["S1_conf"])) if len(sel) else 0.0))
    ax.set_xlabel("Sobol index")
    ax.set_title(indicator)
    return ax


def plot_sobol_years(yearly: pd.DataFrame, variable: str, index: str, ax, *, top: int = 10, cmap: str = "viridis"):
    """Heat map of a Sobol index (``S1`` or ``ST``) of one variable: parameters x years."""
    sel = yearly[yearly["variable"] == variable]
    grid = sel.pivot(index="parameter", columns="year", values=index)
    order = grid.mean(axis=1).sort_values(ascending=False).index[:top]
    grid = grid.loc[order]
    im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    years = list(grid.columns)
    ticks = [k for k, y in enumerate(years) if y % 10 == 0]
    ax.set_xticks(ticks, [str(years[k]) for k in ticks])
    ax.set_yticks(range(len(order)), list(order))
    ax.set_title(f"{SERIES.get(variable, (variable,))[0]}: {index}")
    ax.grid(False)
    return im


def plot_fan(bands: pd.DataFrame, variable: str, scenario: str, ax, *, nominal: pd.Series | None = None,
             color: str | None = None):
    """5-50-95 % band of one variable in one scenario (optionally the nominal run, dashed)."""
    label, scale, unit = SERIES.get(variable, (variable, 1.0, ""))
    sel = bands[(bands["variable"] == variable) & (bands["scenario"] == scenario)].sort_values("year")
    ax.fill_between(sel["year"], sel["p05"] * scale, sel["p95"] * scale, color=color, alpha=0.25, lw=0,
                    label="5-95 %")
    ax.plot(sel["year"], sel["p50"] * scale, color=color, lw=1.5, label="median")
    if nominal is not None:
        ax.plot(nominal.index, nominal.to_numpy() * scale, color="black", lw=0.9, ls="--", label="nominal")
    ax.set_title(scenario)
    ax.set_ylabel(unit)
    ax.set_ylim(bottom=0)
    return ax
