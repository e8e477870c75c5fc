"""Targets, scenario discovery (PRIM), least-effort search, robustness and the EMA Workbench adapter.

Tiers: analytic (PRIM recovers a known box; the least-effort search finds
answers known in closed form, on test functions and on the model's NEV
mandate), independent reference (the targets' indicators against the model
run read by hand; the EMA adapter against ``megacity-sd run``), seeded
regression (the three commands end to end on small samples), and bad input
(one line, exit 2, nothing written).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from megacity_sd.cli.app import main
from megacity_sd.discover import Lever, box_in_words, levers, prim_boxes
from megacity_sd.errors import UserInputError
from megacity_sd.model import canonical, model_doc
from megacity_sd.robust import least_effort
from megacity_sd.scenario import load_scenario
from megacity_sd.targets import list_targets, load_targets, margins, parse_condition

warnings.simplefilter("ignore")


def cli(argv: list[str]) -> int:
    """The three subcommands through the console entry point: exit code (bad input -> 2, one line on stderr)."""
    return main([str(a) for a in argv])


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- analytic: PRIM and seek


def test_prim_recovers_a_box_of_two_levers_within_5_percent(tmp_path):
    """An indicator meets its target exactly inside a box of two levers; PRIM finds the box's edges."""
    rng = np.random.default_rng(7)
    n = 4000
    x = pd.DataFrame({"a target": rng.uniform(0, 1, n), "b target": rng.uniform(2000, 12000, n),
                      **{f"noise {k} target": rng.uniform(0, 1, n) for k in range(5)}})
    inside = (x["a target"] >= 0.55) & (x["b target"] <= 5500)
    # the indicator goes through the targets machinery: PM2.5 in 2035 is 20 inside the box, 30 outside
    years = np.arange(2005, 2061)
    pm = np.where(inside.to_numpy()[:, None], 20.0, 30.0) * np.ones((n, len(years)))
    targets = load_targets(write(tmp_path, "t.yaml", "name: t\ntargets:\n  - condition: PM2.5 in 2035 <= 25\n"))
    from megacity_sd.targets import evaluate

    _, met = evaluate(targets, years, {"PM25": pm})
    assert met["all targets"].equals(inside.rename("all targets"))
    ranges = {"a target": (0.0, 1.0), "b target": (2000.0, 12000.0), **{f"noise {k} target": (0.0, 1.0)
                                                                       for k in range(5)}}
    boxes, found = prim_boxes(x, met["all targets"].to_numpy(), ranges=ranges)
    assert set(boxes["parameter"]) == {"a target", "b target"}
    a = boxes.set_index("parameter").loc["a target"]
    b = boxes.set_index("parameter").loc["b target"]
    assert abs(a["low"] - 0.55) <= 0.05 * 1.0 and a["high"] == 1.0
    assert abs(b["high"] - 5500) <= 0.05 * 10000 and b["low"] == 2000.0
    assert a["density"] >= 0.9 and a["coverage"] >= 0.9
    words = box_in_words(boxes, 1, ranges)
    assert "a target ≥ 0.5" in words and "b target ≤ 5" in words and "of runs in this box meet the targets" in words


def test_seek_finds_closed_form_optima():
    """min sum(w * effort) subject to a + 2b >= 1.2 (normalised) and c >= 0.5 (c on [0.2, 2])."""
    lv = [Lever("a target", 0.0, 1.0, "dmnl"), Lever("b target", 0.0, 1.0, "dmnl"), Lever("c target", 0.2, 2.0, "dmnl")]

    def f(v):
        return np.column_stack([1.2 - (v[:, 0] + 2 * v[:, 1]), 0.5 - v[:, 2]])

    r = least_effort(lv, f)
    assert r.met
    assert r.values == pytest.approx([0.0, 0.6, 0.5], abs=1e-3)
    assert r.total == pytest.approx(0.6 + 0.3 / 1.8, rel=1e-3)
    r = least_effort(lv, f, weights=[1, 3, 1])  # b three times dearer: a at its maximum, then b = 0.1
    assert r.values == pytest.approx([1.0, 0.1, 0.5], abs=1e-3)
    r = least_effort(lv, lambda v: np.column_stack([3.5 - (v[:, 0] + 2 * v[:, 1])]))  # beyond every lever
    assert not r.met and "no setting meets every target" in r.message


