"""Targets as data: conditions on named indicators, read from a YAML file and parsed, never ``eval``-ed.

A target file (``scenarios/targets/<name>.yaml``, or any path)::

    name: shanghai_plan
    title: Shanghai's published targets
    city: shanghai                  # optional: the city the targets belong to
    description: ...
    targets:
      - name: peak by 2030          # optional (default: the condition)
        condition: "CO2 peak year <= 2030"
        source: "..."               # optional in a user's file; every shipped file has one
        note: "..."                 # optional: how the plan's wording was read
    not_checked:                    # optional: published targets the model cannot measure
      - name: non-fossil share 2025 at least 20 %
        reason: "..."               # why the model cannot read it on the plan's definition
        source: "..."

The published plan of a city is the file ``<city>_plan`` (:func:`plan_targets`;
``national`` for a city without one): the report, the explorer, ``discover``,
``seek`` and ``robust`` all read it, and :func:`check` evaluates it for one run.
Its figures are typed from the plans in ``megacity_sd/data/plan_targets.csv``
(the provenance table: the quoted wording and the page of each figure), which
every target and every ``not_checked`` entry cites by ``variable, year``.

A condition is ``INDICATOR OP RIGHT`` with ``OP`` one of ``<``, ``<=``, ``>``,
``>=`` (also ``≤`` and ``≥``) and ``RIGHT`` a number (``25``, ``1e3``; ``50%``
for an indicator in %), another indicator of the same unit, or a multiple of
one: ``30% of CO2 intensity in 2005`` or ``0.3 * CO2 intensity in 2005``.
Year indicators (peak year, first year below a share) take a number only.

Indicators are those of :data:`megacity_sd.indicators.INDICATORS` plus the
families of :data:`FAMILIES`, any year of the run (the model's INITIAL TIME to FINAL TIME): ``CO2 in 2025``,
``CO2 intensity in 2030`` (scope 1+2 CO2 per GDP), ``energy intensity in
2025`` (primary energy per GDP), ``coal share of primary energy in 2025``,
``PM2.5 in 2025``, ``NEV share of car sales in 2025`` ... (:func:`indicator_names`).

Every condition gives, for each run, whether it is met and a *margin*: a
number that is <= 0 exactly when the condition is met and grows with the
shortfall (relative to the bound), which an optimiser can follow
(:func:`margins`). A missing value (NaN) never meets a condition.
"""

from .conditions import (
    DERIVED,
    FAMILIES,
    Condition,
    NotChecked,
    Target,
    TargetSet,
    indicator_names,
    parse_condition,
    resolve_indicator,
    series_variables,
)
from .files import TARGET_DIR, list_targets, load_targets, plan_targets
from .verdicts import check, derived_series, evaluate, indicator_values, margins, target_year

__all__ = [
    "TARGET_DIR",
    "FAMILIES",
    "DERIVED",
    "Condition",
    "Target",
    "TargetSet",
    "NotChecked",
    "list_targets",
    "load_targets",
    "plan_targets",
    "evaluate",
    "margins",
    "check",
    "target_year",
    "parse_condition",
    "resolve_indicator",
    "indicator_names",
    "indicator_values",
    "series_variables",
    "derived_series",
]
