"""Tier 3, seeded regression: detects CHANGE of the model's results, not correctness.

The reference file ``reference/shanghai_key_outputs.csv`` was written by
``python -m tests.test_regression --write`` (engine: PySD, the reference) and
records the model version it came from in ``reference/README.md``. When a
change of the model is intended, regenerate it and say why in the commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

REF = Path(__file__).parent / "reference" / "shanghai_key_outputs.csv"
VARIABLES = ["CO2 emissions", "scope 2 CO2", "CO2 scope 1 and 2", "SO2 emissions", "NOx emissions",
             "primary PM25 emissions", "PM25", "Population", "GDP", "total final energy", "NEV cars",
             "green floor area", "electricity price per kWh"]
SCENARIOS = ["baseline", "combined", "end_of_pipe", "neutrality", "city_plans"]  # together they set every lever
YEARS = list(range(2005, 2061, 5))


def _current() -> pd.DataFrame:
    from tests.conftest import cached_run

    rows = []
    for scen in SCENARIOS:
        df = cached_run(scen, "shanghai", "pysd")
        for var in VARIABLES:
            for year in YEARS:
                rows.append((scen, var, year, float(df.loc[year, var])))
    return pd.DataFrame(rows, columns=["scenario", "variable", "year", "value"])


def test_key_outputs_unchanged():
    ref = pd.read_csv(REF)
    cur = _current()
    merged = ref.merge(cur, on=["scenario", "variable", "year"], suffixes=("_ref", "_cur"), validate="1:1")
    assert len(merged) == len(ref) == len(cur)
    # tight: same engine, same model; only float noise is allowed
    np.testing.assert_allclose(merged["value_cur"], merged["value_ref"], rtol=1e-9, atol=0)


if __name__ == "__main__":
    if "--write" in sys.argv:
        _current().to_csv(REF, index=False, float_format="%.12g")
        print(f"wrote {REF}")
