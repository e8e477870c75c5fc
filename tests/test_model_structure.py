"""The model file itself: documentation, ranges, sectors, time settings, units, loops."""

import math
import re

import pytest

from megacity_sd.model import MODEL_PATH, canonical, load_simlin

SECTORS = {"Population", "Economy", "Energy.Demand", "Energy.Supply", "Transport", "Buildings",
           "Emissions", "AirQuality", "Policy", "Indicators"}
# a source: "assumption:" with its reason, a definition or derivation, or a citation (a year in
# parentheses, "et al.", a yearbook, law, plan, standard or agency, or the project's parameter handbook)
SOURCE = re.compile(r"assumption:|Definition|Derived|DERIVED|\((19|20)\d{2}\)|et al\.|Yearbook|Communique|Law|Plan|"
                    r"GB[ /]\d|NBS|CEADs|IEA|IRENA|WHO|parameters/|history\.csv|calibrated by")
LOOP_SWITCHES = ["capital loop switch", "income migration loop switch", "pollution migration loop switch",
                 "housing loop switch", "NEV charging loop switch", "learning curve loop switch",
                 "regulatory loop switch", "rebound loop switch"]


def test_every_variable_has_units_and_comment(doc):
    missing = [v.name for v in doc.values() if not v.units or not v.comment]
    assert missing == []


def test_every_constant_has_range_and_source(doc):
    bad = []
    for v in doc.values():
        if v.kind != "constant" or v.sector == "Control":
            continue
        if v.limits is None or not v.limits[0] <= v.value <= v.limits[1]:
            bad.append((v.name, "range"))
        if not SOURCE.search(v.comment):
            bad.append((v.name, "source"))
    assert bad == []


def test_every_city_value_has_a_source(city_names):
    from megacity_sd.scenario import load_scenario

    for city in city_names:
        scen = load_scenario("baseline", city=city)
        assert set(scen.sources) == set(scen.constants)
        bad = [name for name, src in scen.sources.items() if not SOURCE.search(src)]
        assert bad == [], city


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
    assert [i.message for i in model.check_units()] == []


@pytest.mark.parametrize("loop_var", ["capital loop switch", "income migration loop switch"])
def test_switch_is_used_in_an_equation(doc, loop_var):
    users = [v.name for v in doc.values() if loop_var in v.equation]
    assert users
