"""Scenario files: schema, inheritance, checks against the model, and clear errors."""

from __future__ import annotations

import pytest

from megacity_sd.errors import UserInputError
from megacity_sd.scenario import DEFAULT_SCENARIOS, list_scenarios, load_scenario


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_standard_scenarios_exist_and_load(city_names):
    assert set(DEFAULT_SCENARIOS) <= set(list_scenarios())
    assert {"shanghai", "beijing", "tianjin", "guangzhou", "shenzhen"} <= set(city_names)
    for city in city_names:
        for name in DEFAULT_SCENARIOS:
            s = load_scenario(name, city=city)
            assert s.name == name and s.city == city


def test_combined_inherits_all_three_packages():
    comb = load_scenario("combined").constants
    for part in ("energy_structure", "transport", "buildings"):
        for key, value in load_scenario(part).constants.items():
            assert comb[key] == value


def test_extends_by_path_and_override_order(tmp_path):
    _write(tmp_path, "parent.yaml", "name: parent\nconstants:\n  NEV sales target: 0.5\n  retrofit target: 0.01\n")
    child = _write(tmp_path, "child.yaml", "name: child\nextends: parent.yaml\nconstants:\n  NEV sales target: 0.9\n")
    s = load_scenario(str(child))
    assert s.constants["NEV sales target"] == pytest.approx(0.9)
    assert s.constants["retrofit target"] == pytest.approx(0.01)


def test_names_are_case_and_space_insensitive(tmp_path):
    p = _write(tmp_path, "s.yaml", "name: s\nconstants:\n  nev_sales   TARGET: 0.5\n")
    assert load_scenario(str(p), calibrated=False).constants == {"NEV sales target": 0.5}


@pytest.mark.parametrize("text, words", [
    ("name: x\nconstant: {}\n", ["key 'constant'", "allowed keys"]),
    ("name: x\nconstants:\n  no such lever: 1\n", ["key 'constants.no such lever'", "not a model constant"]),
    ("name: x\nconstants:\n  NEV sales target: 1.5\n", ["NEV sales target", "out of range", "[0, 1]"]),
    ("name: x\nconstants:\n  NEV sales target: high\n", ["NEV sales target", "number"]),
    ("name: x\nconstants:\n  NEV sales target: true\n", ["NEV sales target", "number"]),
    ("name: x\nconstants:\n  Population: 5\n", ["Population", "stock", "only constants"]),
    ("name: x\nconstants: [1, 2\n", ["malformed YAML", "line"]),
    ("- just\n- a list\n", ["expected a mapping"]),
    ("constants: {}\n", ["key 'name'", "required"]),
])
def test_bad_scenario_files_give_one_clear_line(tmp_path, text, words):
    p = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(UserInputError) as exc:
        load_scenario(str(p))
    msg = str(exc.value)
    assert "\n" not in msg and str(p) in msg
    for w in words:
        assert w in msg, (w, msg)


def test_unknown_names_and_missing_files():
    with pytest.raises(UserInputError, match="unknown scenario 'nope'; allowed: baseline"):
        load_scenario("nope")
    with pytest.raises(UserInputError, match="unknown city 'paris'; allowed: beijing"):
        load_scenario("baseline", city="paris")
    with pytest.raises(UserInputError, match="file not found"):
        load_scenario("missing/file.yaml")


def test_circular_extends(tmp_path):
    _write(tmp_path, "a.yaml", "name: a\nextends: b.yaml\n")
    b = _write(tmp_path, "b.yaml", "name: b\nextends: a.yaml\n")
    with pytest.raises(UserInputError, match="circular"):
        load_scenario(str(b))


def test_city_values_need_a_source(tmp_path):
    city = _write(tmp_path, "c.yaml", "name: c\nconstants:\n  initial population: 1.0e+7\n")
    with pytest.raises(UserInputError, match="needs a source"):
        load_scenario("baseline", city=str(city))


def test_a_value_set_again_takes_the_source_of_the_file_that_set_it(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("name: child\nextends: transport\nconstants:\n  NEV sales target: 0.55\n", encoding="utf-8")
    scen = load_scenario(str(child))
    assert scen.constants["NEV sales target"] == 0.55
    assert scen.sources["NEV sales target"] == "scenario child (child.yaml)"
    parent = load_scenario("transport")
    assert parent.sources["NEV sales target"].startswith("scenario transport")
