"""Least-effort levers, robust packages, and the model as an EMA Workbench model.

* :func:`least_effort`: the lever setting that meets every target with the
  least effort, effort being the weighted sum of each lever's normalised
  distance from the city's baseline level (0 at the baseline, 1 at the
  model's maximum; :class:`~megacity_sd.discover.Lever`). The optimiser is
  sequential quadratic programming, ``scipy.optimize.minimize(method="SLSQP")``
  (Kraft 1988), with the targets' margins (:func:`megacity_sd.targets.margins`,
  <= 0 when met) as inequality constraints and their forward-difference
  gradients computed as one vectorised batch (levers + 1 runs); started from
  every lever at its maximum and from the lowest-effort settings that meet
  the targets in a Latin hypercube sample; a result that the linearised
  constraints leave just outside the targets is moved back towards its start
  until it meets them; then each lever in turn, the largest weighted effort
  first, is lowered as far as the targets allow with the others fixed (grids
  of 16 points per lever, all levers in one batch, narrowed pass by pass). The result is a
  local optimum (no single lever can be lowered; the best of the starts), not
  a proven global one.
* :func:`robustness`: each package (scenario) over the same N futures (a
  Latin hypercube of ``scenarios/uncertainty.yaml``): the share of futures in
  which it meets each target and all of them, and its regret (Savage 1951)
  against the best package of each future; a package is robust when it meets
  all targets in at least 90 % of futures.
* :func:`ema_model`: an ``ema_workbench.Model`` with the levers, the uncertain
  parameters and the indicators (and targets) declared; :class:`BatchEvaluator`
  evaluates EMA experiments as one vectorised batch of the fast engine.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .discover import Lever, RunOptions, levers, run_sets, session
from .indicators import INDICATORS, Indicator
from .targets import TargetSet, evaluate, indicator_values, margins, series_variables

__all__ = [
    "SeekResult",
    "model_margins",
    "least_effort",
    "scenario_yaml",
    "RobustResult",
    "sample_futures",
    "robustness",
    "plot_robustness",
    "ema_model",
    "BatchEvaluator",
]


# ----------------------------------------------------------------------------- least effort


@dataclass
class SeekResult:
    """The least-effort setting found by :func:`least_effort`.

    Attributes
    ----------
    levers : list of Lever
    weights : numpy.ndarray
    effort : numpy.ndarray
        Normalised effort of each lever (0 = baseline level, 1 = maximum).
    margins : numpy.ndarray
        Each target's margin at the setting (<= 0: met).
    met : bool
        Every target met.
    evaluations : int
        Model runs made.
    message : str
        The optimiser's message.
    """

    levers: list[Lever]
    weights: np.ndarray
    effort: np.ndarray
    margins: np.ndarray
    met: bool
    evaluations: int
    message: str = ""

    @property
    def values(self) -> np.ndarray:
        """Lever values of the setting."""
        return np.array([lv.value(e) for lv, e in zip(self.levers, self.effort, strict=True)], dtype=float)

    @property
    def total(self) -> float:
        """Total weighted effort."""
        return float(self.weights @ self.effort)

    def table(self) -> pd.DataFrame:
        """One row per lever: baseline level, maximum, value, normalised effort, weight, weighted effort."""
        return pd.DataFrame({
            "lever": [lv.name for lv in self.levers], "units": [lv.units for lv in self.levers],
            "baseline": [lv.low for lv in self.levers], "maximum": [lv.high for lv in self.levers],
            "value": self.values, "effort": self.effort, "weight": self.weights,
            "weighted_effort": self.weights * self.effort})


def model_margins(targets: TargetSet, base: dict[str, float], all_levers: Sequence[Lever], *, engine: str = "fast"
                  ) -> Callable[[np.ndarray], np.ndarray]:
    """The targets' margins of lever settings, by the model (one vectorised batch per call, in this process).

    Returns
    -------
    callable
        ``f(values)`` with ``values`` of shape ``(S, levers)`` (lever values)
        returning ``(S, targets)`` margins.
    """
    from .engines import run_batch

    names = [lv.name for lv in all_levers]
    variables = targets.variables()

    def f(values: np.ndarray) -> np.ndarray:
        params = pd.DataFrame(np.atleast_2d(values), columns=names)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            years, series = run_batch(engine, params, base, variables)
        return margins(targets, years, series)

    return f


def least_effort(all_levers: Sequence[Lever], margin_fn: Callable[[np.ndarray], np.ndarray], *,
                 weights: Sequence[float] | None = None, seed: int = 1, starts: int = 1, sample: int | None = None,
                 maxiter: int = 40, step: float = 1e-3, trim: bool = True) -> SeekResult:
    """The setting that meets every target with the least weighted effort.

    Parameters
    ----------
    all_levers : sequence of Lever
        The levers searched (the others stay at the base scenario's values).
    margin_fn : callable
        ``f(values (S, levers)) -> margins (S, targets)``, <= 0 where met
        (:func:`model_margins`, or any function for a test problem).
    weights : sequence of float, optional
        Weight of each lever's normalised effort (default: 1 each).
    seed : int
        Seed of the Latin hypercube of starting points.
    starts : int
        Local searches: from every lever at its maximum, and from the
        ``starts - 1`` lowest-effort settings that meet the targets in a Latin
        hypercube sample of ``sample`` settings (default ``20 * levers``).
    maxiter : int
        Iterations of each SLSQP search.
    step : float
        Forward-difference step of the gradients, in normalised effort.
    trim : bool
        Lower each lever as far as the targets allow afterwards.

    Returns
    -------
    SeekResult
        ``met`` is False when every lever at its maximum already misses a
        target; the setting is then every lever at its maximum.
    """
    from scipy.optimize import minimize
    from scipy.stats import qmc

    all_levers = list(all_levers)
    d = len(all_levers)
    w = np.ones(d) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (d,) or (w < 0).any():
        raise ValueError("weights: one non-negative number per lever")
    count = {"runs": 0}

    def marg(e: np.ndarray) -> np.ndarray:  # normalised efforts (S, d) -> margins (S, M)
        e = np.atleast_2d(e)
        count["runs"] += len(e)
        values = np.column_stack([lv.value(e[:, j]) for j, lv in enumerate(all_levers)])
        return np.asarray(margin_fn(values), dtype=float)

    top = marg(np.ones((1, d)))[0]
    if not (top <= 0).all():
        return SeekResult(all_levers, w, np.ones(d), top, False, count["runs"],
                          f"no setting meets every target: every lever at its maximum misses {int((top > 0).sum())} "
                          "of them")
    origins = [np.ones(d)]
    if starts > 1:
        u = qmc.LatinHypercube(d=d, seed=seed).random(sample or 20 * d)
        ok = (marg(u) <= 0).all(axis=1)
        best = np.argsort(np.where(ok, u @ w, np.inf))[: starts - 1]
        origins += [u[i] for i in best if ok[i]]
    found = []
    for e0 in origins:
        e = _slsqp(e0, w, marg, minimize, maxiter, step)
        e = np.where(e < 1e-9, 0.0, np.where(e > 1 - 1e-9, 1.0, e))  # rounding noise of the solver
        m = marg(e[None, :])[0]
        if not (m <= 0).all():
            e, m = _repair(e, e0, marg)
        if trim:
            e, m = _trim(e, m, w, marg)
        found.append((float(w @ e), e, m))
    total, e, m = min(found, key=lambda r: r[0])
    others = [f"{r[0]:.4g}" for r in found if r[1] is not e]
    msg = f"SLSQP from {len(origins)} start(s); total effort {total:.4g}" + \
        (f" (other starts: {', '.join(others)})" if others else "")
    return SeekResult(all_levers, w, e, m, bool((m <= 0).all()), count["runs"], msg)


def _slsqp(e0, w, marg, minimize, maxiter, step):
    """One SLSQP search from ``e0``; the margins and their forward-difference Jacobian in one batch per point."""
    d = len(e0)
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def both(e):
        e = np.clip(np.asarray(e, dtype=float), 0.0, 1.0)
        key = e.tobytes()
        if key not in cache:
            h = np.where(e + step <= 1.0, step, -step)  # backward at the upper bound
            pts = np.vstack([e[None, :], e[None, :] + np.diag(h)])
            m = marg(pts)
            cache.clear()
            cache[key] = (m[0], ((m[1:] - m[0]) / h[:, None]).T)
        return cache[key]

    res = minimize(lambda e: float(w @ e), e0, jac=lambda e: w, method="SLSQP", bounds=[(0.0, 1.0)] * d,
                   constraints=[{"type": "ineq", "fun": lambda e: -both(e)[0], "jac": lambda e: -both(e)[1]}],
                   options={"maxiter": maxiter, "ftol": 1e-7})
    return np.clip(np.asarray(res.x, dtype=float), 0.0, 1.0)


def _repair(e, e0, marg, points: int = 16, depth: int = 3):
    """Move from ``e`` towards ``e0`` (which meets every target) just far enough to meet them all."""
    lo, hi = 0.0, 1.0  # fraction of the way to e0; hi is feasible
    m_hi = None
    for _ in range(depth):
        ts = np.linspace(lo, hi, points + 1)[1:]
        mm = marg(e[None, :] + ts[:, None] * (e0 - e)[None, :])
        ok = (mm <= 0).all(axis=1)
        k = int(np.argmax(ok)) if ok.any() else len(ts) - 1
        hi, m_hi = ts[k], mm[k]
        lo = ts[k - 1] if k > 0 else lo
    return e + hi * (e0 - e), m_hi


def _trim(e: np.ndarray, m: np.ndarray, w: np.ndarray, marg, points: int = 16, passes: int = 5):
    """Lower levers as far as the targets allow, the others fixed; every lever's grid in one batch per pass.

    Each pass evaluates, for every lever, ``points`` lower values between its
    bracket (the highest value known to miss a target, 0 at first) and its
    current value; the levers' feasible reductions are applied largest saving
    first, as many together as still meet every target (one more batch).
    """
    e = e.copy()
    d = len(e)
    lo = np.zeros(d)
    for _ in range(passes):
        movable = [j for j in range(d) if e[j] > lo[j] + 1e-6 and w[j] > 0]
        if not movable:
            break
        trials, owner, grid_of = [], [], {}
        for j in movable:
            grid = np.linspace(lo[j], e[j], points + 1)[:-1]
            grid_of[j] = grid
            t = np.repeat(e[None, :], len(grid), axis=0)
            t[:, j] = grid
            trials.append(t)
            owner += [j] * len(grid)
        ok = (marg(np.vstack(trials)) <= 0).all(axis=1)
        owner = np.array(owner)
        best = {}
        for j in movable:
            okj = ok[owner == j]
            grid = grid_of[j]
            if okj.any():
                k = int(np.argmax(okj))
                best[j] = grid[k]
                lo[j] = grid[k - 1] if k > 0 else lo[j]
            else:
                lo[j] = grid[-1]
        if not best:
            continue
        order = sorted(best, key=lambda j: -w[j] * (e[j] - best[j]))
        steps = np.repeat(e[None, :], len(order), axis=0)
        for i, j in enumerate(order):
            steps[i:, j] = best[j]
        mm = marg(steps)
        okk = (mm <= 0).all(axis=1)
        k = len(order) - 1 - int(np.argmax(okk[::-1])) if okk.any() else -1
        if k < 0:
            continue
        e, m = steps[k].copy(), mm[k]
    return e, m


def scenario_yaml(result: SeekResult, *, name: str, city: str, targets: TargetSet, note: str = "",
                  decimals: int = 4) -> tuple[str, dict[str, float]]:
    """The setting as a scenario file for ``megacity-sd run --scenario FILE``.

    Lever values are rounded up (towards more effort) to ``decimals``
    significant decimals of their range; levers at their baseline level are
    left out (they would change nothing).

    Returns
    -------
    text : str
        The YAML text.
    constants : dict of str to float
        The values written.
    """
    import yaml

    constants: dict[str, float] = {}
    for lv, e in zip(result.levers, result.effort, strict=True):
        if e <= 0:
            continue
        step = (lv.high - lv.low) * 10.0 ** (-decimals)
        places = max(0, int(-np.floor(np.log10(step)))) if step > 0 else 6
        v = round(float(np.ceil(lv.value(e) / step - 1e-9) * step), places)
        constants[lv.name] = float(min(max(v, lv.low), lv.high))
    src = (f"megacity-sd seek: least weighted effort meeting the targets '{targets.name}' for {city}; effort = "
           "normalised distance from the city's baseline level")
    doc = {"name": name, "title": f"Least-effort levers meeting {targets.name} ({city})", "extends": "baseline",
           "description": (f"Found by megacity-sd seek for {city}: total weighted effort {result.total:.4g} over "
                           f"{len(constants)} lever(s); targets: " + "; ".join(t.condition.describe()
                                                                             for t in targets.targets)
                           + (f". {note}" if note else "")),
           "constants": {k: {"value": v, "source": src} for k, v in constants.items()}}
    head = "# Written by 'megacity-sd seek'. Run it with: megacity-sd run --city " + city + " --scenario THIS_FILE\n"
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110), constants


# ----------------------------------------------------------------------------- robustness


def sample_futures(uncertainty, n: int, *, seed: int = 1) -> pd.DataFrame:
    """N futures: a Latin hypercube (``scipy.stats.qmc``) of the uncertain parameters, from their distributions.

    Returns
    -------
    pandas.DataFrame
        One row per future, one column per uncertain parameter.
    """
    from scipy.stats import qmc

    u = qmc.LatinHypercube(d=len(uncertainty.parameters), seed=seed).random(n)
    return pd.DataFrame({p.name: p.ppf(u[:, k]) for k, p in enumerate(uncertainty.parameters)})


@dataclass
class RobustResult:
    """The result of :func:`robustness`.

    Attributes
    ----------
    city : str
    targets : TargetSet
    futures : pandas.DataFrame
        The sampled futures.
    table : pandas.DataFrame
        ``package, target, condition, unit, share_met, regret_mean, regret_p90, regret_max, robust``; the
        target ``all targets`` has regret in targets missed.
    runs : pandas.DataFrame
        Long: ``package, future, target, value, bound, met, regret``.
    threshold : float
    """

    city: str
    targets: TargetSet
    futures: pd.DataFrame
    table: pd.DataFrame
    runs: pd.DataFrame
    threshold: float = 0.9
    packages: list[str] = field(default_factory=list)

    def robust_packages(self) -> list[str]:
        t = self.table[self.table["target"] == "all targets"]
        return list(t.loc[t["robust"], "package"])


def _distance(targets: TargetSet, values: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance of each run to each target's bound (<= 0 met side), in the indicator's unit; and the bound."""
    dist, bounds = [], []
    for t in targets.targets:
        c = t.condition
        v = values[c.left.name].to_numpy()
        b = np.full(len(v), c.constant) if c.right is None else c.factor * values[c.right.name].to_numpy()
        dist.append(v - b if c.op in ("<", "<=") else b - v)
        bounds.append(b)
    return np.column_stack(dist), np.column_stack(bounds)


def robustness(city: str, targets: TargetSet, scenarios: Sequence[str], *, n: int = 200, seed: int = 1,
               opts: RunOptions | None = None, threshold: float = 0.9, uncertainty_file=None) -> RobustResult:
    """Each package over the same N futures: share meeting each target, regret, robustness.

    Parameters
    ----------
    city : str
    targets : TargetSet
    scenarios : sequence of str
        The packages: scenario names or YAML files.
    n : int
        Number of futures.
    seed : int
        Seed of the futures' Latin hypercube.
    opts : RunOptions, optional
        Engine, workers and ensemble store (default: ``RunOptions()``).
    threshold : float
        Share of futures in which a robust package meets all targets.

    Returns
    -------
    RobustResult
    """
    from .scenario import load_scenario
    from .sensitivity import load_uncertainty

    opts = RunOptions() if opts is None else opts
    base = load_scenario("baseline", city=city)
    packages = [load_scenario(s, city=city) for s in scenarios]
    unc = load_uncertainty(uncertainty_file, scenario=base)
    fut = sample_futures(unc, n, seed=seed)
    names = [p.name for p in packages]
    variables = targets.variables()
    vals, mets, dists, bnds = {}, {}, {}, {}
    with session(opts) as (store, runner):
        for p in packages:
            years, series = run_sets(fut, p.constants, variables, tag=f"robust-{base.city}-{p.name}", opts=opts,
                                     store=store, runner=runner)
            vals[p.name], mets[p.name] = evaluate(targets, years, series)
            dists[p.name], bnds[p.name] = _distance(targets, vals[p.name])
    tnames = targets.names
    D = np.stack([dists[p] for p in names])  # (packages, futures, targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regret = D - np.nanmin(D, axis=0, keepdims=True)
    missed = np.stack([(~mets[p][tnames].to_numpy()).sum(axis=1) for p in names]).astype(float)
    regret_all = missed - missed.min(axis=0, keepdims=True)
    rows, long = [], []
    for i, p in enumerate(names):
        for j, t in enumerate(targets.targets):
            r = regret[i, :, j]
            rows.append((p, t.name, t.condition.describe(), t.condition.left.unit, float(mets[p][t.name].mean()),
                         float(np.nanmean(r)), float(np.nanpercentile(r, 90)), float(np.nanmax(r))))
        share = float(mets[p]["all targets"].mean())
        rows.append((p, "all targets", "every target above", "targets missed", share, float(regret_all[i].mean()),
                     float(np.percentile(regret_all[i], 90)), float(regret_all[i].max())))
        for j, t in enumerate(targets.targets):
            long.append(pd.DataFrame({"package": p, "future": np.arange(n), "target": t.name,
                                      "value": vals[p][t.condition.left.name].to_numpy(), "bound": bnds[p][:, j],
                                      "met": mets[p][t.name].to_numpy(), "regret": regret[i, :, j]}))
    table = pd.DataFrame(rows, columns=["package", "target", "condition", "unit", "share_met", "regret_mean",
                                        "regret_p90", "regret_max"])
    table["robust"] = (table["target"] == "all targets") & (table["share_met"] >= threshold)
    return RobustResult(base.city, targets, fut, table, pd.concat(long, ignore_index=True), threshold, names)


def plot_robustness(r: RobustResult):
    """Share of futures meeting all targets per package (the robustness line marked), and per target.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    t = r.table
    names = r.packages
    tn = r.targets.names
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12.0, 0.9 + 0.42 * len(names)), layout="constrained",
                                 gridspec_kw={"width_ratios": [1, 1.4]})
    allt = t[t["target"] == "all targets"].set_index("package").loc[names]
    colors = ["#1b9e77" if s >= r.threshold else "#bbbbbb" for s in allt["share_met"]]
    a1.barh(range(len(names)), 100 * allt["share_met"], color=colors)
    a1.axvline(100 * r.threshold, color="red", ls="--", lw=1, label=f"robust: {100 * r.threshold:.0f} %")
    a1.set_yticks(range(len(names)), names)
    a1.invert_yaxis()
    a1.set_xlim(0, 100)
    a1.set_xlabel("futures meeting all targets, %")
    a1.legend(loc="lower right")
    a1.set_title(f"{r.city}, {r.targets.name}: {len(r.futures)} futures")
    grid = t[t["target"] != "all targets"].pivot_table(index="package", columns="target", values="share_met",
                                                        sort=False).loc[names, tn]
    im = a2.imshow(100 * grid.to_numpy(), cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            a2.text(j, i, f"{100 * grid.iat[i, j]:.0f}", ha="center", va="center", fontsize=7)
    a2.set_xticks(range(len(tn)), tn, rotation=30, ha="right", fontsize=7)
    a2.set_yticks(range(len(names)), names)
    a2.grid(False)
    fig.colorbar(im, ax=a2, label="futures meeting the target, %")
    a2.set_title("per target")
    return fig


# ----------------------------------------------------------------------------- EMA Workbench


class ModelFunction:
    """The model as a function of levers and uncertain parameters (picklable, for EMA's evaluators).

    Parameters
    ----------
    base : dict
        Constants of the base scenario (city, calibration, scenario).
    indicators : list of Indicator
        Outcomes.
    targets : TargetSet, optional
        Adds one outcome per target (1 met, 0 not) and ``targets met``.
    engine : str
    """

    def __init__(self, base: dict[str, float], indicators: list[Indicator], targets: TargetSet | None = None,
                 engine: str = "fast"):
        self.base = dict(base)
        self.indicators = list(indicators)
        self.targets = targets
        self.engine = engine

    @property
    def outcome_names(self) -> list[str]:
        names = [i.name for i in self.indicators]
        if self.targets is not None:
            names += [f"meets: {t}" for t in self.targets.names] + ["targets met"]
        return names

    def batch(self, params: pd.DataFrame) -> dict[str, np.ndarray]:
        """Outcomes of every row of ``params`` (model constants), one vectorised run."""
        from .engines import run_batch

        variables = series_variables(self.indicators + (self.targets.indicators if self.targets else []))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            years, series = run_batch(self.engine, params.reset_index(drop=True), self.base, variables)
        vals = indicator_values(years, series, self.indicators)
        out = {ind.name: vals[:, k] for k, ind in enumerate(self.indicators)}
        if self.targets is not None:
            _, met = evaluate(self.targets, years, series)
            out.update({f"meets: {t}": met[t].to_numpy(dtype=float) for t in self.targets.names})
            out["targets met"] = met["all targets"].to_numpy(dtype=float)
        return out

    def __call__(self, **kwargs) -> dict[str, float]:
        out = self.batch(pd.DataFrame([{k: float(v) for k, v in kwargs.items()}]))
        return {k: float(v[0]) for k, v in out.items()}


def ema_model(city: str = "shanghai", *, scenario: str = "baseline", targets: TargetSet | None = None,
              uncertain: bool = True, uncertainty_file=None, name: str = "megacity", engine: str = "fast"):
    """The model as an EMA Workbench ``Model``: levers, uncertainties and outcomes declared.

    Parameters
    ----------
    city : str
        City name or YAML file.
    scenario : str
        Base scenario the levers are set on (start years, phase-in times).
    targets : TargetSet, optional
        Adds the targets' indicators and a 0/1 outcome per target and for all.
    uncertain : bool
        Declare the uncertain parameters of ``scenarios/uncertainty.yaml``
        (as ``RealParameter`` on their ranges: EMA samples them uniformly).
    name : str
        EMA model name.

    Returns
    -------
    ema_workbench.Model
        Levers: :func:`megacity_sd.discover.levers` (``RealParameter`` from the
        city's baseline level to the maximum); uncertainties as above; outcomes:
        every indicator of :data:`megacity_sd.indicators.INDICATORS` (CO2 and
        PM2.5 outcomes to be minimised), the targets' indicators and, with
        targets, ``meets: <target>`` and ``targets met``. Each experiment runs
        the fast engine on the base scenario's constants; :class:`BatchEvaluator`
        runs all experiments as one batch.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench import Model, RealParameter, ScalarOutcome

    from .scenario import load_scenario
    from .sensitivity import load_uncertainty

    base = load_scenario(scenario, city=city)
    inds = list(INDICATORS)
    if targets is not None:
        have = {i.name for i in inds}
        inds += [i for i in targets.indicators if i.name not in have]
    fn = ModelFunction(base.constants, inds, targets, engine)
    model = Model(name, function=fn)
    model.levers = [RealParameter(lv.name, lv.low, lv.high) for lv in levers(base.constants)]
    if uncertain:
        unc = load_uncertainty(uncertainty_file, scenario=base)
        model.uncertainties = [RealParameter(p.name, p.lower, p.upper) for p in unc.parameters]
    kinds = {}
    for i in inds:
        kinds[i.name] = ScalarOutcome.MINIMIZE if ("CO2" in i.name or "PM2.5" in i.name or "pollutant" in i.name) \
            and i.unit != "year" else ScalarOutcome.INFO
    outcomes = [ScalarOutcome(n, kind=kinds.get(n, ScalarOutcome.INFO)) for n in fn.outcome_names]
    if targets is not None:
        outcomes[-1] = ScalarOutcome("targets met", kind=ScalarOutcome.MAXIMIZE)
    model.outcomes = outcomes
    return model


def _evaluator_base():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.em_framework.evaluators import BaseEvaluator
    return BaseEvaluator


class BatchEvaluator(_evaluator_base()):
    """An EMA evaluator that runs all experiments of a model as one vectorised batch of the fast engine.

    Use like EMA's ``SequentialEvaluator``::

        with BatchEvaluator(model) as ev:
            experiments, outcomes = ev.perform_experiments(scenarios=100, policies=10)

    Works for models made by :func:`ema_model` (their function has a ``batch`` method).
    """

    def initialize(self):
        pass

    def finalize(self):
        pass

    def evaluate_experiments(self, scenarios, policies, callback, combine="factorial", **kwargs):
        from ema_workbench.em_framework.points import experiment_generator

        experiments = list(experiment_generator(scenarios, self._msis, policies, combine=combine))
        models = {m.name: m for m in self._msis}
        for mname in dict.fromkeys(e.model_name for e in experiments):
            model = models[mname]
            group = [e for e in experiments if e.model_name == mname]
            rows = [{**dict(e.scenario), **dict(e.policy)} for e in group]
            params = pd.DataFrame(rows)
            const = {c.name: c.value for c in getattr(model, "constants", [])}
            for k, v in const.items():
                params[k] = float(v)
            out = model.function.batch(params)
            for i, e in enumerate(group):
                raw = {k: float(v[i]) for k, v in out.items()}
                outcomes = {o.name: o.process([raw[v] for v in o.variable_name]) for o in model.outcomes}
                callback(e, outcomes)
