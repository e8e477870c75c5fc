"""Tier 1, analytic truth: a one-stock model with a known solution, through the run interface."""

from pathlib import Path

import numpy as np
import pytest

from megacity_sd.simulate import run

DECAY = Path(__file__).parent / "models" / "decay.mdl"


@pytest.mark.parametrize("engine", ["pysd", "simlin"])
def test_exponential_decay_matches_closed_form(engine):
    df = run({"decay rate": 0.05, "initial stock": 50}, engine, mdl_path=DECAY)
    t = df.index.to_numpy() - 2005
    exact = 50 * np.exp(-0.05 * t)
    # Euler with dt = 1/128 yr: relative error about k^2 dt t / 2 <= 1e-3 over 55 years
    np.testing.assert_allclose(df["stock"].to_numpy(), exact, rtol=1e-3)
    np.testing.assert_allclose(df["outflow"].to_numpy(), 0.05 * df["stock"].to_numpy(), rtol=1e-12)
