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
* :func:`pareto_front`: the trade-off of effort, CO2 in 2060 and PM2.5 in 2035
  among the settings that meet the targets, by EMA's epsilon-NSGA-II.
"""

from .ema import (
    BatchEvaluator,
    ema_model,
)
from .futures import (
    RobustResult,
    plot_robustness,
    robustness,
    sample_futures,
)
from .pareto import (
    ParetoResult,
    non_dominated,
    pareto_front,
    plot_pareto,
)
from .seek import (
    SeekResult,
    check_scenario_file,
    least_effort,
    model_margins,
    scenario_yaml,
)

__all__ = [
    "SeekResult",
    "model_margins",
    "least_effort",
    "scenario_yaml",
    "check_scenario_file",
    "RobustResult",
    "sample_futures",
    "robustness",
    "plot_robustness",
    "ema_model",
    "BatchEvaluator",
    "ParetoResult",
    "pareto_front",
    "non_dominated",
    "plot_pareto",
]
