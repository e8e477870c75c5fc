"""Robust packages: each scenario over the same futures of the uncertain parameters, the share meeting each target,
regret against the best package of each future, and the figure."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..discover import RunOptions, run_sets, session
from ..targets import TargetSet, evaluate

__all__ = [
    "sample_futures",
    "RobustResult",
    "robustness",
    "plot_robustness",
]


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
    from ..scenario import load_scenario
    from ..sensitivity import load_uncertainty

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