@pytest.mark.slow
def test_seek_on_the_model_finds_the_nev_mandate_in_closed_form(tmp_path, capsys):
    """NEV share of car sales in 2025 >= 50 %: the mandate is path + (T - path) * (2025 - 2021) / 10 with the
    baseline path at 0.3 by 2025 (Shanghai), so the least target is T = 0.3 + 0.2 / 0.4 = 0.8; the file written
    runs through load_scenario and run() and meets the target."""
    base = load_scenario("baseline", city="shanghai")
    assert base.constants.get("NEV sales baseline target", 0.3) == pytest.approx(0.3, rel=1e-12)
    t = write(tmp_path, "nev.yaml", "name: nev\ncity: shanghai\ntargets:\n  - condition: "
                                    "NEV share of car sales in 2025 >= 50%\n")
    code = cli(["seek", "--city", "shanghai", "--targets", str(t), "--lever", "NEV sales", "--lever", "carbon price",
                "--weight", "carbon price=1", "--out", str(tmp_path / "out"), "--no-figures"])
    assert code == 0
    seek = pd.read_csv(tmp_path / "out" / "seek.csv").set_index("lever")
    assert seek.at["NEV sales target", "value"] == pytest.approx(0.8, abs=2e-3)
    assert seek.at["carbon price target", "effort"] == pytest.approx(0.0, abs=1e-6)
    scen = load_scenario(str(tmp_path / "out" / "least_effort_nev.yaml"), city="shanghai")
    assert scen.constants["NEV sales target"] == pytest.approx(0.8, abs=2e-3)
    assert "meets every target" in capsys.readouterr().out


@pytest.mark.slow
def test_seek_on_a_less_or_equal_target_finds_the_setting_that_gave_its_bound():
    """A '<=' target with a known answer: CO2 in 2035 of Shanghai's baseline with the NEV mandate at 0.8 is the
    bound (rounded up at 1e-6 Mt); CO2 falls as the mandate rises, so the least effort meeting it is 0.8 again
    (a flipped margin sign for '<=' would call the baseline, mandate 0.21, already met)."""
    import megacity_sd as ms
    from megacity_sd.discover import lever_by_name, levers
    from megacity_sd.robust import model_margins
    from megacity_sd.targets import Target, TargetSet

    base = load_scenario("baseline", city="shanghai")
    nev = lever_by_name(levers(base.constants), "NEV sales")
    bound = ms.run({**base.constants, nev.name: 0.8}).loc[2035, "CO2 scope 1 and 2"] * 1e-6
    cond = f"CO2 in 2035 <= {np.ceil(bound * 1e6) / 1e6:.6f}"
    targets = TargetSet("t", "t", [Target(cond, parse_condition(cond))])
    assert model_margins(targets, base.constants, [nev])(np.array([[nev.low]]))[0, 0] > 0  # missed at baseline
    r = least_effort([nev], model_margins(targets, base.constants, [nev]))
    assert r.met and r.values[0] == pytest.approx(0.8, abs=2e-3)


# ----------------------------------------------------------------------------- targets


