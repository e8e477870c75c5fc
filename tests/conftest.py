"""Shared fixtures. Runs are cached per session: the model is deterministic."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from megacity_sd.model import model_doc
from megacity_sd.run import run
from megacity_sd.scenario import DEFAULT_SCENARIOS, list_cities, load_scenario

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@cache
def cached_run(scenario: str, city: str = "shanghai", engine: str = "pysd"):
    return run(load_scenario(scenario, city=city), engine)


@pytest.fixture(scope="session")
def doc():
    return model_doc()


@pytest.fixture(scope="session")
def scenario_names():
    return list(DEFAULT_SCENARIOS)


@pytest.fixture(scope="session")
def city_names():
    return list_cities()
