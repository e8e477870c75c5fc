"""The Policy sector is generated from the lever table: ``megacity_sd/data/levers.csv`` is its one truth.

Reference tier: the committed model file and the committed table, each checked against the other; the lever
rule of ``megacity_sd.levers`` and the model's declarations (``model_doc``, PySD's parser) read the generated
text back. The real model file is never written: edits go to temporary copies.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from megacity_sd.cli.app import main
from megacity_sd.layout import policy
from megacity_sd.levers import lever_families
from megacity_sd.model import MODEL_PATH, canonical, model_doc, read_sketch

ROLES = ("initial value", "baseline target", "baseline start year", "baseline phase in time", "target",
         "start year", "phase in time")


@pytest.fixture(scope="module")
def levers():
    return policy.read_levers()


@pytest.fixture
def copy(tmp_path) -> Path:
    """A temporary copy of the committed model."""
    path = tmp_path / "megacity.mdl"
    shutil.copyfile(MODEL_PATH, path)
    return path


def _write_table(path: Path, levers) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=policy.COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(lv.__dict__ for lv in levers)
    return path


def _values(lv) -> dict[str, tuple[str, str, str]]:
    """Constant name -> (value, min, max) as the table gives them."""
    ranges = {"value": (lv.value_min, lv.value_max), "start_year": (lv.start_year_min, lv.start_year_max),
              "phase_in_time": (lv.phase_in_time_min, lv.phase_in_time_max)}
    kind = {"initial value": "value", "baseline target": "value", "target": "value",
            "baseline start year": "start_year", "start year": "start_year",
            "baseline phase in time": "phase_in_time", "phase in time": "phase_in_time"}
    return {f"{lv.stem} {r}": (getattr(lv, r.replace(" ", "_")), *ranges[kind[r]]) for r in ROLES}


# ----------------------------------------------------------------------------- the table is the one truth


def test_the_committed_policy_block_and_view_are_what_the_table_gives(levers):
    text = MODEL_PATH.read_text(encoding="utf-8")
    start, end = policy._block_span(text)
    assert text[start:end] == policy.policy_block(levers)
    assert policy.render_model(text, levers) == text  # the sketch view too, and nothing else changes
    assert policy.check_model() is None
    assert len(levers) == 29


@pytest.mark.parametrize("old,new,name", [
    ("MIN(1, MAX(0, (Time - gas exit start year) / gas exit phase in time))",  # one lever's equation
     "MIN(1, MAX(0, (Time - gas exit start year) / (gas exit phase in time + 1)))", "gas exit phase"),
    ("retrofit initial value=\n\t0\n", "retrofit initial value=\n\t0.001\n", "retrofit initial value"),  # a default
    ("\t~\tYear [1,40]\n\t~\tScenario lever (mandated new-energy share of new car sales): years",  # a range
     "\t~\tYear [1,30]\n\t~\tScenario lever (mandated new-energy share of new car sales): years",
     "NEV sales phase in time"),
])
def test_a_hand_edit_of_the_block_is_caught(copy, old, new, name):
    text = copy.read_text(encoding="utf-8")
    assert text.count(old) == 1
    copy.write_text(text.replace(old, new), encoding="utf-8")
    problem = policy.check_model(copy)
    assert problem is not None and f"variable '{name}'" in problem and "\n" not in problem, problem
    line = int(problem.split(": line ")[1].split(":")[0])
    changed = next(n for o, n in zip(old.split("\n"), new.split("\n"), strict=True) if o != n)
    assert copy.read_text(encoding="utf-8").splitlines()[line - 1].strip() == changed.strip()


def test_a_hand_edit_of_the_sketch_view_is_caught(copy):
    text = copy.read_text(encoding="utf-8")
    view = next(v for v in read_sketch(text) if v.name == policy.GROUP)
    e = view.elements[0]
    old = f"10,{e.uid},{e.name},{e.x:g},{e.y:g},"
    assert text.count(old) == 1
    copy.write_text(text.replace(old, f"10,{e.uid},{e.name},{e.x + 40:g},{e.y:g},"), encoding="utf-8")
    problem = policy.check_model(copy)
    assert problem is not None and "*Policy sketch view" in problem, problem


def test_every_lever_of_the_table_is_a_lever_family_of_the_model_and_back(levers):
    fams = {f["family"]: f for f in lever_families()}
    assert [lv.stem for lv in levers] == list(fams)  # the same levers, in the same order
    for lv in levers:
        fam = fams[lv.stem]
        # the variable that reads the target: the effective value, or for uptake the flow of the uptake stock
        assert fam["effective"] == (lv.effective if lv.effect == "max" else f"{lv.stem} uptake")
        assert fam["description"] == lv.description
        assert {x["role"] for x in fam["levers"]} == {"target", "start", "phase"}
        got = {x["name"]: (x["default"], x["min"], x["max"], x["units"]) for x in fam["levers"]}
        want = {n: (float(v), float(lo), float(hi), lv.units if n.endswith(" target") else "Year")
                for n, (v, lo, hi) in _values(lv).items() if " baseline " not in n and "initial" not in n}
        assert got == want


# ----------------------------------------------------------------------------- the round trip


def test_generated_model_declares_the_tables_constants(copy, levers, tmp_path):
    """generate -> write to a copy -> PySD's parser reads every constant with the table's range, default, source."""
    edited = [*levers]
    edited[0] = policy.Lever(**{**levers[0].__dict__, "baseline_target": "0.65"})  # a changed default
    path, changed = policy.write_model(copy, _write_table(tmp_path / "levers.csv", edited))
    assert changed and path == copy
    doc, committed = model_doc(copy), model_doc()
    for lv in edited:
        for name, (value, lo, hi) in _values(lv).items():
            var = doc[canonical(name)]
            assert var.kind == "constant" and var.sector == "Policy", name
            assert (var.value, var.limits) == (float(value), (float(lo), float(hi))), name
            assert var.units == (lv.units if "value" in name or name.endswith("target") else "Year"), name
            src = lv.source if " baseline " in name or "initial" in name else getattr(
                lv, f"{name[len(lv.stem) + 1:].replace(' ', '_')}_source")
            assert var.comment.endswith(src) and lv.description in var.comment, name
        for name in policy.lever_variables(lv):  # the rest as committed: equations, units, comments, sector
            if name != "coal exit baseline target":
                assert doc[canonical(name)] == committed[canonical(name)], name
    assert doc[canonical("coal exit baseline target")].value == 0.65
    assert set(doc) == set(committed)


def test_a_new_row_becomes_a_lever_drawn_in_the_policy_view(copy, levers, tmp_path):
    row = {**levers[1].__dict__, "stem": "waste heat", "effective": "waste heat recovery",
           "description": "recovery of industrial waste heat for district heating", "baseline_target": "0"}
    table = _write_table(tmp_path / "levers.csv", [*levers, policy.Lever(**row)])
    policy.write_model(copy, table)
    assert policy.check_model(copy, table) is None
    assert "'waste heat initial value'" in policy.check_model(copy)  # the committed table lacks it
    fam = next(f for f in lever_families(copy) if f["family"] == "waste heat")
    assert fam["effective"] == "waste heat recovery"
    assert sorted(x["name"] for x in fam["levers"]) == ["waste heat phase in time", "waste heat start year",
                                                       "waste heat target"]
    view = next(v for v in read_sketch(copy) if v.name == "Policy")
    drawn = {e.key for e in view.elements}
    assert {canonical(n) for n in policy.lever_variables(policy.Lever(**row))} <= drawn
    assert policy.write_model(copy, table) == (copy, False)  # the layout is its own fixed point


# ----------------------------------------------------------------------------- the command


def test_levers_check_exits_0_on_the_committed_files(capsys):
    assert main(["levers", "--check"]) == 0
    out = capsys.readouterr().out
    assert "match" in out and "29 levers" in out


def test_levers_check_exits_1_with_one_line_and_write_model_restores(copy, capsys):
    text = copy.read_text(encoding="utf-8")
    old = "coal power exit baseline path + MAX(0, coal power exit target - coal power exit baseline path)"
    edited = text.replace(old, old.replace("MAX(0,", "MAX(0.01,"))
    copy.write_text(edited, encoding="utf-8")
    capsys.readouterr()
    assert main(["levers", "--check", "--model", str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("megacity-sd: ") and "'coal power exit fraction'" in err, err
    assert copy.read_text(encoding="utf-8") == edited  # --check writes nothing
    assert main(["levers", "--write-model", "--model", str(copy)]) == 0
    assert copy.read_bytes() == MODEL_PATH.read_bytes()
    assert main(["levers", "--check", "--model", str(copy)]) == 0
    assert main(["levers", "--write-model", "--model", str(copy)]) == 0
    assert "nothing written" in capsys.readouterr().out


@pytest.mark.parametrize("column,value,words", [
    ("value_max", "0.5", ["line 2", "baseline_target", "outside"]),  # coal exit baseline target 0.6 > 0.5
    ("phase_in_time", "ten", ["phase_in_time", "not a number"]),
    ("effect", "min", ["effect", "allowed: max, uptake"]),
    ("description", "a (b", ["parentheses"]),
    ("stem", "coal baseline exit", ["baseline"]),
    ("source", "a ~ b", ["'~'"]),
])
def test_a_bad_table_is_one_line_exit_2_and_nothing_written(copy, levers, tmp_path, capsys, column, value, words):
    bad = [policy.Lever(**{**levers[0].__dict__, column: value}), *levers[1:]]
    table = _write_table(tmp_path / "levers.csv", bad)
    capsys.readouterr()
    assert main(["levers", "--write-model", "--model", str(copy), "--table", str(table)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words), err
    assert copy.read_bytes() == MODEL_PATH.read_bytes()


@pytest.mark.parametrize("change,words", [
    ("drop", ["drops 'carbon price", "still uses"]),  # the energy prices read it
    ("clash", ["makes 'GDP'", "Economy group already defines"]),
])
def test_a_table_that_breaks_the_rest_of_the_model_is_refused(copy, levers, tmp_path, capsys, change, words):
    rows = [lv for lv in levers if lv.stem != "carbon price"] if change == "drop" else \
        [*levers, policy.Lever(**{**levers[1].__dict__, "stem": "new lever", "effective": "GDP"})]
    table = _write_table(tmp_path / "levers.csv", rows)
    capsys.readouterr()
    assert main(["levers", "--write-model", "--model", str(copy), "--table", str(table)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words), err
    assert copy.read_bytes() == MODEL_PATH.read_bytes()