def test_conditions_parse_into_their_parts():
    c = parse_condition("CO2 in 2060 <= 10% of CO2 in 2019")
    assert (c.left.name, c.op, c.factor, c.right.name) == ("CO2 in 2060", "<=", pytest.approx(0.1), "CO2 in 2019")
    c = parse_condition("co2 intensity in 2030 ≤ 0.3 * CO2 intensity in 2005")
    assert (c.left.variable, c.op, c.factor) == ("carbon intensity of GDP", "<=", pytest.approx(0.3))
    c = parse_condition("CO2 peak year < 2025")
    assert (c.left.name, c.op, c.constant) == ("CO2 peak year", "<", 2025)
    c = parse_condition("NEV share of car sales in 2025 > 50%")
    assert (c.left.unit, c.constant) == ("%", 50)
    c = parse_condition("year CO2 below 50% of 2019 <= 2040")  # a '% of' inside an indicator's name
    assert c.left.reduction == "first_below" and c.constant == 2040


def _one(cond: str):
    from megacity_sd.targets import Target, TargetSet

    return TargetSet("t", "t", [Target(cond, parse_condition(cond))])


@pytest.mark.parametrize("cond, pm, want", [
    ("PM2.5 in 2035 < 25", 25.0, False), ("PM2.5 in 2035 <= 25", 25.0, True),
    ("PM2.5 in 2035 > 25", 25.0, False), ("PM2.5 in 2035 >= 25", 25.0, True),
    ("PM2.5 in 2035 < 25", np.nextafter(25.0, 0), True), ("PM2.5 in 2035 > 25", np.nextafter(25.0, 99), True),
    ("NEV share of car sales in 2025 > 50%", 0.5, False), ("NEV share of car sales in 2025 >= 50%", 0.5, True),
])
def test_a_value_exactly_on_a_bound_meets_only_a_non_strict_condition(cond, pm, want):
    """Strict < and > are strict: on the bound itself only <= and >= are met, in evaluate, margins and check."""
    from megacity_sd.targets import check, evaluate

    years = np.arange(2005, 2061)
    series = {"PM25": np.full((1, years.size), pm), "NEV share of sales": np.full((1, years.size), pm)}
    ts = _one(cond)
    _, met = evaluate(ts, years, series)
    assert bool(met.iloc[0, 0]) is want
    assert bool(margins(ts, years, series)[0, 0] <= 0) == want
    assert check(ts, years, {k: v[0] for k, v in series.items()})[0]["status"] == ("met" if want else "missed")


def test_margins_are_the_relative_shortfall_and_exact_for_peak_years():
    """Margins computed by hand: (value - bound)/|bound| for caps, (bound - value)/|bound| for floors, and for
    'peak year <= Y' the later peak over the earlier one, minus 1; on random series, so both signs occur."""
    rng = np.random.default_rng(3)
    years = np.arange(2005, 2061)
    n = 400
    co2 = 100 * np.exp(np.cumsum(rng.normal(0, 0.1, (n, len(years))), axis=1))
    gdp = np.exp(np.linspace(0, 2, len(years))) * np.ones((n, 1))
    pm = rng.uniform(10, 40, (n, len(years)))
    series = {"CO2 scope 1 and 2": co2 * 1e6, "carbon intensity of GDP": co2 / gdp, "PM25": pm}
    at = {y: i for i, y in enumerate(years)}
    ci = 1e4 * co2 / gdp
    by_hand = {
        "PM2.5 in 2035 < 25": (pm[:, at[2035]] - 25) / 25,
        "PM2.5 in 2035 >= 25": (25 - pm[:, at[2035]]) / 25,
        "CO2 in 2060 <= 99% of CO2 in 2019": (co2[:, at[2060]] - 0.99 * co2[:, at[2019]]) / (0.99 * co2[:, at[2019]]),
        "CO2 intensity in 2030 >= 0.5 * CO2 intensity in 2005":
            (0.5 * ci[:, at[2005]] - ci[:, at[2030]]) / (0.5 * ci[:, at[2005]]),
        "CO2 peak year <= 2030": co2[:, at[2031]:].max(axis=1) / co2[:, at[2020]:at[2031]].max(axis=1) - 1,
    }
    for cond, want in by_hand.items():
        m = margins(_one(cond), years, series)[:, 0]
        assert 0.1 < (want <= 0).mean() < 0.9, cond  # both met and missed runs
        np.testing.assert_allclose(m, want, rtol=1e-9, atol=1e-12, err_msg=cond)


