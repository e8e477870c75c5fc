"""The accelerated PySD path and the ensemble runner.

Tier 2 (independent reference): the accelerated path against PySD as installed
(``pysd.load(...).run(params=...)``, relative 1e-12: the same expressions in the
same order give the same doubles) and against pysimlin (1e-6, the project's
engine-agreement tolerance); the runner's backends (in-process, local pool,
Dask LocalCluster) against each other (1e-12). Plus resume after an
interruption and the handling of dying workers.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from megacity_sd import ensemble as ens
from megacity_sd.engines import run_batch
from megacity_sd.engines.fast import compare_with_pysd, load_fast
from megacity_sd.engines.fast_codegen import _lookup_s, _lookup_v
from megacity_sd.ensemble import load_ensemble, run_ensemble
from megacity_sd.errors import UserInputError
from megacity_sd.indicators import INDICATORS, evaluate, indicator_matrix
from megacity_sd.scenario import DEFAULT_SCENARIOS, list_cities, load_scenario
from megacity_sd.simulate import output_variables, to_long
from tests.conftest import cached_run

PARAMS = {"income elasticity of migration": (0.5, 1.5), "rebound elasticity": (0.1, 0.6),
          "capital elasticity": (0.35, 0.55), "PV learning rate": (0.1, 0.3)}
SERIES = ["CO2 emissions", "PM25", "Population"]
DIE_ALWAYS = 2.5   # a value of 'income elasticity of migration' that kills the worker every time
DIE_ONCE = 2.75    # ... that kills it the first time only


def _sets(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({k: rng.uniform(lo, hi, n) for k, (lo, hi) in PARAMS.items()})


def _fast_vs_reference(scenario: str, city: str) -> None:
    ref = cached_run(scenario, city, "pysd")  # simulate.py: a fresh pysd.load(...).run(params=..., return_columns=...)
    got = load_fast().run(load_scenario(scenario, city=city).constants, output_variables())
    assert_allclose(got.index.to_numpy(dtype=float), ref.index.to_numpy(dtype=float), rtol=0, atol=1e-9)
    assert list(got.columns) == list(ref.columns)
    assert_allclose(got.to_numpy(dtype=float), ref.to_numpy(dtype=float), rtol=1e-12, atol=0)


@pytest.mark.parametrize("scenario", DEFAULT_SCENARIOS)
def test_fast_path_equals_plain_pysd_every_scenario(scenario):
    _fast_vs_reference(scenario, "shanghai")


@pytest.mark.parametrize("city", [c for c in list_cities() if c != "shanghai"])
def test_fast_path_equals_plain_pysd_every_city(city):
    _fast_vs_reference("baseline", city)


def test_fast_path_equals_plain_pysd_random_set_and_other_step():
    params = {**load_scenario("combined").constants, **_sets(1, seed=11).iloc[0].to_dict()}
    assert compare_with_pysd(params) <= 1e-12
    assert compare_with_pysd(params, ["CO2 emissions", "PM25", "Population"], time_step=0.25) <= 1e-12


def test_lookups_equal_pysd_lookups():
    from megacity_sd.model import load_pysd

    pysd_model = load_pysd()
    fast = load_fast()
    for name, (xp, fp) in fast._m.lookups.items():
        ref = getattr(pysd_model.components, name)
        rng = np.random.default_rng(5)
        xs = np.concatenate([xp, rng.uniform(xp[0] - 0.5, xp[-1] + 0.5, 200)])
        want = np.array([ref(float(x)) for x in xs])
        scalar = np.array([_lookup_s(float(x), xp, fp, np.asarray(xp), np.asarray(fp)) for x in xs])
        assert_allclose(scalar, want, rtol=0, atol=0)
        assert_allclose(_lookup_v(xs, np.asarray(xp), np.asarray(fp)), want, rtol=1e-15, atol=0)


def test_vector_batch_equals_scalar_runs():
    fast = load_fast()
    base = load_scenario("transport").constants
    sets = _sets(12)
    times, batch = fast.run_batch(sets, SERIES, base=base)
    for i, row in enumerate(sets.to_dict("records")):
        one = fast.run({**base, **row}, SERIES)
        assert_allclose(one.index.to_numpy(), times, rtol=0, atol=0)
        for v in SERIES:
            assert_allclose(batch[v][i], one[v].to_numpy(), rtol=1e-12, atol=0)


def test_fast_engine_agrees_with_simlin():
    base = load_scenario("combined").constants
    sets = _sets(6)
    y1, a = run_batch("fast", sets, base, SERIES)
    y2, b = run_batch("simlin", sets, base, SERIES)
    assert list(y1) == list(y2) == list(range(2005, 2061))
    for v in SERIES:
        assert_allclose(a[v], b[v], rtol=1e-6, atol=0)


def _by_hand(ind, s: pd.Series) -> float:
    """One indicator computed here with pandas, from its declaration (an independent reference)."""
    if ind.reduction == "at":
        return s[ind.start] * ind.scale
    w = s.loc[(ind.start or s.index.min()):(ind.end or s.index.max())]
    if ind.reduction == "peak_year":
        return float(w.idxmax())
    if ind.reduction == "peak":
        return w.max() * ind.scale
    if ind.reduction == "sum":
        return w.sum() * ind.scale
    below = w[w <= ind.fraction * s[ind.ref]]
    return float(below.index[0]) if len(below) else float("nan")


def test_indicator_matrix_equals_each_indicator_read_by_hand():
    """Every named indicator of a run (a city's combined scenario) and of 30 random runs, against pandas."""
    wide = cached_run("combined", "shanghai", "pysd")
    years = wide.index.to_numpy()
    rng = np.random.default_rng(5)
    variables = sorted({i.variable for i in INDICATORS})
    runs = [wide[variables]] + [wide[variables] * np.exp(np.cumsum(rng.normal(0, 0.05, (len(years), 1)), axis=0))
                                for _ in range(30)]
    series = {v: np.stack([r[v].to_numpy() for r in runs]) for v in variables}
    got = indicator_matrix(years, series, INDICATORS)
    kinds = {i.reduction for i in INDICATORS}
    assert kinds >= {"at", "peak_year", "peak", "sum", "first_below"}, kinds
    for k, r in enumerate(runs):
        want = [_by_hand(i, r[i.variable]) for i in INDICATORS]
        assert_allclose(got[k], want, rtol=1e-12, atol=0, equal_nan=True)
    # the long table's evaluate gives the same numbers, labelled
    long = evaluate(to_long(wide, city="shanghai", scenario="combined")).set_index("indicator")["value"]
    assert_allclose(long[[i.name for i in INDICATORS]].to_numpy(), got[0], rtol=1e-12, atol=0, equal_nan=True)


def test_backends_give_the_same_results(tmp_path):
    """In-process, local pool and Dask LocalCluster, with different batch sizes: same numbers."""
    from distributed import Client, LocalCluster

    sets = _sets(48)
    base = load_scenario("baseline").constants
    kw = {"base": base, "series": SERIES, "progress": False}
    ref = run_ensemble(sets, tmp_path / "inproc", workers=0, batch_size=48, **kw)
    pool = run_ensemble(sets, tmp_path / "pool", workers=2, batch_size=16, **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        dask = run_ensemble(sets, tmp_path / "dask", scheduler=client, batch_size=12, **kw)
    for other in (pool, dask):
        assert_allclose(other.indicators.to_numpy(), ref.indicators.to_numpy(), rtol=1e-12, atol=0)
        for v in SERIES:
            assert_allclose(other.series[v].to_numpy(), ref.series[v].to_numpy(), rtol=1e-12, atol=0)
    assert list(ref.indicators.columns) == [i.name for i in INDICATORS]
    assert ref.failed.empty and pool.failed.empty and dask.failed.empty
    back = load_ensemble(tmp_path / "pool")
    assert_allclose(back.indicators.to_numpy(), pool.indicators.to_numpy(), rtol=0, atol=0)
    assert_allclose(back.params.to_numpy(), sets.to_numpy(), rtol=1e-15, atol=0)


def test_resume_after_interruption_recomputes_nothing_stored(tmp_path):
    sets = _sets(40)
    kw = {"base": load_scenario("baseline").constants, "series": SERIES, "workers": 0, "batch_size": 8,
          "progress": False}
    full = run_ensemble(sets, tmp_path / "uninterrupted", **kw)

    def stop_after_two(batch, rows):
        if batch == 1:
            raise KeyboardInterrupt

    ens.EVALUATIONS.update(runs=0, batches=0)
    with pytest.raises(KeyboardInterrupt):
        run_ensemble(sets, tmp_path / "resumed", on_batch=stop_after_two, **kw)
    assert ens.EVALUATIONS == {"runs": 16, "batches": 2}
    assert len(list((tmp_path / "resumed" / "batches").glob("batch-*.npz"))) == 2
    ens.EVALUATIONS.update(runs=0, batches=0)
    res = run_ensemble(sets, tmp_path / "resumed", **kw)
    assert ens.EVALUATIONS == {"runs": 24, "batches": 3}  # only the three missing batches
    assert res.stats["batches_stored"] == 2 and res.stats["runs_computed"] == 24
    assert_allclose(res.indicators.to_numpy(), full.indicators.to_numpy(), rtol=0, atol=0)
    ens.EVALUATIONS.update(runs=0, batches=0)
    again = run_ensemble(sets, tmp_path / "resumed", **kw)
    assert ens.EVALUATIONS == {"runs": 0, "batches": 0} and again.stats["batches_computed"] == 0
    assert not list((tmp_path / "resumed").rglob(".*tmp*"))  # no temporary files left


def test_a_different_ensemble_in_the_same_folder_is_refused(tmp_path):
    kw = {"workers": 0, "progress": False, "indicators": ["CO2 in 2060"]}
    run_ensemble(_sets(4), tmp_path, **kw)
    with pytest.raises(UserInputError, match="different ensemble"):
        run_ensemble(_sets(4, seed=99), tmp_path, **kw)


def _fragile_engine(params, base, variables, *, time_step=None, mdl_path=None, marker: str):
    """Evaluate with the fast engine, but die on the poison values (runs in a worker process)."""
    x = params["income elasticity of migration"].to_numpy()
    if np.any(x == DIE_ALWAYS):
        os._exit(3)
    if np.any(x == DIE_ONCE) and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(3)
    return run_batch("fast", params, base, variables, time_step=time_step, mdl_path=mdl_path)


@pytest.mark.slow
def test_dying_worker_is_retried_and_its_set_reported(tmp_path):
    sets = _sets(12)
    sets.loc[2, "income elasticity of migration"] = DIE_ONCE
    sets.loc[9, "income elasticity of migration"] = DIE_ALWAYS
    engine = partial(_fragile_engine, marker=str(tmp_path / "died-once"))
    kw = {"base": load_scenario("baseline").constants, "indicators": ["CO2 in 2060", "PM2.5 in 2035"],
          "batch_size": 4, "progress": False}
    res = run_ensemble(sets, tmp_path / "ens", engine=engine, workers=2, **kw)
    assert (tmp_path / "died-once").exists()
    assert res.failed["run"].tolist() == [9]
    assert "died" in res.failed["error"].iloc[0]
    assert (tmp_path / "ens" / "failed.csv").is_file()
    ref = run_ensemble(sets.drop(index=9), tmp_path / "ref", workers=0, **kw)
    ok = res.indicators.drop(index=9)
    assert_allclose(ok.to_numpy(), ref.indicators.to_numpy(), rtol=1e-12, atol=0)
    assert res.indicators.loc[9].isna().all()


def _broken_engine(params, base, variables, *, time_step=None, mdl_path=None):
    raise ValueError("model cannot be evaluated")


def test_systematic_failure_stops_instead_of_isolating_every_set(tmp_path):
    with pytest.raises(RuntimeError, match="every evaluation fails.*model cannot be evaluated"):
        run_ensemble(_sets(64), tmp_path, engine=_broken_engine, workers=0, batch_size=32, progress=False)


@pytest.mark.parametrize("table, words", [
    (pd.DataFrame({"no such constant": [1.0]}), "not a model constant"),
    (pd.DataFrame({"rebound elasticity": [np.nan]}), "finite"),
    (pd.DataFrame({"rebound elasticity": ["a"]}), "number"),
    (pd.DataFrame({"rebound elasticity": []}), "no parameter sets"),
])
def test_bad_parameter_tables_are_refused(tmp_path, table, words):
    with pytest.raises(UserInputError, match=words) as err:
        run_ensemble(table, tmp_path / "x", workers=0, progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "x").exists()
