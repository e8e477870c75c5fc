"""The command line, as a user runs it: outputs, summary, and bad input."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from megacity_sd.cli import main

from .conftest import run_cli_expecting_bad_input


def test_run_one_city_one_scenario(tmp_path, capsys):
    out, figs = tmp_path / "out", tmp_path / "figs"
    code = main(["run", "--city", "beijing", "--scenario", "transport", "--engine", "simlin",
                 "--out", str(out), "--figures", str(figs)])
    assert code == 0
    df = pd.read_csv(out / "results.csv")
    assert list(df.columns) == ["city", "scenario", "variable", "unit", "year", "value"]
    # the baseline is added for comparison when the scenarios given lack it
    assert set(df["scenario"]) == {"baseline", "transport"} and set(df["city"]) == {"beijing"}
    assert df["year"].min() == 2005 and df["year"].max() == 2060
    co2 = df[(df["variable"] == "CO2 emissions") & (df["scenario"] == "transport")]
    assert len(co2) == 56 and (co2["unit"] == "tCO2/Year").all()
    assert len(list(figs.glob("beijing_*.png"))) == 7
    text = capsys.readouterr().out
    assert "baseline added for comparison" in text and "vs base" in text
    row = next(line for line in text.splitlines() if line.startswith("beijing    transport"))
    ind = pd.read_csv(out / "indicators.csv")
    got = ind[(ind["scenario"] == "transport") & (ind["indicator"] == "CO2 in 2060")].iloc[0]
    # the printed change against baseline is the table's, which is value / baseline - 1
    assert got["change_pct"] == pytest.approx(100 * (got["value"] / got["baseline"] - 1), rel=1e-12)
    assert f"{got['change_pct']:+.0f}" in row.split()
    base = ind[ind["scenario"] == "baseline"]
    assert (base["change"].dropna().abs() < 1e-12).all() and base["value"].isna().sum() == base["change"].isna().sum()


def test_run_scenario_from_a_file(tmp_path):
    scen = tmp_path / "mine.yaml"
    scen.write_text("name: mine\nextends: transport\nconstants:\n  retrofit target: 0.02\n")
    code = main(["run", "--scenario", str(scen), "--scenario", "baseline", "--engine", "simlin",
                 "--out", str(tmp_path / "o"), "--no-figures"])
    assert code == 0
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert set(df["scenario"]) == {"mine", "baseline"}


@pytest.mark.parametrize("args, words", [
    (["--city", "paris"], ["unknown city 'paris'"]),
    (["--scenario", "nope"], ["unknown scenario 'nope'"]),
    (["--scenario", "BAD"], ["out of range"]),
])
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, args, words):
    if args[-1] == "BAD":
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: bad\nconstants:\n  coal exit target: 2\n")
        args = ["--scenario", "baseline", "--scenario", str(bad)]
    out = tmp_path / "out"
    run_cli_expecting_bad_input(["run", *args, "--out", str(out), "--figures", str(tmp_path / "f"),
                                 "--engine", "simlin"], words)
    assert not out.exists() and not (tmp_path / "f").exists()


def test_unknown_option_exit_2():
    proc = subprocess.run([sys.executable, "-m", "megacity_sd.cli", "run", "--citty", "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_scenarios_lists_levers_with_units_ranges_defaults(capsys):
    assert main(["scenarios"]) == 0
    text = capsys.readouterr().out
    for word in ("energy_structure", "end_of_pipe", "beijing", "NEV sales target", "[0, 1]", "default"):
        assert word in text