def test_margins_agree_with_met_on_every_kind_of_condition():
    """The margin is <= 0 exactly where the condition is met, ties included (flat runs), for year conditions."""
    from megacity_sd.targets import evaluate

    rng = np.random.default_rng(3)
    years = np.arange(2005, 2061)
    n = 400
    co2 = 100 * np.exp(np.cumsum(rng.normal(0, 0.1, (n, len(years))), axis=1))
    co2[:5] = co2[:5, :1]  # flat runs: ties, a peak year at the first maximum
    series = {"CO2 scope 1 and 2": co2 * 1e6}
    for cond in ("CO2 peak year <= 2030", "CO2 peak year < 2031", "CO2 peak year > 2040",
                 "year CO2 below 50% of 2019 <= 2045", "CO2 peak year <= 2060"):
        ts = _one(cond)
        _, met = evaluate(ts, years, series)
        m = margins(ts, years, series)[:, 0]
        assert ((m <= 0) == met[cond].to_numpy()).all(), cond
        assert 0 < met[cond].mean() < 1 or cond == "CO2 peak year <= 2060", cond
    # the flat runs peak in 2020, the first year of the projection window
    _, met = evaluate(_one("CO2 peak year <= 2020"), years, series)
    assert met.iloc[:5, 0].all()


def test_indicators_of_targets_equal_the_run_read_by_hand():
    """Independent reference: the targets' indicators against the run's columns, computed with pandas."""
    from megacity_sd.simulate import run
    from megacity_sd.targets import evaluate

    wide = run(load_scenario("city_plans", city="shanghai"))
    ts = load_targets("shanghai_plan")
    values, met = evaluate(ts, wide.index.to_numpy(), {v: wide[v].to_numpy()[None, :] for v in ts.variables()})
    v = values.iloc[0]
    s12 = wide["CO2 scope 1 and 2"]
    assert v["CO2 peak year"] == s12.loc[2020:2060].idxmax()
    assert v["CO2 intensity in 2030"] == pytest.approx(1e4 * s12[2030] / wide["GDP"][2030], rel=1e-9)
    assert v["energy intensity in 2025"] == pytest.approx(1e4 * wide["total primary energy"][2025]
                                                          / wide["GDP"][2025], rel=1e-12)
    assert v["coal share of primary energy in 2025"] == pytest.approx(
        100 * wide["primary coal"][2025] / wide["total primary energy"][2025], rel=1e-12)
    assert v["NEV share of car sales in 2025"] == pytest.approx(100 * wide["NEV share of sales"][2025], rel=1e-12)
    assert met.at[0, "neutrality by 2060"] == bool(s12[2060] <= 0.1 * s12[2019])


