"""Faults around an ensemble: damaged batch files, a lost Dask scheduler, bad run options, the ensemble's identity.

Reference of each test: a clean run of the same ensemble (results equal to
the last bit), the counts of evaluated sets, or the refusal itself (one
line, naming the option as the Python API spells it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

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


# --- a Dask scheduler that does not answer, or is lost while batches run -----------------------------------------

def _within(seconds: float, fn):
    """``fn()``'s result or the exception it raised, failing the test if it takes longer than ``seconds`` (a hang)."""
    box = {}

    def call():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            box["error"] = err

    t = threading.Thread(target=call, daemon=True)
    t0 = time.monotonic()
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"still waiting after {seconds} s: the lost scheduler hangs the ensemble")
    return box.get("error", box.get("value")), time.monotonic() - t0


@pytest.fixture
def silent_port():
    """A TCP address that accepts connections and never answers (as a stopped scheduler does)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    srv.close()


def _closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"tcp://127.0.0.1:{port}"


def test_a_scheduler_that_does_not_answer_is_refused_in_seconds(tmp_path, silent_port):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        err, took = _within(20, lambda: run_ensemble(_sets(2), tmp_path / "a", scheduler=silent_port,
                                                     indicators=IND, progress=False))
        assert isinstance(err, UserInputError), err
        assert str(err).startswith(f"scheduler {silent_port}: no answer within 1 s") and "\n" not in str(err)
        assert took < 10
        refused_addr = _closed_port()

        def through_session():
            with ens.session(ens.RunOptions(scheduler=refused_addr, store=tmp_path / "b")):
                pass

        err, took = _within(20, through_session)
        assert isinstance(err, UserInputError) and "cannot connect" in str(err), err
    assert not (tmp_path / "a").exists()


@pytest.mark.slow
def test_the_command_line_refuses_a_silent_scheduler_in_one_line(tmp_path, silent_port):
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    proc = subprocess.run([sys.executable, "-m", "megacity_sd.cli", "sensitivity", "--method", "oat",
                           "--scheduler", silent_port, "--no-progress", "--out", str(tmp_path / "out"),
                           "--figures", str(tmp_path / "f")], capture_output=True, text=True, timeout=60, env=env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"megacity-sd: scheduler {silent_port}: no answer within 1 s")


@pytest.fixture
def cluster():
    """A Dask scheduler and one worker in their own processes (so that the test can kill or stop the scheduler)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    addr = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    sched = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                              "--port", str(port), "--no-dashboard"], **quiet)
    work = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", addr, "--nthreads", "1",
                             "--no-nanny", "--no-dashboard"], **quiet)
    try:
        from distributed import Client

        with Client(addr, timeout="30s", set_as_default=False) as c:
            c.wait_for_workers(1, timeout=60)
        yield addr, sched
    finally:
        for proc in (sched, work):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(10)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "stopped"])
@pytest.mark.slow
def test_a_scheduler_lost_while_batches_run_ends_the_run_in_one_line(tmp_path, cluster, how):
    """Killed (its connection closes) or stopped (it stays open and silent): a ConnectionError within seconds,
    the batches stored before kept and none marked failed; the same ensemble then resumes elsewhere."""
    addr, sched = cluster
    sets = _sets(12)

    def lose_scheduler(batch, rows):
        if batch == 0:
            os.kill(sched.pid, how)

    runner = ens.DaskRunner(addr, timeout=2)
    # one set per batch and no retry: a batch cancelled by the lost connection, if taken for a failing one,
    # would be stored as a failed set at once
    try:
        err, took = _within(40, lambda: run_ensemble(sets, tmp_path / "ens", runner=runner, retries=0,
                                                     on_batch=lose_scheduler, **_kw(workers=None, batch_size=1)))
    finally:
        runner.close()
    assert isinstance(err, ConnectionError), err
    msg = str(err)
    assert msg.startswith(f"Dask scheduler {addr}: no answer within 2 s") and "\n" not in msg, msg
    assert "of 12 runs of ensemble kept in" in msg and msg.endswith("run the same command to resume")
    assert took < 20
    assert not (tmp_path / "ens" / "failed.csv").exists()
    assert (tmp_path / "ens" / "batches" / "batch-000000.npz").is_file()
    res = run_ensemble(sets, tmp_path / "ens", **_kw(batch_size=1))  # resumed in this process
    assert res.stats["batches_stored"] >= 1 and res.failed.empty
    ref = run_ensemble(sets, tmp_path / "ref", **_kw(batch_size=1))  # batches of 1 in one go, no fault
    assert_array_equal(res.indicators.to_numpy(), ref.indicators.to_numpy())
