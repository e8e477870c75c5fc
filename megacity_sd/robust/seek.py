"""Least effort: the lever setting that meets every target with the least weighted effort (scipy SLSQP with batched
gradients, repair and per-lever trimming); the setting as a scenario file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..discover import Lever
from ..targets import TargetSet, margins

__all__ = [
    "check_scenario_file",
    "SeekResult",
    "model_margins",
    "least_effort",
    "scenario_yaml",
]


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
    from ..simulate import run_batch, run_series

    names = [lv.name for lv in all_levers]
    variables = targets.variables()

    def f(values: np.ndarray) -> np.ndarray:
        values = np.atleast_2d(values)
        # the engines silence their known, harmless warnings (engines.KNOWN_WARNINGS); others reach the user
        if len(values) == 1:  # one setting: a single run (a batch costs the same as hundreds of sets)
            years, one = run_series(engine, {**base, **dict(zip(names, map(float, values[0]), strict=True))},
                                    variables)
            series = {v: a[None, :] for v, a in one.items()}
        else:
            years, series = run_batch(engine, pd.DataFrame(values, columns=names), base, variables)
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
    """One SLSQP search from ``e0``.

    The margins at a point are one run; their forward-difference Jacobian is
    one batch of ``levers`` runs, made only where SLSQP asks for it (its line
    search asks for values alone). Both are cached per point.
    """
    d = len(e0)
    values: dict[bytes, np.ndarray] = {}
    jacobians: dict[bytes, np.ndarray] = {}

    def key_of(e):
        e = np.clip(np.asarray(e, dtype=float), 0.0, 1.0)
        return e, e.tobytes()

    def value(e):
        e, key = key_of(e)
        if key not in values:
            values[key] = marg(e[None, :])[0]
        return values[key]

    def jacobian(e):
        e, key = key_of(e)
        if key not in jacobians:
            h = np.where(e + step <= 1.0, step, -step)  # backward at the upper bound
            m0 = value(e)
            mj = marg(e[None, :] + np.diag(h))
            jacobians[key] = ((mj - m0) / h[:, None]).T
        return jacobians[key]

    res = minimize(lambda e: float(w @ e), e0, jac=lambda e: w, method="SLSQP", bounds=[(0.0, 1.0)] * d,
                   constraints=[{"type": "ineq", "fun": lambda e: -value(e), "jac": lambda e: -jacobian(e)}],
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


def check_scenario_file(text: str, *, file_name: str, city: str, targets: TargetSet,
                        engine: str = "fast") -> pd.DataFrame:
    """Check a scenario file's text as ``megacity-sd run --city CITY --scenario FILE`` reads and runs it.

    The text is written to a temporary file named ``file_name`` (its name is what ``run`` would see),
    loaded for ``city`` with the same reader as every command, run, and the targets evaluated on the run:
    what :func:`scenario_yaml` wrote is thereby checked end to end, before a command keeps it.

    Parameters
    ----------
    text : str
        The YAML text of a scenario file.
    file_name : str
        Its file name (``least_effort_shanghai_plan.yaml``).
    city : str
        City name or city file, as given to ``run --city``.
    targets : TargetSet
    engine : str

    Returns
    -------
    pandas.DataFrame
        One row: each target's verdict (bool) and ``all targets``, as :func:`megacity_sd.targets.evaluate`.
    """
    import tempfile
    from pathlib import Path

    from ..scenario import load_scenario
    from ..simulate import run
    from ..targets import evaluate

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / Path(file_name).name
        probe.write_text(text, encoding="utf-8")
        wide = run(load_scenario(str(probe), city=city), engine)
    series = {v: wide[v].to_numpy()[None, :] for v in targets.variables()}
    _, met = evaluate(targets, wide.index.to_numpy(), series)
    return met