def test_shipped_target_files_load_and_cite_sources():
    names = list_targets()
    assert {"shanghai_plan", "beijing_plan", "national", "co_control"} <= set(names)
    for name in names:
        ts = load_targets(name)
        assert ts.targets and all(t.source for t in ts.targets), name
        if name.endswith("_plan"):
            assert ts.city == name[: -len("_plan")]
            assert any("plan_targets.csv" in t.source for t in ts.targets), name


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("condition, words", [
    ("CO2 in 2060", ["no comparison", "allowed"]),
    ("CO2 in 2060 <= 3 <= 4", ["2 comparisons"]),
    ("CO2 in 2060 == 3", ["operator '=='", "not allowed"]),
    ("CO2 in 2060 <=", ["a side is empty"]),
    ("CO2 in 2099 <= 3", ["year 2099", "2005-2060"]),
    ("CO2 emisions in 2030 <= 3", ["unknown indicator", "did you mean"]),
    ("__import__('os').system('echo x') < 1", ["unknown indicator"]),
    ("PM2.5 in 2035 <= 25%", ["percentage", "ug/m3"]),
    ("NEV share of car sales in 2025 >= 0.5", ["share in %", "50%"]),
    ("CO2 in 2060 <= 10% of PM2.5 in 2035", ["compares Mt CO2/yr with ug/m3"]),
    ("CO2 peak year <= 50% of CO2 in 2019", ["year indicator"]),
    ("CO2 in 2060 <= 1e400", ["not a finite number"]),
])
def test_malformed_conditions_give_one_line(tmp_path, condition, words):
    path = write(tmp_path, "t.yaml", f"name: t\ntargets:\n  - condition: \"{condition}\"\n")
    with pytest.raises(UserInputError) as err:
        load_targets(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "targets.0.condition" in msg, msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("text, words", [
    ("name: t\n", ["key 'targets'", "required"]),
    ("name: t\ntargets: []\n", ["non-empty list"]),
    ("name: t\ntargets:\n  - name: x\n", ["condition'", "required"]),
    ("name: t\ntarget:\n  - CO2 peak year < 2030\n", ["key 'target'", "not allowed"]),
    ("name: t\ntargets:\n  - {condition: CO2 peak year < 2030, sauce: x}\n", ["sauce", "not allowed"]),
    ("name: t\ntargets:\n  - {name: a, condition: CO2 peak year < 2030}\n  - {name: a, condition: PM2.5 in 2035 < 9}\n",
     ["'a' given twice"]),
    ("name: t\ncity: beijing\ntargets:\n  - CO2 peak year < 2030\n", ["beijing's, not shanghai's", "--city beijing"]),
    ("name: [t\n", ["malformed YAML"]),
])
def test_bad_target_files_give_one_line(tmp_path, text, words):
    path = write(tmp_path, "t.yaml", text)
    with pytest.raises(UserInputError) as err:
        load_targets(path, city="shanghai")
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("argv, words", [
    (["discover", "--targets", "no_such_targets"], ["unknown target file", "allowed"]),
    (["discover", "--targets", "shanghai_plan", "--city", "beijing"], ["shanghai's, not beijing's"]),
    (["discover", "--targets", "national", "--city", "atlantis"], ["unknown city"]),
    (["discover", "--targets", "national", "--n", "5"], ["--n 5", "100-1000000"]),
    (["discover", "--targets", "national", "--uncertainty", "x.yaml"], ["only with --uncertain"]),
    (["seek", "--targets", "national", "--weight", "coal exit"], ["not LEVER=W"]),
    (["seek", "--targets", "national", "--weight", "coal exits=2"], ["not a lever", "did you mean"]),
    (["seek", "--targets", "national", "--weight", "coal exit=-1"], ["not allowed", ">= 0"]),
    (["seek", "--targets", "national", "--lever", "warp drive"], ["not a lever"]),
    (["seek", "--targets", "national", "--pareto", "--nfe", "10"], ["--nfe 10", "500-200000"]),
    (["robust", "--targets", "national", "--scenario", "nope"], ["unknown scenario"]),
    (["robust", "--targets", "national", "--threshold", "1.5"], ["--threshold", "out of range"]),
])
def test_bad_command_lines_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, argv, words):
    out = tmp_path / "out"
    code = cli([*argv, "--out", str(out), "--figures", str(tmp_path / "fig")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)
    assert not out.exists() and not (tmp_path / "fig").exists()


# ----------------------------------------------------------------------------- the EMA adapter


def test_ema_adapter_runs_perform_experiments_and_matches_megacity_sd_run(tmp_path):
    """EMA's perform_experiments on the adapter (EMA's own sequential evaluator and the batch evaluator agree),
    and one policy's indicators equal those of `megacity-sd run --scenario FILE` with the same levers to 1e-9."""
    from ema_workbench import Policy, SequentialEvaluator, perform_experiments

    from megacity_sd.cli import main
    from megacity_sd.robust import BatchEvaluator, ema_model

    model = ema_model("shanghai", uncertain=False, targets=load_targets("national"))
    names = {p.name for p in model.levers}
    assert "coal exit target" in names and len(names) == 29
    at_baseline = {p.name: p.lower_bound for p in model.levers}  # the baseline level: no new policy
    setting = {"coal exit target": 0.9, "NEV sales target": 0.7, "carbon price target": 350.0,
               "regional grid target": 0.5}
    policy = Policy("p", **{**at_baseline, **setting})
    policies = [policy, Policy("q", **{**at_baseline, "carbon price target": 900.0})]
    ex_seq, out_seq = perform_experiments(model, policies=policies, evaluator=SequentialEvaluator(model))
    with BatchEvaluator(model) as ev:
        ex_b, out_b = ev.perform_experiments(policies=policies)
    for k in out_seq:
        np.testing.assert_allclose(out_b[k], out_seq[k], rtol=1e-9, atol=0)
    # the same setting through `megacity-sd run`
    lines = ["name: ema_check", "constants:"]
    lines += [f"  {k}: {v!r}" for k, v in setting.items()]
    scen = write(tmp_path, "ema_check.yaml", "\n".join(lines) + "\n")
    assert main(["run", "--city", "shanghai", "--scenario", str(scen), "--out", str(tmp_path / "run"),
                 "--no-figures"]) == 0
    ind = pd.read_csv(tmp_path / "run" / "indicators.csv")
    ind = ind[ind["scenario"] == "ema_check"].set_index("indicator")["value"]
    i = int(np.flatnonzero(ex_seq["policy"].astype(str).to_numpy() == "p")[0])
    for name in ("CO2 in 2030", "CO2 in 2060", "PM2.5 in 2035", "cumulative CO2 2021-2060", "CO2 peak year"):
        assert out_seq[name][i] == pytest.approx(ind[name], rel=1e-9, abs=0), name


def test_ema_adapter_samples_uncertainties_and_levers():
    from megacity_sd.robust import BatchEvaluator, ema_model

    model = ema_model("beijing", uncertain=True)
    assert len(model.uncertainties) >= 10
    with BatchEvaluator(model) as ev:
        ex, out = ev.perform_experiments(scenarios=6, policies=2)
    assert len(ex) == 12 and np.isfinite(out["CO2 in 2060"]).all()
    assert len(np.unique(np.round(out["CO2 in 2060"], 9))) > 6  # every experiment is its own run


# ----------------------------------------------------------------------------- seeded regression: the commands


@pytest.mark.slow
def test_discover_command_writes_boxes_and_figures(tmp_path, capsys):
    out, fig = tmp_path / "out", tmp_path / "fig"
    t = write(tmp_path, "t.yaml", "name: deep\ntargets:\n  - condition: CO2 in 2060 <= 20% of CO2 in 2019\n"
                                  "  - condition: PM2.5 in 2035 <= 17\n")
    argv = ["discover", "--city", "shanghai", "--targets", str(t), "--n", "400", "--workers", "0",
            "--no-progress", "--out", str(out), "--figures", str(fig)]
    assert cli(argv) == 0
    text = capsys.readouterr().out
    boxes = pd.read_csv(out / "boxes.csv")
    assert list(boxes.columns) == ["box", "parameter", "low", "high", "coverage", "density", "mass", "qp_value"]
    runs = pd.read_csv(out / "discover_runs.csv")
    assert len(runs) == 400 and "meets: all targets" in runs
    shares = pd.read_csv(out / "targets_met.csv").set_index("target")["share_met"]
    assert shares["all targets"] == pytest.approx(runs["meets: all targets"].mean(), rel=1e-12)
    # seeded regression (seed 1, Shanghai, calibrated): 190 of 400 runs meet both; the box is on the regional grid
    # and clean transport fuels, at least 1.5 times as dense as the whole sample (0.73 against 0.475)
    assert shares["all targets"] == pytest.approx(0.475, abs=0.01)
    assert {"regional grid target", "clean transport fuel target"} <= set(boxes["parameter"])
    assert (boxes["density"] >= 1.5 * shares["all targets"]).all() and (boxes["coverage"] >= 0.5).all()
    assert "Box 1: " in text and "regional grid target ≥ 0." in text and "of runs in this box meet" in text
    assert {p.name for p in fig.iterdir()} == {"shanghai_deep_prim_tradeoff.png", "shanghai_deep_prim_box.png",
                                               "shanghai_deep_feature_scores.png"}
    lv = {x.name: x for x in levers(load_scenario("baseline", city="shanghai").constants)}
    for col, x in lv.items():  # every lever sampled within [baseline level, maximum]
        assert runs[col].min() >= x.low and runs[col].max() <= x.high
    feats = pd.read_csv(out / "feature_scores.csv")
    for _, g in feats.groupby("target"):
        assert g["score"].sum() == pytest.approx(1.0, rel=1e-6)
    # the same command resumes the stored ensemble and gives the same table
    assert cli(argv) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "discover_runs.csv"), runs)


