"""Feedback inspection: loops, their dominance over time, knock-outs and causal tracing.

The causal graph and the loop scores come from pysimlin:

* links and their polarity: ``simlin.Model.get_links()`` gives every causal link
  with its statically analysed polarity (``+``, ``-`` or ``?``). Where the
  static polarity is unknown, or where it depends on the sign of another term
  (``(target - share) / adjustment time`` is increasing in the adjustment time
  while the share is above its target), the sign of the link's Loops That Matter
  link score in the run decides (``simlin.Sim.get_links()`` with LTM on). A
  loop's polarity is the product of its links' polarities.
* every feedback loop up to :data:`MAX_LOOP_LENGTH` links: the model is too large
  for pysimlin's exhaustive loop enumeration (``Model.loops`` is empty and
  ``Model.analyze`` reports at most 200 loops, those that matter most), so the
  elementary circuits of the engine's causal graph are enumerated here with
  Johnson's algorithm (Johnson 1975, SIAM J. Comput. 4(1):77-84,
  doi:10.1137/0204007) as ``networkx.simple_cycles`` implements it, with its
  length bound. On models small enough for the engine (the test toy) the two
  enumerations are compared.
* dominance: ``simlin.Model.analyze`` runs Loops That Matter discovery
  (Schoenberg, Davidsen & Eberlein 2020, System Dynamics Review 36:158-190,
  arXiv:1908.11434) and returns each loop's relative loop score over time (its
  signed share of its cycle partition's loop-score mass).
  For one output variable the loops considered are those *through* the output
  if it lies on loops (PM2.5, population), else those through its nearest
  loop-bearing causes (CO2 emissions is an auxiliary off every loop: the fuel
  uses it is computed from); their scores are renormalised among themselves and
  pysimlin's dominance rule is applied (the fewest same-polarity loops whose
  shares add up to at least one half; ``simlin.Run.dominant_periods``).

The eight loops the model names are documented in the comments of its
``... loop switch`` constants ("Loop switch (R) capital accumulation: GDP ->
investment -> capital -> GDP"); each switch holds one link of its loop at its
2005 value (the inputs its equation multiplies by the switch). A found loop gets
the model's name when it runs through that link, has the documented polarity,
and of those loops matches the most steps of the documented path (a step
matches a variable whose name contains all the step's words), the shortest
first; every loop through the link is listed as cut by the switch.
"""

from .dominance import (
    OUTPUTS,
    analyze_loops,
    dominance_table,
    dominant_periods,
    loop_scores,
    output_loops,
    resolve_variable,
)
from .explain import (
    causes_tree,
    explain,
    uses_tree,
)
from .graph import (
    MAX_LOOP_LENGTH,
    CausalLink,
    FeedbackLoop,
    LoopAnalysis,
    NamedLoop,
    causal_links,
    configured_model,
    describe_loop,
    elementary_circuits,
    find_loops,
    find_loops_cached,
    loops_frame,
    named_loops,
)
from .knockouts import (
    KNOCKOUT_INDICATORS,
    knockouts,
)
from .plots import (
    plot_knockouts,
    plot_loop_scores,
)

__all__ = [
    "OUTPUTS",
    "KNOCKOUT_INDICATORS",
    "CausalLink",
    "FeedbackLoop",
    "NamedLoop",
    "LoopAnalysis",
    "configured_model",
    "causal_links",
    "elementary_circuits",
    "MAX_LOOP_LENGTH",
    "named_loops",
    "find_loops",
    "find_loops_cached",
    "loops_frame",
    "resolve_variable",
    "output_loops",
    "loop_scores",
    "analyze_loops",
    "dominant_periods",
    "dominance_table",
    "knockouts",
    "explain",
    "causes_tree",
    "uses_tree",
    "describe_loop",
    "plot_loop_scores",
    "plot_knockouts",
]
