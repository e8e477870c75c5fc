"""Core functions against values worked out by hand (analytic tier).

Each test here was written for a mutant that survived a mutation check of the core functions
(operators swapped one at a time, the fast tests run against each): the change against the
baseline, the margin of a "first year below" target, and the first and last year a target may name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from megacity_sd.indicators import against_baseline
from megacity_sd.model import model_years
from megacity_sd.targets import Target, TargetSet, margins, parse_condition


def test_change_against_baseline_by_hand():
    ev = pd.DataFrame([("c", "baseline", "CO2 in 2030", "Mt CO2/yr", 200.0),
                       ("c", "policy", "CO2 in 2030", "Mt CO2/yr", 150.0),
                       ("c", "baseline", "zero", "Mt CO2/yr", 0.0),
                       ("c", "policy", "zero", "Mt CO2/yr", 5.0),
                       ("c", "baseline", "CO2 peak year", "year", 2030.0),
                       ("c", "policy", "CO2 peak year", "year", 2025.0),
                       ("d", "policy", "CO2 in 2030", "Mt CO2/yr", 10.0)],  # a city without its baseline
                      columns=["city", "scenario", "indicator", "unit", "value"])
    out = against_baseline(ev).set_index(["city", "scenario", "indicator"])
    pol = out.loc[("c", "policy", "CO2 in 2030")]
    assert (pol["baseline"], pol["change"], pol["change_pct"]) == (200.0, -50.0, -25.0)
    assert out.loc[("c", "baseline", "CO2 in 2030"), "change_pct"] == 0.0
    assert out.loc[("c", "policy", "zero"), "change"] == 5.0 and np.isnan(out.loc[("c", "policy", "zero"),
                                                                                   "change_pct"])
    peak = out.loc[("c", "policy", "CO2 peak year")]
    assert peak["change"] == -5.0 and np.isnan(peak["change_pct"])  # years: a change, never a percentage
    assert out.loc[("d", "policy", "CO2 in 2030")][["baseline", "change", "change_pct"]].isna().all()


def _one(cond: str) -> TargetSet:
    return TargetSet("t", "t", [Target(cond, parse_condition(cond))])


def test_margin_of_a_first_year_below_target_by_hand():
    """'year CO2 below 50% of 2019 <= 2040', missed: CO2 bottoms out at 60 % of 2019 by 2040, so the margin is
    (0.6 - 0.5) x C2019 / C2019 = 0.1 (the shortfall as a share of 2019); met at 40 %: -(0.5 - 0.4) = -0.1."""
    first, last = model_years()
    years = np.arange(first, last + 1)
    c2019 = 200e6  # tCO2/yr

    def path(floor):  # flat to 2019, down linearly to `floor` x C2019 in 2040, flat after
        return np.interp(years, [first, 2019, 2040, last], [c2019, c2019, floor * c2019, floor * c2019])

    t = _one("year CO2 below 50% of 2019 <= 2040")
    m = margins(t, years, {"CO2 scope 1 and 2": np.vstack([path(0.6), path(0.4)])})
    assert_allclose(m[:, 0], [0.1, -0.1], rtol=1e-9)


@pytest.mark.parametrize("cond", ["CO2 in {first} <= 1000", "CO2 in {last} <= 1000"])
def test_a_target_may_name_the_first_and_the_last_year_of_the_run(cond):
    first, last = model_years()
    c = parse_condition(cond.format(first=first, last=last))
    assert c.left.start in (first, last)
    with pytest.raises(Exception, match="outside the run"):
        parse_condition(cond.format(first=first - 1, last=last + 1))
