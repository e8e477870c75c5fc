"""Co-control coordinate system (megacity_sd.synergy and the ``synergy`` subcommand).

Tiers: analytic truth on hand-made points (sign conventions, zero rules,
interaction, ensemble ellipse); an independent reference (the model's own
``air pollutant equivalent`` against the module's aggregate); and behaviour
checks of the standard scenarios (labelled as such). Model runs use the
simlin engine.
"""

from __future__ import annotations

import re
import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from pandas.testing import assert_frame_equal

from megacity_sd.cli import app as cli
from megacity_sd.data import history
from megacity_sd.errors import UserInputError
from megacity_sd.scenario import DEFAULT_SCENARIOS, load_scenario
from megacity_sd.simulate import run_long
from megacity_sd.synergy import (
    APE,
    SYNERGY_COLUMNS,
    EnsembleCloud,
    cross_elasticity,
    elasticity,
    ensemble_cloud,
    history_changes,
    interaction,
    load_weights,
    model_changes,
    plot_coordinates,
    plot_ensemble,
    quadrant,
    read_measures,
    relative_change,
    synergy_table,
)
from tests.conftest import refused

# ------------------------------------------------------------------ helpers


def _synergy(*argv):
    """``megacity-sd synergy ARGV`` through the console entry point: the exit code."""
    return cli.main(["synergy", *map(str, argv)])


