"""Faults around an ensemble: damaged batch files, a lost Dask scheduler, bad run options, the ensemble's identity.

Reference of each test: a clean run of the same ensemble (results equal to
the last bit), the counts of evaluated sets, or the refusal itself (one
line, naming the option as the Python API spells it).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from megacity_sd import ensemble as ens
from megacity_sd.ensemble import load_ensemble, run_ensemble
from megacity_sd.errors import UserInputError
from megacity_sd.scenario import load_scenario

PARAMS = {"income elasticity of migration": (0.5, 1.5), "rebound elasticity": (0.1, 0.6)}
IND = ["CO2 in 2060", "PM2.5 in 2035", "year CO2 below 50% of 2019"]


def _sets(n: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({k: rng.uniform(lo, hi, n) for k, (lo, hi) in PARAMS.items()})


def _kw(**extra) -> dict:
    return {"base": load_scenario("baseline").constants, "indicators": IND, "series": ["PM25"], "workers": 0,
            "batch_size": 8, "progress": False, **extra}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """24 sets in 3 batches of 8, run once without faults: the reference, and a store to damage (copied)."""
    folder = tmp_path_factory.mktemp("clean") / "ens"
    return folder, run_ensemble(_sets(24), folder, **_kw())


def _truncate_half(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _empty(p):
    p.write_bytes(b"")


def _flip_a_data_byte(p):
    b = bytearray(p.read_bytes())
    b[len(b) // 3] ^= 0x10  # inside an array: the zip member's CRC no longer matches
    p.write_bytes(bytes(b))


def _other_batch(p):
    shutil.copyfile(p.with_name("batch-000000.npz"), p)  # readable, but the rows of batch 0


@pytest.mark.parametrize("damage", [_truncate_half, _empty, _flip_a_data_byte, _other_batch])
def test_a_damaged_batch_is_dropped_and_computed_again(tmp_path, clean, capfd, damage):
    folder, ref = clean
    store = tmp_path / "ens"
    shutil.copytree(folder, store)
    damage(store / "batches" / "batch-000001.npz")
    with pytest.raises(UserInputError, match="batch 1 damaged") as err:
        load_ensemble(store)
    assert "\n" not in str(err.value)
    capfd.readouterr()
    ens.EVALUATIONS.update(runs=0, batches=0)
    res = run_ensemble(_sets(24), store, **_kw())
    assert ens.EVALUATIONS == {"runs": 8, "batches": 1}  # only the damaged batch
    assert res.stats["batches_damaged"] == [1] and res.stats["batches_stored"] == 2
    lines = [ln for ln in capfd.readouterr().err.splitlines() if "damaged" in ln]
    assert len(lines) == 1 and "batch 1 " in lines[0] and "computing it again" in lines[0], lines
    for got in (res, load_ensemble(store)):
        assert_array_equal(got.indicators.to_numpy(), ref.indicators.to_numpy())
        assert_array_equal(got.series["PM25"].to_numpy(), ref.series["PM25"].to_numpy())
    assert res.failed.empty


# --- RunOptions: checked once, in the class ---------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    (0, "out of range"), (-1, "out of range"), (1e-6, "finer than 1/1024"), (True, "not a number"),
    ([1], "not a number"), (0.3, "not 1/k year"), (2, "out of range"), (float("nan"), "out of range"),
    ("0.25", "not a number"),
])
def test_run_options_refuse_a_bad_time_step(value, words):
    with pytest.raises(UserInputError, match=words) as err:
        ens.RunOptions(time_step=value)
    msg = str(err.value)
    assert msg.startswith("time_step ") and "--" not in msg and "\n" not in msg, msg
    assert "1/k year" in msg  # says what is allowed


@pytest.mark.parametrize("field, value, words", [
    ("workers", -1, "out of range"), ("workers", True, "not an integer"), ("workers", [2], "not an integer"),
    ("workers", 2.0, "not an integer"), ("batch_size", 0, "out of range"), ("batch_size", False, "not an integer"),
    ("batch_size", [8], "not an integer"), ("batch_size", "8", "not an integer"), ("engine", "fastest", "unknown"),
    ("progress", 1, "True or False"), ("scheduler", " ", "empty"), ("scheduler", 8786, "not allowed"),
    ("store", 3, "not a folder"),
])
def test_run_options_refuse_bad_values(field, value, words):
    with pytest.raises(UserInputError, match=words) as err:
        ens.RunOptions(**{field: value})
    msg = str(err.value)
    assert msg.startswith(field) and "--" not in msg and "\n" not in msg, msg


def test_run_options_refuse_workers_and_scheduler_together():
    with pytest.raises(UserInputError, match="choose one"):
        ens.RunOptions(workers=2, scheduler="tcp://127.0.0.1:8786")


@pytest.mark.parametrize("step", [1, 0.5, 0.25, 0.125, 1 / 3, 1 / 365, 1 / 1024, np.float64(0.0625)])
def test_run_options_take_valid_values(step, tmp_path):
    opts = ens.RunOptions(store=str(tmp_path), workers=np.int64(0), time_step=step, batch_size=4, progress=True)
    assert opts.time_step == float(step) and type(opts.time_step) is float
    assert opts.workers == 0 and type(opts.workers) is int and opts.store == tmp_path
    assert ens.RunOptions().time_step is None and ens.RunOptions(scheduler="tcp://h:8786").scheduler


def _must_not_run(params, base, variables, *, time_step=None, mdl_path=None):
    raise AssertionError("evaluated although the options were not allowed")


def test_run_ensemble_refuses_the_same_values(tmp_path):
    """run_ensemble, the other door to the runner, checks with the same rules and the same names."""
    for kw, words in [({"time_step": 1e-6}, "time_step 1e-06: finer"), ({"workers": True}, "workers True"),
                      ({"batch_size": 2.5}, "batch_size 2.5")]:
        with pytest.raises(UserInputError, match=words):
            run_ensemble(_sets(2), tmp_path / "x", progress=False, engine=_must_not_run, indicators=IND,
                         **({"workers": 0} | kw))
    assert not (tmp_path / "x").exists()


# --- one identity: the key of the manifest, the folder names of the analyses ------------------------------------

def test_the_identity_covers_every_input_that_changes_results():
    sets, base = _sets(6), load_scenario("baseline").constants
    kw = {"base": base, "indicators": IND, "series": ["PM25"]}
    ref = ens.ensemble_id(sets, **kw)
    assert ref == ens.ensemble_id(sets, **kw)
    renamed = sets.rename(columns={"rebound elasticity": "Rebound  Elasticity"})  # the same constant
    assert ens.ensemble_id(renamed, **kw) == ref
    other = {ens.ensemble_id(sets, **(kw | {"time_step": 0.25})), ens.ensemble_id(sets, **(kw | {"time_step": 0.5})),
             ens.ensemble_id(sets, **(kw | {"engine": "simlin"})), ens.ensemble_id(sets, **(kw | {"series": []})),
             ens.ensemble_id(sets, **(kw | {"indicators": IND[:1]})),
             ens.ensemble_id(sets, **(kw | {"base": base | {"NEV sales target": 0.61}})),
             ens.ensemble_id(sets.assign(**{"rebound elasticity": sets["rebound elasticity"] + 1e-12}), **kw)}
    assert ref not in other and len(other) == 7


def test_two_ensembles_differing_only_in_time_step(tmp_path):
    """Different identities (the second is not mistaken for the first) and different results."""
    sets, kw = _sets(4), _kw(batch_size=None)
    coarse = run_ensemble(sets, tmp_path / "a", time_step=0.5, **kw)
    fine = run_ensemble(sets, tmp_path / "b", time_step=0.0625, **kw)
    keys = [json.loads((tmp_path / f / "manifest.json").read_text())["key"] for f in ("a", "b")]
    assert keys == [ens.ensemble_id(sets, base=kw["base"], indicators=IND, series=["PM25"], time_step=t)
                    for t in (0.5, 0.0625)]
    assert keys[0] != keys[1]
    assert np.abs(coarse.series["PM25"].to_numpy() - fine.series["PM25"].to_numpy()).max() > 1e-6
    with pytest.raises(UserInputError, match="different ensemble"):
        run_ensemble(sets, tmp_path / "a", time_step=0.0625, **kw)  # the stored coarse one is not reused


def test_sensitivity_folders_are_named_by_the_identity_and_honour_time_step(tmp_path):
    from megacity_sd.sensitivity import load_uncertainty, oat

    scen = load_scenario("baseline")
    unc = load_uncertainty(scenario=scen)
    tables = {}
    for step in (None, 0.5):
        opts = ens.RunOptions(store=tmp_path, workers=0, time_step=step)
        tables[step] = oat(unc, scen, levels=2, opts=opts)
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 2, folders
    for f in folders:
        man = json.loads((tmp_path / f / "manifest.json").read_text())
        assert f.endswith("-" + man["key"][:12])
    assert not np.allclose(tables[None]["value"], tables[0.5]["value"], rtol=1e-9, atol=0, equal_nan=True)


def test_discover_honours_time_step(tmp_path):
    from megacity_sd.discover import run_sets
    from megacity_sd.engines import run_batch

    sets, base = _sets(3), load_scenario("baseline").constants
    got = {}
    for step in (None, 0.5):
        got[step] = run_sets(sets, base, ["PM25"], tag="t", opts=ens.RunOptions(store=tmp_path, workers=0,
                                                                              time_step=step))
    years, want = run_batch("fast", sets, base, ["PM25"], time_step=0.5)
    assert_array_equal(got[0.5][0], np.asarray(years, dtype=int))
    np.testing.assert_allclose(got[0.5][1]["PM25"], want["PM25"], rtol=1e-12, atol=0)
    assert np.abs(got[None][1]["PM25"] - got[0.5][1]["PM25"]).max() > 1e-6
    assert len(list(tmp_path.iterdir())) == 2
