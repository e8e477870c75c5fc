"""The EMA Workbench adapter against ema_workbench itself (2.5): feature scoring takes its outcomes, and
parameters reach the model variables their ``variable_name`` names.

References: the year a run's CO2 first falls to 10 % of 2019, found by a loop over the run's own series;
EMA's SequentialEvaluator (EMA's own mapping of parameters to variables); the model function called with
the model variables directly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from ema_workbench import Policy, RealParameter, Scenario, SequentialEvaluator, perform_experiments
    from ema_workbench.analysis.feature_scoring import get_feature_scores_all

from megacity_sd.indicators import INDICATORS
from megacity_sd.robust import BatchEvaluator, ema_model
from megacity_sd.robust.ema import _not_reached_as_after_window
from megacity_sd.scenario import load_scenario
from megacity_sd.simulate import run_batch

TENTH = "year CO2 below 10% of 2019"


def by_name(name):
    return next(i for i in INDICATORS if i.name == name)


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ema_model("shanghai", uncertain=False)


def _first_year_below(years, co2, fraction=0.1, ref=2019, start=2020, end=2060):
    """By hand: the first year in start-end with CO2 <= fraction x CO2(ref), or None."""
    base = co2[list(years).index(ref)]
    for y, v in zip(years, co2, strict=True):
        if start <= y <= end and v <= fraction * base:
            return int(y)
    return None


def test_feature_scoring_takes_the_outcomes_with_a_year_never_reached(model):
    at_low = {p.name: p.lower_bound for p in model.levers}   # the city's baseline levels: never below 10 %
    at_high = {p.name: p.upper_bound for p in model.levers}  # every lever at its maximum: reached
    rng = np.random.default_rng(4)
    mixed = [Policy(f"r{i}", **{p.name: float(rng.uniform(p.lower_bound, p.upper_bound)) for p in model.levers})
             for i in range(8)]
    policies = [Policy("low", **at_low), Policy("high", **at_high), *mixed]
    with BatchEvaluator(model) as ev:
        experiments, outcomes = ev.perform_experiments(policies=policies)
    assert all(np.isfinite(v).all() for v in outcomes.values()), [k for k, v in outcomes.items()
                                                                  if not np.isfinite(v).all()]
    # the values against the runs read by hand
    ind = by_name(TENTH)
    base = load_scenario("baseline", city="shanghai").constants
    params = pd.DataFrame([dict(p) for p in policies])
    years, series = run_batch("fast", params, base, [ind.variable])
    want = [_first_year_below(list(years), series[ind.variable][i]) for i in range(len(policies))]
    assert want[0] is None and want[1] is not None and any(w is None for w in want[2:])
    order = [str(p) for p in experiments["policy"]]
    got = dict(zip(order, outcomes[TENTH], strict=True))
    for p, w in zip(policies, want, strict=True):
        assert got[p.name] == (2061 if w is None else w), p.name
    # EMA's own sequential evaluator gives the same numbers (the encoding is the model function's)
    _, seq = perform_experiments(model, policies=policies[:2], evaluator=SequentialEvaluator(model))
    np.testing.assert_array_equal(seq[TENTH], outcomes[TENTH][:2])
    # and EMA's feature scoring takes experiments and outcomes as they come
    scores = get_feature_scores_all(experiments, outcomes, nr_trees=10, random_state=1)
    assert TENTH in scores.columns and np.isfinite(scores[TENTH]).all()
    assert set(p.name for p in model.levers) <= set(scores.index)


def test_a_failed_run_stays_nan_and_never_reached_is_the_year_after_the_window():
    ind = [by_name(TENTH), by_name("CO2 in 2060")]
    years = np.arange(2019, 2061)
    ok = np.linspace(100.0, 50.0, len(years))  # never below 10 % of 2019
    failed = ok.copy()
    failed[5] = np.nan
    vals = np.array([[np.nan, 1.0], [np.nan, np.nan]])
    out = _not_reached_as_after_window(vals, years, {ind[0].variable: np.vstack([ok, failed])}, ind)
    assert out[0, 0] == 2061 and np.isnan(out[1, 0]) and np.isnan(out[1, 1]) and out[0, 1] == 1.0


def test_batch_evaluator_maps_parameters_to_their_variable_name():
    """A lever or an uncertainty whose variable_name differs from its name sets the variable(s) named."""
    m = ema_model("shanghai", uncertain=False)
    m.levers = [RealParameter("nev", 0.21, 1.0, variable_name="NEV sales target"),
                RealParameter("coal and grid", 0.6, 1.0, variable_name=["coal exit target", "regional grid target"])]
    m.uncertainties = [RealParameter("elasticity", 0.1, 0.6, variable_name="rebound elasticity")]
    policies = [Policy("p", **{"nev": 0.8, "coal and grid": 0.9, "not a lever": 5.0}),
                Policy("q", **{"nev": 0.3, "coal and grid": 0.7})]
    scenarios = [Scenario("s", elasticity=0.5)]
    with BatchEvaluator(m) as ev:
        ex, out = ev.perform_experiments(scenarios=scenarios, policies=policies)
    _, seq = perform_experiments(m, scenarios=scenarios, policies=policies, evaluator=SequentialEvaluator(m))
    for k in out:
        np.testing.assert_allclose(out[k], seq[k], rtol=1e-12, atol=0, err_msg=k)
    # the model function with the model variables themselves
    direct = m.function.batch(pd.DataFrame([
        {"NEV sales target": 0.8, "coal exit target": 0.9, "regional grid target": 0.9, "rebound elasticity": 0.5},
        {"NEV sales target": 0.3, "coal exit target": 0.7, "regional grid target": 0.7, "rebound elasticity": 0.5}]))
    order = [str(p) for p in ex["policy"]]
    for k in ("CO2 in 2060", "PM2.5 in 2035", TENTH):
        np.testing.assert_allclose(out[k], direct[k][[["p", "q"].index(o) for o in order]], rtol=1e-12, atol=0)
    assert out["CO2 in 2060"][0] != out["CO2 in 2060"][1]
    assert {"elasticity", "nev", "coal and grid"} <= set(ex.columns) and "NEV sales target" not in ex.columns