def _csv(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@cache
def _long():
    return run_long([load_scenario(s, city="shanghai") for s in DEFAULT_SCENARIOS], engine="simlin")


# one hand-made point in each quadrant, on each half-axis and at the origin: (x = dP/P, y = dC/C)
POINTS = [
    ("q1", 0.10, 0.20, "I", 0.5),
    ("q2", -0.10, 0.20, "II", -0.5),
    ("q3", -0.10, -0.20, "III", 0.5),
    ("q4", 0.10, -0.20, "IV", -0.5),
    ("x_pos", 0.10, 0.0, "x-axis", np.nan),
    ("x_neg", -0.10, 0.0, "x-axis", np.nan),
    ("y_pos", 0.0, 0.20, "y-axis", 0.0),
    ("y_neg", 0.0, -0.20, "y-axis", 0.0),
    ("origin", 0.0, 0.0, "origin", np.nan),
]


def _points_table(tmp_path):
    """A measures table whose points are POINTS (before 100 for SO2, 1000 for CO2)."""
    lines = ["measure,pollutant,before,after"]
    for name, x, y, *_ in POINTS:
        lines += [f"{name},SO2,100,{100 * (1 + x):.10g}", f"{name},CO2,1000,{1000 * (1 + y):.10g}"]
    return _csv(tmp_path, "points.csv", "\n".join(lines) + "\n")


# ------------------------------------------------------------------ tier 1: analytic


@pytest.mark.parametrize("name, x, y, quad, et", POINTS, ids=[p[0] for p in POINTS])
def test_sign_conventions_one_point_per_quadrant_and_axis(tmp_path, name, x, y, quad, et):
    assert quadrant(x, y) == quad
    tab = synergy_table(read_measures(_points_table(tmp_path)))
    row = tab[(tab["measure"] == name) & (tab["pollutant"] == "SO2")].iloc[0]
    assert_allclose(row["rel_change_pollutant"], x, rtol=1e-12, atol=1e-15)
    assert_allclose(row["rel_change_co2"], y, rtol=1e-12, atol=1e-15)
    assert row["quadrant"] == quad
    if np.isnan(et):
        assert np.isnan(row["elasticity"])
    else:
        assert_allclose(row["elasticity"], et, rtol=1e-12, atol=1e-15)


def test_zero_tolerance_is_a_keyword():
    assert quadrant(1e-12, -0.1) == "y-axis"
    assert quadrant(1e-12, -0.1, zero_tol=0.0) == "IV"
    assert quadrant(5e-4, -0.1, zero_tol=1e-3) == "y-axis"
    assert quadrant(-0.1, 5e-4, zero_tol=1e-3) == "x-axis"
    assert np.isnan(elasticity(-0.1, 5e-4, zero_tol=1e-3))
    assert_allclose(elasticity(-0.1, 5e-4, zero_tol=0.0), -200.0, rtol=1e-12)
    assert quadrant(np.nan, 0.1) is None


def test_relative_change_and_elasticity_never_inf():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero warning either
        r = relative_change([100.0, 0.0, 0.0, 50.0], [80.0, 0.0, 5.0, 50.0])
        e = elasticity([0.3, -0.2, 0.0], [0.0, 0.0, 0.0])
    assert_allclose(r[[0, 3]], [-0.2, 0.0], rtol=1e-12, atol=1e-15)
    assert np.isnan(r[1]) and np.isnan(r[2])
    assert np.isnan(e).all() and not np.isinf(e).any()


def test_zero_co2_change_is_empty_in_csv_and_on_the_x_axis(tmp_path):
    out = tmp_path / "out"
    assert _synergy("--table", _points_table(tmp_path), "--out", out, "--no-figures") == 0
    text = (out / "synergy.csv").read_text()
    assert "inf" not in text.lower() and "nan" not in text.lower()
    raw = pd.read_csv(out / "synergy.csv", dtype=str, keep_default_na=False)
    assert list(raw.columns) == SYNERGY_COLUMNS
    row = raw[(raw["measure"] == "x_neg") & (raw["pollutant"] == "SO2")].iloc[0]
    assert row["elasticity"] == "" and row["quadrant"] == "x-axis"
    assert row["city"] == "" and row["year"] == ""  # the table has neither
    cross = (out / "cross_elasticity.csv").read_text()
    assert "inf" not in cross.lower()


def test_zero_baseline_is_flagged_not_divided(tmp_path):
    p = _csv(tmp_path, "z.csv", "measure,pollutant,before,after\n"
             "a,SO2,0,5\na,NOx,10,8\na,CO2,100,90\nb,SO2,3,2\nb,CO2,0,0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tab = synergy_table(read_measures(p))
    a = tab[(tab["measure"] == "a") & (tab["pollutant"] == "SO2")].iloc[0]
    assert a["zero_baseline"] and np.isnan(a["rel_change_pollutant"]) and np.isnan(a["elasticity"])
    assert pd.isna(a["quadrant"]) and "zero baseline of SO2" in a["note"]
    nox = tab[(tab["measure"] == "a") & (tab["pollutant"] == "NOx")].iloc[0]
    assert not nox["zero_baseline"] and nox["quadrant"] == "III"
    b = tab[tab["measure"] == "b"].iloc[0]
    assert b["zero_baseline"] and np.isnan(b["rel_change_co2"]) and "zero baseline of CO2" in b["note"]


def test_weights_file_values_and_sources():
    w = load_weights().set_index("pollutant")
    assert_allclose(w.loc[["SO2", "NOx", "PM2.5"], "kg_per_equivalent"], [0.95, 0.95, 2.18], rtol=1e-12)
    assert w["source"].str.contains("Environmental Protection Tax Law").all()
    assert "verify" in w.loc["PM2.5", "source"]


def test_equivalent_uses_the_weights_given(tmp_path):
    table = _csv(tmp_path, "m.csv", "measure,pollutant,before,after\n"
                 "m,SO2,100,50\nm,NOx,100,100\nm,PM2.5,100,100\nm,CO2,10,9\n")
    w = _csv(tmp_path, "w.csv", "pollutant,kg_per_equivalent,source\nSO2,1,a\nNOx,1,b\nPM2.5,2,c\n")
    ape = synergy_table(read_measures(table, load_weights(w))).set_index("pollutant").loc[APE]
    assert_allclose(ape["rel_change_pollutant"], -50 / (100 + 100 + 50), rtol=1e-12)  # sum m_i / w_i
    w2 = _csv(tmp_path, "w2.csv", "pollutant,kg_per_equivalent,source\nSO2,1,a\nNOx,1,b\n")
    tab2 = synergy_table(read_measures(table, load_weights(w2))).set_index("pollutant")
    assert_allclose(tab2.loc[APE, "rel_change_pollutant"], -50 / 200, rtol=1e-12)


def test_cross_elasticity_pairs_and_reciprocity(tmp_path):
    p = _csv(tmp_path, "c.csv", "measure,pollutant,before,after\n"
             "m,CO2,100,80\nm,SO2,100,60\nm,NOx,100,100\nm,PM2.5,100,90\n")
    cr = cross_elasticity(read_measures(p)).set_index(["variable_a", "variable_b"])
    assert len(cr) == 12 and APE not in cr.index.get_level_values(0)
    assert_allclose(cr.loc[("SO2", "CO2"), "elasticity"], 2.0, rtol=1e-12)
    assert_allclose(cr.loc[("CO2", "SO2"), "elasticity"], 0.5, rtol=1e-12)
    assert np.isnan(cr.loc[("CO2", "NOx"), "elasticity"])  # NOx unchanged: undefined, not inf
    assert_allclose(cr.loc[("NOx", "CO2"), "elasticity"], 0.0, atol=1e-15)


def test_interaction_hand_made(tmp_path):
    p = _csv(tmp_path, "i.csv", "measure,pollutant,before,after\n"
             "a,CO2,100,90\nb,CO2,100,80\nboth,CO2,100,65\n"
             "a,SO2,50,40\nb,SO2,50,45\nboth,SO2,50,38\n"
             "a,NOx,20,18\nb,NOx,20,18\nboth,NOx,20,16.0001\n")
    inter = interaction(read_measures(p), combined="both", singles=("a", "b")).set_index("pollutant")
    assert_allclose(inter.loc["CO2", ["delta_combined", "sum_delta_single", "interaction"]].astype(float),
                    [-35.0, -30.0, -5.0], rtol=1e-12)
    assert_allclose(inter.loc["CO2", "rel_interaction"], -0.05, rtol=1e-12)
    assert_allclose(inter.loc["CO2", ["rel_delta_combined", "rel_sum_delta_single"]].astype(float), [-0.35, -0.30],
                    rtol=1e-12)  # (65 - 100) / 100 and (90 + 80 - 2 x 100) / 100
    assert inter.loc["CO2", "effect"] == "reinforcing"
    assert_allclose(inter.loc["SO2", "interaction"], 3.0, rtol=1e-12)
    assert inter.loc["SO2", "effect"] == "counteracting"
    assert inter.loc["NOx", "effect"] == "additive"
    bad = _csv(tmp_path, "bad.csv", "measure,pollutant,before,after\na,CO2,100,90\nb,CO2,99,80\nboth,CO2,100,65\n")
    with pytest.raises(UserInputError, match="common baseline"):
        interaction(read_measures(bad), combined="both", singles=("a", "b"))


# ------------------------------------------------------------------ ensembles


def _cloud_long(x, y, *, paired=False):
    """Long table: one baseline run (or one per run) and runs of 'policy' at the given (x, y)."""
    rows = []
    n = len(x)
    base = {"CO2 scope 1 and 2": 1000.0, "SO2 emissions": 500.0, "NOx emissions": 300.0, "primary PM25 emissions": 80.0}
    for var, level in base.items():
        for r in range(n if paired else 1):
            rows.append(("c", "baseline", var, "t/Year", 2035, level, r))
    for r in range(n):
        scen = dict(base, **{"CO2 scope 1 and 2": 1000.0 * (1 + y[r]), "SO2 emissions": 500.0 * (1 + x[r])})
        rows += [("c", "policy", var, "t/Year", 2035, v, r) for var, v in scen.items()]
    return pd.DataFrame(rows, columns=["city", "scenario", "variable", "unit", "year", "value", "run"])


def test_ensemble_cloud_recovers_known_covariance():
    from scipy.stats import chi2

    rng = np.random.default_rng(20240601)
    mean = np.array([-0.20, -0.10])
    cov = np.array([[4.0e-3, 1.5e-3], [1.5e-3, 2.0e-3]])
    xy = rng.multivariate_normal(mean, cov, size=4000)
    cloud = ensemble_cloud(_cloud_long(xy[:, 0], xy[:, 1]), scenario="policy", pollutant="SO2", year=2035)
    assert len(cloud.points) == 4000
    assert (np.abs(cloud.mean - mean) <= 4 * np.sqrt(np.diag(cov) / 4000)).all()  # within 4 standard errors
    assert_allclose(cloud.cov, cov, rtol=0.1, atol=1e-4)
    assert_allclose(cloud.chi2, chi2.ppf(0.95, 2), rtol=1e-12)
    inside = cloud.contains(xy).mean()
    assert abs(inside - 0.95) < 0.015
    assert cloud.quadrant_shares()["III"] > 0.9
    ell = cloud.ellipse()
    assert ell.shape == (181, 2)
    # boundary points lie at squared Mahalanobis distance chi2
    d = ell - cloud.mean
    assert_allclose(np.einsum("ij,jk,ik->i", d, np.linalg.inv(cloud.cov), d), cloud.chi2, rtol=1e-9)


def test_ellipse_axes_analytic_and_paired_runs():
    c = EnsembleCloud(points=pd.DataFrame(), mean=np.zeros(2), cov=np.diag([4.0, 1.0]), level=0.95,
                      scenario="s", pollutant="SO2", year=2035)
    major, minor, angle = c.semi_axes()
    assert_allclose([major, minor], [2 * np.sqrt(c.chi2), np.sqrt(c.chi2)], rtol=1e-12)
    assert_allclose(abs(np.cos(np.radians(angle))), 1.0, rtol=1e-12)
    x = np.array([-0.1, -0.2, -0.3, -0.15])
    cloud = ensemble_cloud(_cloud_long(x, x / 2, paired=True), scenario="policy", pollutant="SO2", year=2035)
    assert_allclose(cloud.points["elasticity"], 2.0, rtol=1e-9)
    with pytest.raises(UserInputError, match="year"):
        ensemble_cloud(_cloud_long(x, x / 2), scenario="policy", pollutant="SO2", year=2040)
    with pytest.raises(UserInputError, match="run"):
        ensemble_cloud(_cloud_long(x, x / 2).drop(columns="run"), scenario="policy")
    # a covariance needs three points: three runs are enough, two are refused
    assert len(ensemble_cloud(_cloud_long(x[:3], x[:3] / 2), scenario="policy", pollutant="SO2").points) == 3
    with pytest.raises(UserInputError, match="2 run"):
        ensemble_cloud(_cloud_long(x[:2], x[:2] / 2), scenario="policy", pollutant="SO2")


def test_plot_functions_return_axes():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(1)
    xy = rng.multivariate_normal([-0.2, -0.1], [[4e-3, 1e-3], [1e-3, 2e-3]], size=200)
    cloud = ensemble_cloud(_cloud_long(xy[:, 0], xy[:, 1]), scenario="policy", pollutant="SO2", year=2035)
    fig, (a1, a2) = plt.subplots(1, 2)
    assert plot_ensemble(cloud, a1) is a1
    tab = synergy_table(model_changes(_cloud_long(xy[:1, 0], xy[:1, 1]).drop(columns="run")))
    assert plot_coordinates(tab, a2, pollutant="SO2") is a2
    with pytest.raises(UserInputError, match="duplicate rows"):
        model_changes(_cloud_long(xy[:5, 0], xy[:5, 1]).drop(columns="run"))
    plt.close(fig)


# ------------------------------------------------------------------ tier 2: independent reference (the model)


def test_equivalent_matches_the_models_own_aggregate():
    """The module's APE with the shipped weights equals the model's 'air pollutant equivalent'."""
    long = _long()
    ch = model_changes(long)
    ape = ch[(ch["pollutant"] == APE) & (ch["measure"] == "combined")].set_index("year")
    model = long[(long["variable"] == "air pollutant equivalent")].pivot(index="year", columns="scenario",
                                                                          values="value")
    assert (ape["unit"] == "equivalent/Year").all()
    assert_allclose(ape["after"], model.loc[ape.index, "combined"], rtol=1e-9)
    assert_allclose(ape["before"], model.loc[ape.index, "baseline"], rtol=1e-9)


def test_cross_elasticity_is_the_ratio_of_relative_changes_read_from_the_runs():
    """Independent reference: (A_after / A_before - 1) / (B_after / B_before - 1) computed here from the model
    variables of the runs (scope 1+2 CO2, SO2, NOx, primary PM2.5), for every ordered pair, measure and year; the
    synergy table's ET is the row with B = CO2."""
    long = _long()
    wide = long.pivot_table(index=["scenario", "year"], columns="variable", values="value")
    names = {"CO2": "CO2 scope 1 and 2", "SO2": "SO2 emissions", "NOx": "NOx emissions",
             "PM2.5": "primary PM25 emissions"}
    ch = model_changes(long)
    ch = ch[ch["year"].isin([2030, 2060])]
    cr = cross_elasticity(ch).set_index(["measure", "variable_a", "variable_b", "year"])
    tab = synergy_table(ch).set_index(["measure", "pollutant", "year"])
    n = 0
    for (measure, a, b, year), row in cr.iterrows():
        rel = {k: wide.at[(measure, year), v] / wide.at[("baseline", year), v] - 1 for k, v in names.items()}
        assert row["elasticity"] == pytest.approx(rel[a] / rel[b], rel=1e-9), (measure, a, b, year)
        if b == "CO2":
            assert tab.at[(measure, a, year), "elasticity"] == pytest.approx(rel[a] / rel["CO2"], rel=1e-9)
        n += 1
    assert n == len(set(ch["measure"])) * 2 * 4 * 3


# ------------------------------------------------------------------ behaviour of the standard scenarios


def test_model_cli_outputs_and_scenario_behaviour(tmp_path, capsys):
    """Behaviour check (not a reference): the packages are synergistic, end-of-pipe trades CO2 for air."""
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert _synergy("--city", "shanghai", "--engine", "simlin", "--year", "2030", "--year", "2035",
                    "--out", out, "--figures", figs) == 0
    tab = pd.read_csv(out / "synergy.csv")
    assert list(tab.columns) == SYNERGY_COLUMNS
    assert set(tab["measure"]) == set(DEFAULT_SCENARIOS) - {"baseline"}
    assert set(tab["pollutant"]) == {"SO2", "NOx", "PM2.5", APE} and set(tab["year"]) == {2030, 2035}
    assert set(tab["quadrant"].dropna()) <= {"I", "II", "III", "IV", "x-axis", "y-axis", "origin"}
    assert (tab["pollutant_basis"] == "emissions").all() and not tab["zero_baseline"].any()
    t35 = tab[tab["year"] == 2035].set_index(["measure", "pollutant"])
    assert (t35.loc["energy_structure", "quadrant"] == "III").all()
    assert (t35.loc["combined", "quadrant"] == "III").all()
    assert t35.loc[("end_of_pipe", APE), "quadrant"] == "II"
    inter = pd.read_csv(out / "interaction.csv")
    assert set(inter["pollutant"]) == {"CO2", "SO2", "NOx", "PM2.5", APE}
    assert_allclose(inter["interaction"], inter["delta_combined"] - inter["sum_delta_single"], rtol=1e-9, atol=1e-6)
    cross = pd.read_csv(out / "cross_elasticity.csv")
    assert len(cross) == (len(DEFAULT_SCENARIOS) - 1) * 2 * 12
    assert {p.name for p in figs.iterdir()} == {"shanghai_synergy.png", "shanghai_synergy_interaction.png"}
    assert not list(out.glob(".*")) and not list(figs.glob(".*"))  # no temporary files left
    assert "Co-control points in 2035" in capsys.readouterr().out


@pytest.mark.slow
def test_model_cli_scope_1_does_not_overwrite_the_scope_1_and_2_outputs(tmp_path, capsys):
    """Distinct outputs get distinct names: ``--scope 1`` into the folders of a default run adds ``_scope1`` files
    (CO2 of territorial emissions, a different y axis) and leaves the scope 1+2 ones as they were."""
    out, figs = tmp_path / "out", tmp_path / "figs"
    common = ("--city", "shanghai", "--engine", "simlin", "--year", "2035", "--scenario", "baseline",
              "--scenario", "energy_structure", "--scenario", "transport", "--scenario", "combined",
              "--combined", "combined", "--single", "energy_structure", "--single", "transport",
              "--out", out, "--figures", figs)
    assert _synergy(*common) == 0
    total = pd.read_csv(out / "synergy.csv")
    assert _synergy(*common, "--scope", "1") == 0
    assert_frame_equal(pd.read_csv(out / "synergy.csv"), total)
    scope1 = pd.read_csv(out / "synergy_scope1.csv")
    co2 = ["measure", "pollutant", "year"]
    # the same air pollutants, another CO2: relative changes of CO2 differ, so the elasticities do
    assert_frame_equal(scope1[co2], total[co2])
    assert not np.allclose(scope1["rel_change_co2"], total["rel_change_co2"])
    assert {p.name for p in out.iterdir()} == {"synergy.csv", "cross_elasticity.csv", "interaction.csv",
                                               "synergy_scope1.csv", "cross_elasticity_scope1.csv",
                                               "interaction_scope1.csv"}
    assert {p.name for p in figs.iterdir()} == {"shanghai_synergy.png", "shanghai_synergy_interaction.png",
                                                "shanghai_synergy_scope1.png",
                                                "shanghai_synergy_scope1_interaction.png"}
    capsys.readouterr()


def test_table_cli_with_years_and_interaction(tmp_path):
    p = _csv(tmp_path, "mine.csv", "measure,pollutant,before,after,year,city\n"
             "a,CO2,100,90,2030,x\nb,CO2,100,80,2030,x\nab,CO2,100,65,2030,x\n"
             "a,SO2,50,40,2030,x\nb,SO2,50,45,2030,x\nab,SO2,50,38,2030,x\n")
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert _synergy("--table", p, "--combined", "ab", "--single", "a", "--single", "b",
                    "--out", out, "--figures", figs) == 0
    tab = pd.read_csv(out / "synergy.csv")
    assert set(tab["city"]) == {"x"} and set(tab["year"]) == {2030} and set(tab["pollutant"]) == {"SO2"}
    inter = pd.read_csv(out / "interaction.csv").set_index("pollutant")
    assert_allclose(inter.loc["CO2", "interaction"], -5.0, rtol=1e-12)
    assert {f.name for f in figs.iterdir()} == {"mine_synergy.png", "mine_synergy_interaction.png"}


def test_history_uses_concentrations_and_says_so():
    ch = history_changes(((2012, 2015),), cities=["shanghai"])
    tab = synergy_table(ch).set_index("pollutant")
    assert (tab["pollutant_basis"] == "concentration").all() and (tab["measure"] == "2012-2015").all()
    assert (tab["year"] == 2015).all()
    h = history("shanghai").set_index(["variable", "year"])["value"]
    assert_allclose(tab.loc["SO2", "rel_change_pollutant"],
                    h[("so2_conc", 2015)] / h[("so2_conc", 2012)] - 1, rtol=1e-12)
    assert_allclose(tab.loc["SO2", "rel_change_co2"], h[("co2", 2015)] / h[("co2", 2012)] - 1, rtol=1e-12)
    no2 = tab.loc["NO2"]
    if np.isclose(h[("no2_conc", 2015)], h[("no2_conc", 2012)], rtol=0, atol=1e-12):  # 46 -> 46 on file
        assert no2["quadrant"] == "y-axis" and abs(no2["elasticity"]) < 1e-15
    assert np.isnan(tab.loc["PM2.5", "rel_change_pollutant"]) and "no pm25" in tab.loc["PM2.5", "note"]


def test_history_pm25_comes_from_the_bulletins_where_history_csv_lacks_it(tmp_path):
    """``synergy --history`` has PM2.5 for every city over 2014-2017 although history.csv holds 2014 for none of
    them: the bulletins (pm25_bulletins.csv, read here directly) fill the gap, and agree where both hold a year."""
    import megacity_sd.data as d

    bul = pd.read_csv(d.DATA_DIR / "pm25_bulletins.csv").set_index(["city", "year"])["value"]
    hist = pd.read_csv(d.DATA_DIR / "history.csv")
    hist = hist[hist["variable"] == "pm25"].set_index(["city", "year"])["value"]
    both = hist.index.intersection(bul.index)
    assert len(both) >= 10
    assert_allclose(hist[both], bul[both], rtol=0, atol=0)
    assert not any((c, 2014) in hist.index for c in ("beijing", "tianjin", "guangzhou"))
    out = tmp_path / "out"
    assert _synergy("--history", "--periods", "2014-2017", "--out", out, "--no-figures") == 0
    tab = pd.read_csv(out / "synergy.csv")
    pm = tab[tab["pollutant"] == "PM2.5"].set_index("city")
    assert set(pm.index) == {"beijing", "tianjin", "shanghai", "guangzhou", "shenzhen"}
    for city in pm.index:
        assert_allclose(pm.loc[city, "rel_change_pollutant"], bul[(city, 2017)] / bul[(city, 2014)] - 1, rtol=1e-12)
    obs = d.observed(variable="pm25")
    assert not obs.duplicated(["city", "year"]).any()
    assert obs["source"].str.contains("Bulletin").any() and obs["source"].notna().all()


def test_history_cli(tmp_path):
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert _synergy("--history", "--city", "beijing", "--periods", "2010-2013,2013-2017",
                    "--out", out, "--figures", figs) == 0
    tab = pd.read_csv(out / "synergy.csv")
    assert set(tab["measure"]) == {"2010-2013", "2013-2017"} and set(tab["city"]) == {"beijing"}
    assert tab.loc[tab["pollutant"] != "PM2.5", "quadrant"].notna().all()
    assert (figs / "beijing_synergy_history.png").is_file()


# ------------------------------------------------------------------ bad input: one line, nothing written

BAD_TABLES = {
    "missing column": ("measure,pollutant,before\nm,CO2,1\n", ["'after'", "required: measure, pollutant"]),
    "negative": ("measure,pollutant,before,after\nm,CO2,10,9\nm,SO2,5,-1\n", ["column 'after'", "line 3",
                                                                              "negative", "allowed"]),
    "not a number": ("measure,pollutant,before,after\nm,CO2,ten,9\n", ["column 'before'", "not a number"]),
    "no CO2": ("measure,pollutant,before,after\nm,SO2,5,4\n", ["no CO2 row"]),
    "duplicate": ("measure,pollutant,before,after\nm,CO2,5,4\nm,co2,5,4\n", ["second row"]),
    "unknown column": ("measure,pollutant,before,after,colour\nm,CO2,5,4,red\n", ["unknown column", "colour"]),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables(tmp_path, capsys, case):
    text, words = BAD_TABLES[case]
    p = _csv(tmp_path, "bad.csv", text)
    msg = refused(capsys, ["synergy", "--table", p, "--out", tmp_path / "out", "--figures", tmp_path / "f"])
    assert "\n" not in msg and str(p) in msg
    for w in words:
        assert w in msg
    assert not (tmp_path / "out").exists() and not (tmp_path / "f").exists()


@pytest.mark.parametrize("argv, words", [
    (["--year", "2070"], ["--year 2070", "allowed: 2005-2060"]),
    (["--year", "20x0"], ["--year", "allowed"]),
    (["--figure-year", "1990"], ["--figure-year 1990", "allowed: 2005-2060"]),
    (["--scenario", "nope"], ["unknown scenario 'nope'"]),
    (["--combined", "nope"], ["measure 'nope'", "allowed"]),
    (["--measure", "m"], ["--measure", "only with --table"]),
    (["--history", "--periods", "2015"], ["--periods", "START-END"]),
    (["--history", "--periods", "1990-2000"], ["no CO2 or air-quality data for 1990"]),
    (["--history", "--city", "paris"], ["'paris'", "allowed: beijing"]),
    (["--zero-tol", "-1"], ["--zero-tol", ">= 0"]),
])
def test_bad_options(tmp_path, capsys, argv, words):
    msg = refused(capsys, ["synergy", *argv, "--engine", "simlin", "--out", tmp_path / "out",
                           "--figures", tmp_path / "f"])
    assert "\n" not in msg
    for w in words:
        assert w in msg
    assert not (tmp_path / "out").exists()


def test_bad_measure_year_and_weights_in_table_mode(tmp_path, capsys):
    p = _csv(tmp_path, "t.csv", "measure,pollutant,before,after,year\nm,CO2,10,9,2030\nm,SO2,5,4,2030\n")
    w = _csv(tmp_path, "w.csv", "pollutant,kg_per_equivalent,source\nSO2,-1,x\n")
    w2 = _csv(tmp_path, "w2.csv", "pollutant,kg_per_equivalent,source\nCO,16.7,law\n")
    for argv, pattern in [
        (["--table", p, "--measure", "x"], r"column 'measure': no measure 'x'; allowed: m"),
        (["--table", p, "--year", "2031"], r"--year 2031: not a year of .*t.csv; allowed: 2030"),
        (["--table", p, "--weights", w], r"w.csv: column 'kg_per_equivalent', line 2: .* allowed: a number > 0"),
        (["--weights", w2], r"w2.csv: column 'pollutant': 'CO' is not a model pollutant"),
        (["--table", tmp_path / "nope.csv"], r"nope.csv: file not found"),
    ]:
        line = refused(capsys, ["synergy", *argv, "--out", tmp_path / "o"])
        assert re.search(pattern, line), (pattern, line)
    assert not (tmp_path / "o").exists()


def test_main_cli_turns_bad_input_into_one_line_and_exit_2(tmp_path, capsys):
    """Through megacity_sd.cli.main, as the console script runs it."""
    p = _csv(tmp_path, "neg.csv", "measure,pollutant,before,after\nm,CO2,10,9\nm,SO2,5,-1\n")
    code = cli.main(["synergy", "--table", str(p), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "negative" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
