"""Display units: one table (megacity_sd.units), read by every place that shows a model quantity."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest

from megacity_sd import units
from megacity_sd.model import canonical, model_doc

PACKAGE = Path(__file__).resolve().parent.parent / "megacity_sd"

# ----------------------------------------------------------------------------- the table against hand values


@pytest.mark.parametrize(("model_unit", "value", "shown", "label"), [
    ("tCO2/Year", 1.0, 1e-6, "Mt CO2/yr"),          # 1 tCO2/yr = 1e-6 Mt CO2/yr
    ("tCO2/Year", 2.5e8, 250.0, "Mt CO2/yr"),
    ("tCO2", 1.0, 1e-6, "Mt CO2"),
    ("t/Year", 1.0, 1e-3, "kt/yr"),                 # 1 t/yr = 0.001 kt/yr
    ("t/Year", 45_000.0, 45.0, "kt/yr"),
    ("person", 24_280_000.0, 24.28, "million people"),
    ("yuan/Year", 3.8e12, 3.8, "trillion yuan/yr (2005 prices)"),
    ("tce/Year", 1.0, 1e-6, "Mtce/yr"),
    ("kWh/Year", 1.6e11, 160.0, "TWh/yr"),          # 1 TWh = 1e9 kWh
    ("vehicle", 1.0, 1e-6, "million vehicles"),
    ("m2", 1.3e9, 1300.0, "million m2"),
    ("microgram/m3", 31.0, 31.0, "ug/m3"),
    ("equivalent/Year", 2.0e6, 2.0, "Meq/yr"),
    ("tCO2/yuan", 1.2e-4, 1.2, "t CO2/10^4 yuan (2005 prices)"),  # per 10,000 yuan
    ("tce/yuan", 5e-5, 0.5, "tce/10^4 yuan (2005 prices)"),
    ("tCO2/(person*Year)", 7.5, 7.5, "t CO2/person/yr"),
])
def test_table_against_hand_values(model_unit, value, shown, label):
    scale, got = units.display(model_unit)
    assert got == label
    assert value * scale == pytest.approx(shown, rel=1e-12)


def test_an_unknown_unit_is_shown_as_the_model_has_it():
    assert units.display("charger/vehicle") == (1.0, "charger/vehicle")
    assert units.display("dmnl") == (1.0, "dmnl")


def test_integral_of_a_rate_drops_the_year():
    assert units.integral("tCO2/Year") == "tCO2"
    assert units.integral("t/Year") == "t"
    assert units.integral("person") == "person*Year"
    assert units.display(units.integral("tCO2/Year")) == (1e-6, "Mt CO2")


def test_display_of_reads_the_model_unit():
    doc = model_doc()
    for name in ("CO2 scope 1 and 2", "SO2 emissions", "Population", "GDP", "PM25", "primary coal",
                 "conventional floor area", "electricity demand", "air pollutant equivalent"):
        assert units.display_of(name) == units.UNITS[doc[canonical(name)].units], name
    assert units.display_of("co2_scope_1_AND_2") == units.display_of("CO2 scope 1 and 2")  # as model names
    with pytest.raises(KeyError, match="not a model variable"):
        units.display_of("no such variable")


def test_per_variable_overrides_and_shares():
    """Buses and trucks in thousands while cars are in millions; a dmnl share in %; derived series."""
    assert units.display_of("ICE cars") == (1e-6, "million cars")
    assert units.display_of("diesel buses") == (1e-3, "thousand buses")
    assert units.display_of("hydrogen trucks") == (1e-3, "thousand trucks")
    assert units.display_of("NEV share of sales") == (100.0, "%")
    assert units.display_of("share of CO2 industry") == (100.0, "%")
    assert units.display_of("bus capacity per shifted share") == (1.0, "dmnl")  # not a fraction
    assert units.display_of("coal share of primary energy") == (100.0, "%")
    assert units.display_of("primary energy intensity of GDP") == units.UNITS["tce/yuan"]
    doc = model_doc()
    for name in units.VARIABLES:  # an override names a model variable, or a series derived from two of them
        from megacity_sd.targets.conditions import DERIVED

        assert canonical(name) in doc or name in DERIVED, name
    assert set(DERIVED) <= set(units.VARIABLES)


def test_gdp_is_in_2005_prices_as_the_model_says():
    doc = model_doc()
    assert "constant 2005 prices" in doc["gdp"].comment
    assert "2005 prices" in units.UNITS["yuan/Year"].label


def test_labels_are_spelt_one_way():
    labels = [d.label for d in [*units.UNITS.values(), *units.VARIABLES.values()]]
    for label in labels:
        assert "MtCO2" not in label and "tCO2" not in label, label  # "Mt CO2", "t CO2": with the space
        assert not re.search(r"/Year\b", label), label  # "/yr"
    for d in [*units.UNITS.values(), *units.VARIABLES.values()]:
        assert d.scale > 0 and math.log10(d.scale) == round(math.log10(d.scale))  # powers of ten


# ----------------------------------------------------------------------------- every site reads the table


def test_every_indicator_reads_the_table():
    from megacity_sd.indicators import INDICATORS

    doc = model_doc()
    for ind in INDICATORS:
        if ind.reduction in ("peak_year", "first_below"):
            want = units.YEAR
        elif ind.reduction == "sum":
            want = units.display(units.integral(doc[canonical(ind.variable)].units), ind.variable)
        else:
            want = units.display_of(ind.variable)
        assert (ind.scale, ind.unit) == tuple(want), ind.name


def test_every_target_family_reads_the_table():
    from megacity_sd.targets.conditions import FAMILIES, resolve_indicator

    for family in FAMILIES:
        ind = resolve_indicator(f"{family} in 2030")
        assert (ind.scale, ind.unit) == tuple(units.display_of(ind.variable)), family


def test_explorer_charts_read_the_table():
    from megacity_sd.explore.explorer import CHARTS

    for chart in CHARTS:
        first = units.display_of(chart["series"][0]["var"])
        assert chart["unit"] == first.label, chart["id"]
        for s in chart["series"]:
            assert s["scale"] == units.display_of(s["var"]).scale and units.display_of(s["var"]).label == first.label
        if "history" in chart:
            assert chart["history"]["scale"] == first.scale


# ----------------------------------------------------------------------------- no display scale outside the table

#: Multipliers to display units, as literals.
_SCALES = {1e-3, 1e-6, 1e-9, 1e-12, 1e3, 1e4, 1e6, 1e9, 1e12}
#: Words of display units.
_UNIT_WORDS = re.compile(r"\b(?:Mt|kt|Meq|TWh|GWh)|\b(?:million|thousand|trillion|billion)\b|10\^4|\b10k\b")


def _scopes(tree: ast.Module):
    """Each function (its own statements, without nested functions) and each top-level statement."""
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node, [node]
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            yield node, [s for s in body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                ast.ClassDef))]


def display_scales_outside_the_table(root: Path = PACKAGE) -> list[str]:
    """``file:line`` of each scope (function, top-level statement) with a display scale literal and a unit word."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "units.py" and path.parent == root:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope, stmts in _scopes(tree):
            nums, words = [], []
            for stmt in stmts:
                for n in ast.walk(stmt):
                    if isinstance(n, ast.Constant) and isinstance(n.value, float) and n.value in _SCALES:
                        nums.append(n.lineno)
                    elif isinstance(n, ast.Constant) and isinstance(n.value, str) and _UNIT_WORDS.search(n.value):
                        words.append(n.lineno)
            if nums and words:
                found.append(f"{path.relative_to(root.parent)}:{min(nums)} "
                             f"({getattr(scope, 'name', type(scope).__name__)})")
    return found


def test_the_scan_finds_a_display_scale(tmp_path):
    """The scan can fail: a scale next to a unit word, in a function or at top level, is found."""
    pkg = tmp_path / "megacity_sd"
    pkg.mkdir()
    (pkg / "fig.py").write_text('def f(ax, s):\n    """Mt CO2 in the docstring is fine with 1e-6."""\n'
                                '    ax.plot(s / 1e6)\n    ax.set_ylabel("Mt CO2/yr")\n', encoding="utf-8")
    (pkg / "table.py").write_text('T = {"CO2": ("MtCO2/yr", 1e-6)}\nTOL = 1e-9\n', encoding="utf-8")
    (pkg / "ok.py").write_text('def g(x):\n    """A tolerance, 1e-9, and million in the docstring."""\n'
                               '    return abs(x) < 1e-9\n', encoding="utf-8")
    (pkg / "units.py").write_text('U = {"tCO2/Year": (1e-6, "Mt CO2/yr")}\n', encoding="utf-8")
    assert display_scales_outside_the_table(pkg) == ["megacity_sd/fig.py:3 (f)", "megacity_sd/table.py:1 (Assign)"]


def test_no_display_scale_outside_the_table():
    assert display_scales_outside_the_table() == []
