"""The model file itself: documentation, ranges, sectors, time settings, units, loops."""

import math
import re

import pytest

from megacity_sd.model import MODEL_PATH, canonical, load_simlin

SECTORS = {"Population", "Economy", "Energy.Prices", "Energy.Demand", "Energy.Supply", "Transport", "Buildings",
           "Emissions", "AirQuality", "Policy", "Indicators"}
LOOP_SWITCHES = ["capital loop switch", "income migration loop switch", "pollution migration loop switch",
                 "housing loop switch", "NEV charging loop switch",
                 "regulatory loop switch", "rebound loop switch"]


def test_every_variable_has_units_and_comment(doc):
    missing = [v.name for v in doc.values() if not v.units or not v.comment]
    assert missing == []


def test_every_constant_has_a_range_holding_its_value(doc):
    """(Sources are checked in test_sources.py.)"""
    bad = [v.name for v in doc.values() if v.kind == "constant" and v.sector != "Control"
           and (v.limits is None or not v.limits[0] <= v.value <= v.limits[1])]
    assert bad == []


def test_every_city_value_has_a_source(city_names):
    from megacity_sd.scenario import load_scenario

    for city in city_names:
        scen = load_scenario("baseline", city=city)
        assert set(scen.sources) == set(scen.constants), city


def test_sectors_are_the_views(doc):
    sectors = {v.sector for v in doc.values()} - {"Control"}
    assert sectors == SECTORS


def test_time_settings(doc):
    assert doc["initial_time"].value == 2005
    assert doc["final_time"].value == 2060
    assert doc["saveper"].value == 1
    step = doc["time_step"].value
    assert math.log2(step) == round(math.log2(step))


def test_at_least_fourteen_stocks(doc):
    assert sum(v.kind == "stock" for v in doc.values()) >= 14


def test_loop_switches_exist_and_name_their_loop(doc):
    for name in LOOP_SWITCHES:
        v = doc[canonical(name)]
        assert v.value == 1 and v.limits == (0.0, 1.0)
        assert re.match(r"Loop switch \((R|B)\) ", v.comment), name


def test_only_functions_both_engines_share():
    text = MODEL_PATH.read_text(encoding="utf-8").split("\\\\\\---///")[0].upper()
    for forbidden in ("DELAY N", "DELAY MATERIAL", "DELAY FIXED", "GET XLS", "GET DIRECT", "RANDOM"):
        assert forbidden not in text


def test_pysimlin_reports_no_issue_and_no_unit_issue():
    model = load_simlin(MODEL_PATH)
    assert [i.message for i in model.check()] == []


@pytest.mark.parametrize("old,new", [
    ("births=\n\tPopulation * birth rate\n", "births=\n\tPopulation * birth rate * hours per year\n"),
    ("CO2 from coal=\n\tstationary coal use * coal CO2 factor\n",
     "CO2 from coal=\n\tstationary coal use * coal CO2 factor + stationary coal use\n"),
])
def test_an_injected_dimensional_error_is_caught(tmp_path, old, new):
    """The units check is not empty evidence: a dimensional error put into the model is reported."""
    import simlin

    text = MODEL_PATH.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "bad.mdl"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    messages = [i.message for i in simlin.load(str(bad)).check()]
    assert any("unit" in m for m in messages), messages


@pytest.mark.parametrize("loop_var", ["capital loop switch", "income migration loop switch"])
def test_switch_is_used_in_an_equation(doc, loop_var):
    users = [v.name for v in doc.values() if loop_var in v.equation]
    assert users
