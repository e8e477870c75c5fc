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


#: The physical ledger, written here from the model's documentation (not read from its INTEG equations): each
#: material stock and its signed flows. A flow left out of, or added with the wrong sign to, a stock's equation
#: breaks its balance.
LEDGER = {
    "Population": {"births": 1, "deaths": -1, "in migration": 1, "out migration": -1},
    "Capital": {"investment": 1, "depreciation": -1},
    "coal power capacity": {"coal power construction": 1, "coal power retirement": -1},
    "gas power capacity": {"gas power construction": 1, "gas power retirement": -1},
    "PV capacity": {"PV construction": 1, "PV retirement": -1},
    "cumulative PV capacity": {"PV construction": 1},
    "ICE cars": {"ICE car sales": 1, "ICE car scrappage": -1},
    "NEV cars": {"NEV car sales": 1, "NEV car scrappage": -1},
    "diesel buses": {"diesel bus purchases": 1, "diesel bus scrappage": -1},
    "CNG buses": {"CNG bus purchases": 1, "CNG bus scrappage": -1},
    "electric buses": {"electric bus purchases": 1, "electric bus scrappage": -1},
    "diesel trucks": {"diesel truck sales": 1, "diesel truck scrappage": -1},
    "electric trucks": {"electric truck sales": 1, "electric truck scrappage": -1},
    "hydrogen trucks": {"hydrogen truck sales": 1, "hydrogen truck scrappage": -1},
    "public chargers": {"charger construction": 1, "charger retirement": -1},
    "conventional floor area": {"conventional construction": 1, "conventional demolition": -1, "retrofit": -1},
    "retrofitted floor area": {"retrofit": 1, "retrofitted demolition": -1},
    "green floor area": {"green construction": 1, "green demolition": -1},
    "cumulative CO2": {"CO2 emissions": 1},
    "cumulative CO2 scope 1 and 2": {"CO2 scope 1 and 2": 1},
}
#: Transfers between stocks cancel in a chain's total: floor area is built and demolished, never made by retrofit.
CHAINS = {("conventional floor area", "retrofitted floor area", "green floor area"):
          {"conventional construction": 1, "green construction": 1, "conventional demolition": -1,
           "retrofitted demolition": -1, "green demolition": -1}}


@pytest.mark.parametrize("scenario", ["baseline", "neutrality"])
@pytest.mark.slow
def test_material_stocks_balance_their_ledger(doc, scenario):
    """Each material stock equals its initial value plus the Euler sum of the flows the ledger above names, with
    their signs; each chain's total changes by its external flows only (PySD, dt of the model, every step)."""
    model = load_pysd()
    dt = doc["time_step"].value
    names = sorted(set(LEDGER) | {f for flows in LEDGER.values() for f in flows})
    assert all(canonical(n) in doc for n in names)
    consts = load_scenario(scenario, city="shanghai").constants
    df = model.run(params=dict(consts), return_columns=names, return_timestamps=np.arange(2005, 2060 + dt / 2, dt))

    def balanced(stock: np.ndarray, flows: dict[str, int], what: str):
        net = sum(sign * df[f].to_numpy(dtype=float) for f, sign in flows.items())
        expected = stock[0] + np.concatenate([[0.0], np.cumsum(net[:-1] * dt)])
        np.testing.assert_allclose(stock, expected, rtol=0, atol=1e-9 * max(np.abs(stock).max(), 1e-12),
                                   err_msg=what)

    for stock, flows in LEDGER.items():
        balanced(df[stock].to_numpy(dtype=float), flows, stock)
        assert np.abs(sum(df[f] for f in flows)).max() > 0, stock  # the flows move
    for chain, flows in CHAINS.items():
        balanced(sum(df[s].to_numpy(dtype=float) for s in chain), flows, " + ".join(chain))
    assert df["retrofit"].max() > 0  # the transfer the chain must cancel happens (neutrality and baseline)


@pytest.mark.parametrize("scenario", DEFAULT_SCENARIOS)
@pytest.mark.slow
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


@pytest.mark.slow
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
    df = run({"initial population": 0}, "pysd", ranges=False)  # an extreme condition, outside the range
    for col in ["CO2 emissions", "scope 2 CO2", "SO2 emissions", "NOx emissions", "primary PM25 emissions",
                "GDP", "total final energy"]:
        np.testing.assert_allclose(df[col].to_numpy(), 0.0, atol=1e-9, err_msg=col)


def test_no_migration_no_natural_growth_keeps_population_constant():
    df = run({"birth rate reference": 0, "birth rate long run": 0, "death rate reference": 0, "death rate rise": 0,
              "normal in migration rate": 0, "normal out migration rate": 0},
             "pysd", ranges=False)  # extreme conditions, outside the ranges
    np.testing.assert_allclose(df["Population"].to_numpy(), df["Population"].iloc[0], rtol=1e-12)


@pytest.mark.parametrize("engine", ["pysd", "simlin"])
@pytest.mark.slow
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


@pytest.mark.slow
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
