"""Feedback inspection: loops, polarity, named loops, dominance, knock-outs, tracing, diagrams.

Tiers: analytic truth (Johnson's algorithm on complete digraphs; the toy model
whose five loops and polarities are known by construction), an independent
reference (pysimlin's own exhaustive loop enumeration and its runtime loop
polarities), and checks of the megacity model's named loops.
"""

from __future__ import annotations

import math
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from megacity_sd import layout
from megacity_sd import loops as lp
from megacity_sd.errors import UserInputError
from megacity_sd.model import MODEL_PATH, SKETCH_MARK, canonical, model_doc, read_sketch

TOY = Path(__file__).parent / "models" / "toy_loops.mdl"
# the toy's loops by construction (tests/models/toy_loops.mdl, group comment)
TOY_LOOPS = {
    frozenset({"population", "births"}): "R",
    frozenset({"population", "deaths"}): "B",
    frozenset({"population", "crowding", "birth_rate", "births"}): "B",
    frozenset({"population", "consumption", "resource", "lifetime", "deaths"}): "B",
    frozenset({"resource", "regeneration"}): "B",
}
# variables each named loop of the megacity model runs through (sd_models/README.md, loop table)
NAMED_PATHS = {
    "capital loop switch": {"gdp", "investment", "capital"},
    "income migration loop switch": {"gdp_per_capita", "relative_income", "migration_attractiveness",
                                     "in_migration", "population", "labour_force", "gdp"},
    "pollution migration loop switch": {"pm25", "perceived_pm25", "migration_attractiveness", "in_migration",
                                        "population"},
    "housing loop switch": {"floor_area_per_person", "migration_attractiveness", "in_migration", "population"},
    "NEV charging loop switch": {"nev_cars", "public_chargers", "charger_coverage", "nev_share_of_sales"},
    "regulatory loop switch": {"pm25", "regulatory_pressure"},
    "rebound loop switch": {"oil_tightness", "oil_scarcity_multiplier", "oil_price", "perceived_oil_price",
                            "primary_oil"},
}


@pytest.fixture(scope="module")
def toy():
    model = lp.configured_model(None, TOY)
    return model, lp.find_loops(model, mdl_path=TOY)


@pytest.fixture(scope="module")
def megacity():
    return lp.analyze_loops(None, timeout=60)


# ---------------------------------------------------------------- analytic truth


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_johnson_counts_the_circuits_of_a_complete_digraph(n):
    nodes = [f"v{i}" for i in range(n)]
    adj = {a: [b for b in nodes if b != a] for a in nodes}
    expected = sum(math.comb(n, k) * math.factorial(k - 1) for k in range(2, n + 1))
    circuits = lp.elementary_circuits(adj)
    assert len(circuits) == expected
    # no circuit twice: the same cycle from another starting node would be a rotation of one already found
    canonical = {tuple(c[c.index(min(c)):] + c[:c.index(min(c))]) for c in map(list, circuits)}
    assert len(canonical) == len(circuits)
    for c in circuits:  # each is a closed path of distinct nodes
        assert len(set(c)) == len(c)


def test_johnson_finds_self_loops_and_ignores_acyclic_parts():
    adj = {"a": ["a", "b"], "b": ["c"], "c": ["b", "d"], "d": []}
    assert sorted(lp.elementary_circuits(adj)) == [("a",), ("b", "c")]


def test_toy_gives_exactly_its_loops_and_polarities(toy):
    _, analysis = toy
    found = {frozenset(loop.variables): loop.polarity for loop in analysis.loops}
    assert found == TOY_LOOPS


def test_toy_loops_match_pysimlin_exhaustive_enumeration(toy):
    model, analysis = toy
    engine = {frozenset(loop.variables): str(loop.polarity) for loop in model.loops}
    assert engine == TOY_LOOPS
    assert {frozenset(loop.variables) for loop in analysis.loops} == set(engine)


def test_toy_named_loop_and_its_switched_link(toy):
    _, analysis = toy
    (named,) = analysis.named
    assert (named.switch, named.name, named.polarity) == ("crowding loop switch", "crowding", "B")
    assert named.links == (("crowding", "birth_rate"),)
    (loop,) = [loop for loop in analysis.loops if loop.name]
    assert set(loop.variables) == {"population", "crowding", "birth_rate", "births"}
    assert [loop.id for loop in analysis.loops if "crowding loop switch" in loop.switches] == [loop.id]


