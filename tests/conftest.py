"""Shared fixtures. Runs are cached per session: the model is deterministic."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from megacity_sd.model import model_doc
from megacity_sd.scenario import DEFAULT_SCENARIOS, list_cities, load_scenario
from megacity_sd.simulate import run

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def run_cli_expecting_bad_input(args: list[str], words) -> None:
    """Run ``megacity-sd ARGS`` as a user would and check it fails as bad input must.

    Exit code 2, exactly one line on stderr with every word of ``words``, no traceback.
    """
    proc = subprocess.run([sys.executable, "-m", "megacity_sd.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def refused(capsys, argv: list) -> str:
    """Run ``megacity-sd ARGV`` through the console entry point in this process; it must refuse as bad input.

    Exit code 2, one line on stderr starting ``megacity-sd:`` and no traceback; returns that line.
    """
    from megacity_sd.cli.app import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("megacity-sd: "), (code, err)
    return lines[0]


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
