"""The trade-off between effort, CO2 and PM2.5: a Pareto front of lever settings by EMA's many-objective search.

:func:`pareto_front` searches the levers with EMA Workbench's epsilon-NSGA-II
(``ema_workbench.em_framework.optimization``, Kwakkel 2017; Deb et al. 2002,
Kollat and Reed 2006) for the settings that no other setting beats on all
objectives at once (by default the weighted lever effort of ``seek``, CO2 in
2060 and PM2.5 in 2035, all minimised), optionally only among the settings
that meet every target (an EMA ``Constraint``). Each generation is evaluated
as one vectorised batch of the fast engine (:class:`~.ema.BatchEvaluator`).
The search is stochastic (seeded): the front is an approximation whose
spread grows with ``nfe``.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..targets import TargetSet
from .ema import BatchEvaluator, ema_model

__all__ = [
    "OBJECTIVES",
    "ParetoResult",
    "pareto_front",
    "non_dominated",
    "plot_pareto",
]

#: Default objectives (all minimised) and their epsilon (the resolution of the front, in the objective's unit).
OBJECTIVES = {"effort": 0.1, "CO2 in 2060": 1.0, "PM2.5 in 2035": 0.2}


@dataclass
class ParetoResult:
    """A front found by :func:`pareto_front`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per setting of the front: the levers, the objectives, every
        indicator and, with targets, ``targets met`` (1/0).
    objectives : list of str
    levers : list of str
    nfe : int
        Function evaluations (model runs) spent.
    constrained : bool
        Only settings that meet every target were kept.
    """

    table: pd.DataFrame
    objectives: list[str]
    levers: list[str]
    nfe: int
    constrained: bool


def non_dominated(values: np.ndarray) -> np.ndarray:
    """Mask of the rows no other row beats: <= on every column (minimised) and < on one."""
    v = np.asarray(values, dtype=float)
    keep = np.ones(len(v), dtype=bool)
    for i in range(len(v)):
        better = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        keep[i] = not better.any()
    return keep


def pareto_front(city: str, targets: TargetSet | None = None, *, nfe: int = 3000, seed: int = 1,
                 scenario: str = "baseline", objectives: dict[str, float] | None = None,
                 weights: Sequence[float] | None = None, constrain: bool = True,
                 population: int = 100, seeds: Sequence[dict[str, float]] = ()) -> ParetoResult:
    """Search the levers for the Pareto front of the objectives (EMA Workbench, epsilon-NSGA-II).

    Parameters
    ----------
    city : str
    targets : TargetSet, optional
        With ``constrain``, only settings that meet every target are kept.
    nfe : int
        Model runs the search may spend.
    seed : int
        Seeds Python's and numpy's generators (Platypus draws from both).
    scenario : str
        Base scenario of the levers.
    objectives : dict of str to float, optional
        Outcome name -> epsilon (default :data:`OBJECTIVES`); all minimised.
    weights : sequence of float, optional
        Lever weights of ``effort``.
    constrain : bool
        Keep only settings that meet every target (needs ``targets``).
    population : int
        Population of the algorithm (each generation is one batch).
    seeds : sequence of dict
        Lever settings placed in the first generation (e.g. the least-effort
        setting of ``seek``, which anchors the low-effort end of the front);
        levers left out are at their baseline level.

    Returns
    -------
    ParetoResult
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench import Constraint
        from ema_workbench.em_framework.optimization import EpsNSGAII

    objectives = dict(OBJECTIVES if objectives is None else objectives)
    model = ema_model(city, scenario=scenario, targets=targets, uncertain=False, objectives=list(objectives),
                      weights=weights)
    constraints = None
    if constrain and targets is not None:
        constraints = [Constraint("meets every target", outcome_names="targets met",
                                  function=lambda met: max(0.0, 1.0 - met))]
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - Platypus draws from the global generators
    low = {p.name: p.lower_bound for p in model.levers}
    rows = [[float(s.get(name, low[name])) for name in low] for s in seeds]
    with warnings.catch_warnings(), BatchEvaluator(model) as ev:
        warnings.simplefilter("ignore")
        found = ev.optimize(algorithm=EpsNSGAII, nfe=int(nfe), searchover="levers",
                            epsilons=list(objectives.values()), constraints=constraints,
                            population_size=int(population), generator=_seeded_generator(rows))
    found = found[0] if isinstance(found, tuple) else found
    lever_names = [lv.name for lv in model.levers]
    params = found[lever_names].reset_index(drop=True)
    out = model.function.batch(params) if len(params) else {}
    table = pd.concat([params, pd.DataFrame(out)], axis=1)
    if constrain and targets is not None and len(table):
        table = table[table["targets met"] >= 1].reset_index(drop=True)
    if len(table):
        table = table[non_dominated(table[list(objectives)].to_numpy())].reset_index(drop=True)
        table = table.sort_values(list(objectives)).reset_index(drop=True)
    return ParetoResult(table, list(objectives), lever_names, int(nfe), bool(constrain and targets is not None))


def _seeded_generator(rows: list[list[float]]):
    """A Platypus generator that hands out ``rows`` (lever values in the problem's order) first, then random ones."""
    from platypus import RandomGenerator, Solution

    class Seeded(RandomGenerator):
        def __init__(self):
            super().__init__()
            self.rows = list(rows)

        def generate(self, problem):
            if not self.rows:
                return super().generate(problem)
            solution = Solution(problem)
            solution.variables[:] = [min(max(v, x.min_value), x.max_value) for v, x in
                                     zip(self.rows.pop(0), problem.types, strict=True)]
            return solution

    return Seeded()


def _label(outcome: str) -> str:
    """An axis label with the unit: the indicator's, or what effort means."""
    from ..indicators import INDICATORS

    if outcome == "effort":
        return "effort (sum over levers of the share of the way from baseline to maximum, weighted)"
    unit = next((i.unit for i in INDICATORS if i.name == outcome), "")
    return f"{outcome} ({unit})" if unit else outcome


def plot_pareto(res: ParetoResult, *, title: str = ""):
    """The front: the first two objectives against each other, coloured by the third (if any)."""
    import matplotlib.pyplot as plt

    from ..plotting import STYLE

    x, y = res.objectives[0], res.objectives[1]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 5.0))
        t = res.table
        if len(res.objectives) > 2:
            z = res.objectives[2]
            sc = ax.scatter(t[x], t[y], c=t[z], cmap="viridis_r", s=28, edgecolor="k", linewidth=0.3)
            fig.colorbar(sc, ax=ax, label=_label(z))
        else:
            ax.scatter(t[x], t[y], s=28, color="#2b6cb0")
        if len(t):
            i = int(t[x].idxmin())
            ax.scatter([t[x][i]], [t[y][i]], s=160, facecolor="none", edgecolor="red", linewidth=1.5,
                       label=f"least {x}")
            ax.legend(loc="upper right", frameon=False)
        ax.set_xlabel(_label(x))
        ax.set_ylabel(_label(y))
        ax.grid(alpha=0.3)
        ax.set_title(title or f"Pareto front ({len(t)} settings, {res.nfe} runs)")
        fig.tight_layout()
    return fig