def test_dominant_periods_rule():
    shares = pd.DataFrame({"a": [0.6, 0.3, 0.2], "b": [-0.3, -0.4, -0.5], "c": [0.1, -0.3, -0.3]},
                          index=[1.0, 2.0, 3.0])
    periods = lp.dominant_periods(shares, {"a": "R", "b": "B", "c": "B"})
    # step 1: a alone reaches one half; step 2: b needs c; step 3: b alone reaches one half
    assert periods == [(1.0, 1.0, ("a",)), (2.0, 2.0, ("b", "c")), (3.0, 3.0, ("b",))]


def test_dominant_periods_agree_with_pysimlin(toy):
    """The rule of Run.dominant_periods, applied to the toy's LTM scores (exhaustive mode)."""
    model, analysis = toy
    run = model.run()
    key = {frozenset(loop.variables): loop.id for loop in analysis.loops}
    series = {key[frozenset(loop.variables)]: loop.behavior_time_series for loop in run.loops}
    shares = pd.DataFrame(series, index=run.results.index)
    pol = {loop.id: loop.polarity for loop in analysis.loops}
    ours = lp.dominant_periods(shares, pol)
    theirs = [(p.start_time, p.end_time, tuple(sorted(key[frozenset(next(x.variables for x in run.loops
                                                                          if x.id == i))] for i in p.dominant_loops)))
              for p in run.dominant_periods]
    assert ours == theirs


# ---------------------------------------------------------------- the megacity model


def test_every_named_loop_is_found(megacity):
    named = {nl.switch: nl for nl in megacity.named}
    assert set(named) == set(NAMED_PATHS)
    for switch, path in NAMED_PATHS.items():
        nl = named[switch]
        assert nl.links, switch
        hits = [loop for loop in megacity.loops if loop.name == nl.name]
        assert hits, f"no loop named {nl.name!r}"
        for loop in hits:
            assert loop.polarity == nl.polarity, nl.name
            assert switch in loop.switches
            assert set(nl.links) & set(loop.links)
        assert any(path <= set(loop.variables) for loop in hits), (nl.name, [h.variables for h in hits])


def test_loop_polarity_agrees_with_pysimlin_runtime_polarity(megacity):
    """Every loop the LTM discovery reports is one of ours, with the same polarity."""
    import simlin

    result = simlin.load(str(MODEL_PATH)).analyze(timeout=60)
    assert result.analysis_error is None and result.loops
    ours = {frozenset(loop.variables): loop.polarity for loop in megacity.loops}
    checked = 0
    for loop in result.loops:
        key = frozenset(v for v in loop.variables if "\u205a" not in v)
        if len(key) > lp.MAX_LOOP_LENGTH:  # longer than the enumeration goes
            continue
        if ours[key] == "U":  # a link whose sign changes during the run (replacement vs. gap terms)
            continue
        assert ours[key] == str(loop.polarity).rstrip("ux"), loop.variables
        checked += 1
    assert checked >= 10


def test_loop_table_and_dominance(megacity):
    table = lp.loops_frame(megacity)
    assert list(table.columns[:4]) == ["loop", "name", "polarity", "length"]
    assert {"variables", "sectors"} <= set(table.columns)
    assert table["loop"].is_unique and set(table["polarity"]) <= {"R", "B", "U"}
    assert (table["length"] == table["variables"].str.count(" -> ")).all()
    dom, shares = lp.dominance_table(megacity)
    assert set(dom["output"]) == set(lp.OUTPUTS)
    assert (dom["start_year"] <= dom["end_year"]).all()
    assert dom["dominant_loops"].str.split().map(lambda ids: set(ids) <= set(table["loop"])).all()
    for label, frame in shares.items():  # renormalised shares of each output's loops
        total = frame.abs().sum(axis=1)
        assert np.allclose(total[total > 0], 1.0, atol=1e-9), label


def test_configured_model_equals_overrides():
    constants = {"capital loop switch": 0.0, "initial population": 2.0e7}
    edited = lp.configured_model(constants).run(analyze_loops=False).results
    import simlin

    plain = simlin.load(str(MODEL_PATH)).run(overrides={canonical(k): v for k, v in constants.items()},
                                             analyze_loops=False).results
    np.testing.assert_allclose(edited["co2_emissions"], plain["co2_emissions"], rtol=1e-12)
    with pytest.raises(UserInputError, match="an auxiliary, not a constant"):
        lp.configured_model({"GDP": 1.0})


