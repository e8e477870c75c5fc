"""Faults around an ensemble: damaged batch files, a lost Dask scheduler, bad run options, the ensemble's identity.

Reference of each test: a clean run of the same ensemble (results equal to
the last bit), the counts of evaluated sets, or the refusal itself (one
line, naming the option as the Python API spells it).
"""

from __future__ import annotations

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
