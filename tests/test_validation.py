"""Model validation as system-dynamics practice asks (Sterman 2000, Business Dynamics, ch. 21).

Stock-flow balance, extreme conditions, integration error, loop switches,
robustness over random lever sets, and agreement of the two engines.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from megacity_sd.model import canonical, load_pysd, load_simlin
from megacity_sd.scenario import DEFAULT_SCENARIOS, load_scenario
from megacity_sd.simulate import run

from .conftest import cached_run

SHARE_PATTERN = re.compile(r"(share|fraction|penetration|removal)", re.I)


def _physical(df: pd.DataFrame, doc) -> list[str]:
    """Names of variables that break physical bounds in a run."""
    bad = []
    if df.isna().any().any():
        bad += [f"NaN in {c}" for c in df.columns[df.isna().any()]]
    for c in df.columns:
        v = doc[canonical(c)]
        x = df[c].to_numpy()
        if v.kind == "stock" and (x < -1e-9 * max(1.0, np.abs(x).max())).any():
            bad.append(f"negative stock {c}")
        if v.units == "dmnl" and SHARE_PATTERN.search(c) and ((x < -1e-9) | (x > 1 + 1e-9)).any():
            bad.append(f"share out of [0,1]: {c}")
    return bad


def _expr(expr: str, names: list[str]) -> str:
    """Turn a Vensim arithmetic expression into a Python one over ``env[...]``."""
    out = expr
    for i, name in enumerate(sorted(names, key=len, reverse=True)):
        out = re.sub(rf"(?<![\w]){re.escape(name)}(?![\w])", f"__v{i}__", out, flags=re.I)
    for i, name in enumerate(sorted(names, key=len, reverse=True)):
        out = out.replace(f"__v{i}__", f"env[{name!r}]")
    return out


def test_stock_flow_balance_every_stock(doc):
    """Each stock equals its initial value plus its integrated net flow, step by step (Euler)."""
    model = load_pysd()
    dt = doc["time_step"].value
    names = [v.name for v in doc.values() if v.sector != "Control" and v.kind != "lookup"]
    df = model.run(return_columns=names, return_timestamps=np.arange(2005, 2060 + dt / 2, dt))
    env = {n: df[n].to_numpy(dtype=float) for n in names}
    stocks = [v for v in doc.values() if v.kind == "stock"]
    assert len(stocks) >= 14
    for v in stocks:
        m = re.fullmatch(r"INTEG \((.*),(.*)\)", v.equation.strip(), flags=re.S)
        flows, init = m.group(1), m.group(2)
        net = eval(_expr(flows, names), {}, {"env": env})  # noqa: S307 - arithmetic of model columns
        net = np.broadcast_to(net, env[v.name].shape)
        init_value = eval(_expr(init, names), {}, {"env": env})  # noqa: S307
        init_value = float(np.asarray(init_value).ravel()[0])
        expected = init_value + np.concatenate([[0.0], np.cumsum(net[:-1] * dt)])
        scale = max(np.abs(env[v.name]).max(), 1e-12)
        np.testing.assert_allclose(env[v.name], expected, rtol=0, atol=1e-9 * scale, err_msg=v.name)


@pytest.mark.parametrize("scenario", DEFAULT_SCENARIOS)
def test_engines_agree_every_scenario(scenario, city_names):
    for city in city_names:
        a = cached_run(scenario, city, "pysd")
        b = cached_run(scenario, city, "simlin")
        assert list(a.columns) == list(b.columns)
        for col in a.columns:
            x, y = a[col].to_numpy(), b[col].to_numpy()
            scale = np.abs(x).max()
            np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-9 * scale, err_msg=f"{city}/{scenario}/{col}")


@pytest.mark.parametrize("scenario", DEFAULT_SCENARIOS)
def test_physical_every_scenario_and_city(scenario, doc, city_names):
    for city in city_names:
        assert _physical(cached_run(scenario, city, "simlin"), doc) == [], city


def _levers(doc):
    return [v for v in doc.values() if v.kind == "constant" and v.sector == "Policy"]


def test_physical_for_200_random_lever_sets(doc):
    rng = np.random.default_rng(20261128)
    model = load_simlin()
    levers = _levers(doc)
    failures = []
    for i in range(200):
        ov = {}
        for v in levers:
            lo, hi = v.limits
            ov[v.name] = float(rng.integers(lo, hi + 1)) if v.units == "Year" else float(rng.uniform(lo, hi))
        res = model.run(overrides={canonical(k): x for k, x in ov.items()}, analyze_loops=False).results
        df = pd.DataFrame({v.name: res[canonical(v.name)].to_numpy() for v in doc.values()
                           if v.kind in ("stock", "auxiliary") and v.sector != "Control"})
        bad = _physical(df, doc)
        if bad:
            failures.append((i, bad[:3]))
    assert failures == []


def test_every_lever_at_maximum_stays_physical(doc):
    ov = {}
    for v in _levers(doc):
        if v.name.endswith("start year"):
            ov[v.name] = 2021.0
        elif v.name.endswith("phase in time"):
            ov[v.name] = v.limits[0]
        else:
            ov[v.name] = v.limits[1]
    df = run(ov, "simlin")
    assert _physical(df, doc) == []
    base = cached_run("baseline", "shanghai", "simlin")
    assert df.loc[2060, "CO2 emissions"] < base.loc[2060, "CO2 emissions"]


def test_zero_activity_gives_zero_emissions():
    df = run({"initial population": 0}, "pysd")
    for col in ["CO2 emissions", "scope 2 CO2", "SO2 emissions", "NOx emissions", "primary PM25 emissions",
                "GDP", "total final energy"]:
        np.testing.assert_allclose(df[col].to_numpy(), 0.0, atol=1e-9, err_msg=col)


def test_no_migration_no_natural_growth_keeps_population_constant():
    df = run({"birth rate reference": 0, "birth rate long run": 0, "death rate reference": 0, "death rate rise": 0,
              "normal in migration rate": 0, "normal out migration rate": 0},
             "pysd")
    np.testing.assert_allclose(df["Population"].to_numpy(), df["Population"].iloc[0], rtol=1e-12)


@pytest.mark.parametrize("engine", ["pysd", "simlin"])
def test_halving_time_step_changes_2060_co2_less_than_1pct(doc, engine):
    dt = doc["time_step"].value
    for scenario in ("baseline", "combined"):
        s = load_scenario(scenario)
        a = run(s, engine)
        b = run(s, engine, time_step=dt / 2)
        change = abs(b.loc[2060, "CO2 emissions"] / a.loc[2060, "CO2 emissions"] - 1)
        assert change < 0.01, (scenario, change)


def test_every_loop_switch_changes_behaviour(doc):
    base = cached_run("baseline", "shanghai", "simlin")
    switches = [v.name for v in doc.values() if v.name.endswith("loop switch")]
    assert len(switches) == 7
    for name in switches:
        cut = run({name: 0}, "simlin")
        change = max(np.max(np.abs(cut[c] / base[c] - 1)) for c in ("CO2 emissions", "PM25", "Population", "GDP"))
        assert change > 1e-3, (name, change)


def test_shanghai_history_co2_within_15pct_population_within_5pct():
    from megacity_sd.data import history

    df = cached_run("baseline", "shanghai", "pysd")
    co2 = history("shanghai", "co2").set_index("year")["value"]
    pop = history("shanghai", "population").set_index("year")["value"]
    years = range(2005, 2020)
    co2_err = np.array([df.loc[y, "CO2 emissions"] / co2[y] - 1 for y in years])
    pop_err = np.array([df.loc[y, "Population"] / pop[y] - 1 for y in years])
    assert np.abs(co2_err).max() <= 0.15, co2_err
    assert np.abs(pop_err).max() <= 0.05, pop_err


def test_scenarios_rank_sensibly():
    base = cached_run("baseline")
    comb = cached_run("combined")
    eop = cached_run("end_of_pipe")
    assert comb.loc[2040, "CO2 emissions"] < base.loc[2040, "CO2 emissions"]
    assert comb.loc[2040, "SO2 emissions"] < base.loc[2040, "SO2 emissions"]
    # end-of-pipe control cuts pollutants but its energy penalty raises CO2 (quadrant IV)
    assert eop.loc[2040, "SO2 emissions"] < base.loc[2040, "SO2 emissions"]
    assert eop.loc[2040, "CO2 emissions"] > base.loc[2040, "CO2 emissions"]
    np.testing.assert_allclose(comb.loc[2005:2020, "CO2 emissions"], base.loc[2005:2020, "CO2 emissions"],
                               rtol=1e-12)
