"""Which lever settings meet the targets: lever space, sampling, scenario discovery (PRIM) and feature scores.

The levers are the 29 policy targets of the model (``<lever> target``, one per
lever of ``megacity-sd scenarios``), each between the city's baseline level
(the lowest value of its baseline path from the lever's start year on: a
target at or below it changes nothing) and the model's maximum; start years
and phase-in times stay at their values in the base scenario (2021 and 10
years by default). :func:`discover` samples the levers
(and, optionally, the uncertain parameters of ``scenarios/uncertainty.yaml``)
by Latin hypercube (``scipy.stats.qmc``), runs the samples through the
project's ensemble runner (:func:`megacity_sd.ensemble.run_ensemble`,
resumable), checks each run against the targets (:mod:`megacity_sd.targets`)
and runs PRIM (Friedman and Fisher 1999; EMA Workbench's
``ema_workbench.analysis.prim``, Kwakkel 2017,
https://doi.org/10.1016/j.envsoft.2017.06.054) on which runs meet all targets.

The box reported is chosen on PRIM's peeling trajectory as the one with the
highest F-score (beta = 0.5 by default: density weighted above coverage);
restrictions whose quasi-p value (Bryant and Lempert 2010,
https://doi.org/10.1016/j.techfore.2009.08.002) exceeds 0.05 are then dropped.
Feature scores (extra trees, Jaxa-Rozen and Kwakkel 2018,
https://doi.org/10.1016/j.envsoft.2018.06.011; EMA's
``get_ex_feature_scores``) say which levers and uncertainties matter for
meeting each target.
"""

from .levers import (
    Lever,
    lever_by_name,
    levers,
    sample,
)
from .plots import (
    plot_box,
    plot_features,
    plot_tradeoff,
)
from .prim import (
    Discovery,
    box_in_words,
    discover,
    feature_scores,
    prim_boxes,
)
from .runs import (
    RunOptions,
    run_sets,
    session,
)

__all__ = [
    "Lever",
    "RunOptions",
    "Discovery",
    "levers",
    "lever_by_name",
    "sample",
    "run_sets",
    "session",
    "discover",
    "prim_boxes",
    "box_in_words",
    "feature_scores",
    "plot_tradeoff",
    "plot_box",
    "plot_features",
]
