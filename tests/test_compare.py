"""``megacity-sd compare``: cities side by side, per capita and per GDP."""

from __future__ import annotations

import pandas as pd
import pytest

from megacity_sd.cli import main
from megacity_sd.compare import compare_table
from megacity_sd.scenario import load_scenario
from megacity_sd.simulate import run_long


@pytest.fixture(scope="module")
def long():
    return run_long([load_scenario("baseline", city=c) for c in ("shanghai", "shenzhen")])


def _at(long, city, variable, year):
    sel = long[(long["city"] == city) & (long["variable"] == variable) & (long["year"] == year)]
    return float(sel["value"].iloc[0])


def test_per_capita_and_per_gdp_are_the_ratios_of_the_run(long):
    t = compare_table(long)
    for city in ("shanghai", "shenzhen"):
        co2, pop, gdp = (_at(long, city, v, 2035) for v in ("CO2 scope 1 and 2", "Population", "GDP"))
        row = t[(t["city"] == city) & (t["year"] == 2035)].set_index("indicator")["value"]
        assert row["CO2 (scope 1+2)"] == pytest.approx(co2 * 1e-6, rel=1e-12)
        assert row["CO2 per capita"] == pytest.approx(co2 / pop, rel=1e-12)
        assert row["CO2 per GDP"] == pytest.approx(co2 / gdp * 1e4, rel=1e-12)
        assert row["PM2.5 concentration"] == pytest.approx(_at(long, city, "PM25", 2035), rel=1e-12)


def test_ranks_order_the_cities(long):
    t = compare_table(long)
    for _, g in t.groupby(["scenario", "indicator", "year"]):
        assert list(g.sort_values("value")["rank"]) == sorted(g["rank"])
    # Shenzhen (light industry, imported power counted in scope 2) emits less than Shanghai in 2019 (CEADs)
    r = t[(t["indicator"] == "CO2 (scope 1+2)") & (t["year"] == 2019)].set_index("city")["rank"]
    assert r["shenzhen"] == 1 and r["shanghai"] == 2


def test_compare_command(tmp_path, capsys):
    code = main(["compare", "--city", "shanghai", "--city", "beijing", "--scenario", "combined",
                 "--out", str(tmp_path / "o"), "--figures", str(tmp_path / "f")])
    assert code == 0
    t = pd.read_csv(tmp_path / "o" / "compare.csv")
    assert set(t["city"]) == {"shanghai", "beijing"} and set(t["scenario"]) == {"combined"}
    assert (tmp_path / "f" / "compare_cities.png").is_file()
    text = capsys.readouterr().out
    assert "CO2 per capita 2035 (t CO2/person/yr)" in text
    assert main(["compare", "--city", "shanghai"]) == 2
    assert "two cities or more" in capsys.readouterr().err