def test_knockouts_cut_each_named_loop():
    table = lp.knockouts(None, engine="simlin")
    assert set(table["indicator"]) == set(lp.KNOCKOUT_INDICATORS)
    assert table["loop"].nunique() == len(NAMED_PATHS)
    capital = table[(table["loop"] == "capital accumulation") & (table["indicator"] == "cumulative CO2 2021-2060")]
    assert capital["change"].iloc[0] < 0  # less investment, less activity, less CO2


# ---------------------------------------------------------------- causal tracing


def test_explain_shows_declaration_trees_and_loops(megacity):
    text = lp.explain("capital", depth=2, analysis=megacity)
    assert "Capital  (stock, sector Economy)" in text
    assert "units:" in text and "equation:" in text and "Causes (depth 2" in text and "Uses (depth 2" in text
    assert "named 'capital accumulation'" in text
    assert "|-<+ investment" in text.replace("`-", "|-")
    shallow = lp.explain("capital", depth=0, analysis=megacity)
    assert "investment" not in shallow.split("Causes")[1].split("Uses")[0]


def test_explain_rejects_bad_input(megacity):
    with pytest.raises(UserInputError, match=r"unknown variable 'GDP per head'.*did you mean"):
        lp.explain("GDP per head", analysis=megacity)
    with pytest.raises(UserInputError, match="depth"):
        lp.explain("GDP", depth=-1, analysis=megacity)


def _main(argv):
    """``megacity-sd`` as a user calls it."""
    from megacity_sd.cli import main

    return main(argv)


@pytest.mark.parametrize("argv, words", [
    (["explain", "no such variable"], "unknown variable"),
    (["explain", "GDP", "--depth", "-1"], "--depth"),
    (["explain", "GDP", "--city", "atlantis"], "unknown city"),
    (["loops", "--scenario", "nothing"], "unknown scenario"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- sketch and diagrams


def test_sketch_rewrite_keeps_equations_views_and_engines(tmp_path):
    mdl = tmp_path / "toy.mdl"
    shutil.copy(TOY, mdl)
    layout.write_sketch(mdl)
    before, after = TOY.read_text(), mdl.read_text()
    mark = "\n" + SKETCH_MARK
    assert after[: after.index(mark)] == before[: before.index(mark)]
    old, new = model_doc(TOY), model_doc(mdl)
    assert {k: v.sector for k, v in old.items()} == {k: v.sector for k, v in new.items()}
    import simlin

    assert simlin.load(str(mdl)).check() == ()
    views = read_sketch(mdl)
    assert [v.name for v in views] == ["People", "Nature"]
    assert sum(e.kind == "valve" for v in views for e in v.elements) == 4
    first = mdl.read_text()
    layout.write_sketch(mdl)
    assert mdl.read_text() == first  # deterministic


def test_every_model_variable_is_drawn_in_one_view():
    seen = {}
    for view in read_sketch(MODEL_PATH):
        for e in view.elements:
            if e.key and e.kind != "shadow":
                assert seen.setdefault(e.key, view.name) == view.name, e.key
    doc = model_doc()
    assert {k for k, v in doc.items() if v.sector != "Control"} <= set(seen)


def test_diagrams_are_written(tmp_path, capsys):
    files = layout.write_diagrams(tmp_path, mdl_path=TOY, progress=True)
    assert sorted(f.name for f in files) == ["Nature.png", "People.png", "overview.png"]
    assert all(f.stat().st_size > 5000 for f in files)
    err = capsys.readouterr().err  # the command's progress bar: one tick per picture
    assert "diagrams" in err and "3/3" in err, err


def test_toy_pairs_are_the_only_cross_view_links():
    st = layout.model_structure(TOY)
    views = {v: set(m) for v, m in st.members.items()}
    cross = {(a, b) for (a, b) in st.links
             for va, vb in combinations(views, 2)
             if (a in views[va] and b in views[vb]) or (a in views[vb] and b in views[va])}
    assert cross == {("population", "consumption"), ("resource", "lifetime"),
                     ("initial_resource", "lifetime")}