def test_robust_command_shares_and_regret(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli(["robust", "--city", "shanghai", "--targets", "national", "--scenario", "baseline", "--scenario",
                "neutrality", "--n", "12", "--workers", "0", "--no-progress", "--out", str(out), "--no-figures"]) == 0
    t = pd.read_csv(out / "robust.csv")
    allt = t[t["target"] == "all targets"].set_index("package")
    assert not allt.at["baseline", "robust"]  # the baseline's CO2 keeps rising: no peak by 2030
    assert t["share_met"].between(0, 1).all() and (t["regret_max"] >= 0).all()
    runs = pd.read_csv(out / "robust_runs.csv")
    best = runs.groupby(["future", "target"])["regret"].min()
    assert (best.abs() < 1e-12).all()  # in every future, some package has no regret
    assert len(pd.read_csv(out / "futures.csv")) == 12
    assert "Robust packages:" in capsys.readouterr().out


def test_discover_with_uncertainties_samples_them_within_their_ranges():
    from megacity_sd.discover import RunOptions, discover
    from megacity_sd.sensitivity import load_uncertainty

    ts = load_targets("national")
    d = discover("beijing", ts, n=200, uncertain=True, opts=RunOptions(workers=0), features=False)
    unc = load_uncertainty(scenario=load_scenario("baseline", city="beijing"))
    assert len(d.params.columns) == len(levers(load_scenario("baseline", city="beijing").constants)) + len(unc.names)
    for p in unc.parameters:
        col = d.params[p.name]
        assert col.min() >= p.lower - 1e-12 and col.max() <= p.upper + 1e-12 and col.std() > 0, p.name
    assert set(d.met.columns) == {*ts.names, "all targets"} and len(d.values) == 200


def test_the_readme_target_example_loads(tmp_path):
    """The target file shown in the README is accepted as written."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(name: my_targets\n.*?)```", readme, re.S)
    assert block, "README lost its target-file example"
    f = tmp_path / "my_targets.yaml"
    f.write_text(block.group(1), encoding="utf-8")
    ts = load_targets(f)
    assert ts.names == ["peak by 2030", "neutrality by 2060"]


# ----------------------------------------------------------------------------- Pareto front (EMA's search)


def test_non_dominated_on_a_known_set():
    """Analytic: (1,3), (2,2), (3,1) trade off; (2,3) and (3,3) are beaten; a duplicate of a front point stays."""
    from megacity_sd.robust.pareto import non_dominated

    pts = np.array([[1, 3], [2, 2], [3, 1], [2, 3], [3, 3], [2, 2]], dtype=float)
    assert non_dominated(pts).tolist() == [True, True, True, False, False, True]


@pytest.mark.slow
def test_pareto_front_meets_the_targets_starts_at_the_seeded_least_effort_and_matches_run(tmp_path):
    """The NEV mandate again (least effort: NEV sales target 0.8 alone, effort 0.8/0.7 of its range from 0.3):
    seeded with it, the constrained front's lowest effort is within two epsilons of it (Platypus keeps one setting
    per epsilon box; a random start gives about 1.8 here, checked); every member meets the
    target, none beats another on both objectives, and a member's CO2 in 2060 equals megacity-sd's run to 1e-9."""
    from megacity_sd.robust.pareto import non_dominated, pareto_front
    from megacity_sd.simulate import run

    t = load_targets(write(tmp_path, "nev.yaml", "name: nev\ncity: shanghai\ntargets:\n  - condition: "
                                                 "NEV share of car sales in 2025 >= 50%\n"))
    res = pareto_front("shanghai", t, nfe=600, seed=3, seeds=[{"NEV sales target": 0.81}],
                       objectives={"effort": 0.05, "CO2 in 2060": 2.0})
    tab = res.table
    assert len(tab) >= 3 and (tab["targets met"] == 1).all()
    assert non_dominated(tab[["effort", "CO2 in 2060"]].to_numpy()).all()
    nev = next(lv for lv in levers(load_scenario("baseline", city="shanghai").constants)
               if lv.name == "NEV sales target")
    seeded_effort = float(nev.effort(0.81))
    # below 0.8 the 2025 share is under 50 %, so no member of the front can cost less than that
    assert float(nev.effort(0.8)) <= tab["effort"].min() <= seeded_effort + 2 * 0.05
    row = tab.iloc[len(tab) // 2]
    scen = load_scenario("baseline", city="shanghai")
    wide = run({**scen.constants, **{k: float(row[k]) for k in res.levers}})
    assert float(wide.loc[2060, "CO2 scope 1 and 2"]) / 1e6 == pytest.approx(row["CO2 in 2060"], rel=1e-9)


# ----------------------------------------------------------------------------- the lever rule


@pytest.mark.parametrize("city", ["shanghai", "tianjin"])
def test_baseline_level_is_the_lowest_of_the_path_written_by_hand(city):
    """Independent reference: the baseline path init + (target - init) * clip((t - start) / phase, 0, 1) written
    here from the model's equations, its lowest value from the lever's start year on, against the model run that
    megacity_sd.levers reads (the `<lever> baseline path` variable)."""
    from megacity_sd.levers import baseline_levels

    base = load_scenario("baseline", city=city).constants
    doc = model_doc()

    def value(name):
        return base.get(doc[canonical(name)].name, doc[canonical(name)].value)

    lows = baseline_levels(base)
    assert len(lows) >= 20
    years = np.arange(2005, 2061)
    for target, low in lows.items():
        stem = target[: -len(" target")]
        init, aim, start, phase = (value(f"{stem} {k}") for k in ("initial value", "baseline target",
                                                                  "baseline start year", "baseline phase in time"))
        path = init + (aim - init) * np.clip((years - start) / phase, 0, 1)
        assert low == pytest.approx(path[years >= value(f"{stem} start year")].min(), rel=1e-9, abs=1e-12), target


def test_one_lever_rule_for_scenarios_explorer_and_discover(capsys):
    """`megacity-sd scenarios` lists, the explorer offers and discover samples the same levers."""
    from megacity_sd.explore import lever_families as explorer_families
    from megacity_sd.levers import is_lever, lever_families

    assert main(["scenarios"]) == 0
    text = capsys.readouterr().out.split("Scenario levers", 1)[1].splitlines()[1:]
    listed = {line[2:46].strip() for line in text if line.startswith("  ")}
    names = {v.name for v in model_doc().values() if is_lever(v)}
    assert listed == names and len(names) >= 60
    assert explorer_families is lever_families
    assert {lv["name"] for f in lever_families() for lv in f["levers"]} == names
    sampled = {lv.name for lv in levers(load_scenario("baseline", city="beijing").constants)}
    targets = {lv["name"] for f in lever_families() for lv in f["levers"] if lv["role"] == "target"}
    assert sampled <= targets and len(sampled) >= 20
