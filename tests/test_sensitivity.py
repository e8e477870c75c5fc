"""Sensitivity and uncertainty analysis.

Tier 1 (analytic): SALib's Ishigami function through our problem mapping and
Sobol wrapper (Ishigami and Homma 1990; indices from Sobol' and Levitan 1999,
as in SALib's tests); distribution quantiles against scipy.stats.
Tier 3 (seeded regression, detects CHANGE, not correctness): Sobol indices of
the model, Shanghai baseline without its calibrated parameter set, N=32,
seed 7, engine fast, against
``reference/sobol_shanghai_baseline_n32_seed7.csv``, written by
``python -m tests.test_sensitivity --write`` (SALib 1.6.0, scipy 1.17.1, PySD
3.14.3 translation). Regenerate it when the model, the uncertainty file or
SALib's sampler changes on purpose, and say why in the commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from megacity_sd.errors import UserInputError
from megacity_sd.model import canonical, model_doc
from megacity_sd.scenario import list_cities, load_scenario
from megacity_sd.sensitivity import (
    RunOptions,
    Uncertainty,
    UncertaintySet,
    apply_calibration,
    load_uncertainty,
    sobol,
    sobol_table,
)

REF = Path(__file__).parent / "reference" / "sobol_shanghai_baseline_n32_seed7.csv"


def _ishigami_set() -> UncertaintySet:
    pi = float(np.pi)
    return UncertaintySet("ishigami", "Ishigami", tuple(Uncertainty(f"x{i}", "uniform", -pi, pi, 0.0)
                                                        for i in (1, 2, 3)))


def test_ishigami_sobol_through_our_wrapper():
    from SALib.test_functions import Ishigami

    unc = _ishigami_set()
    sp = unc.problem(outputs=["Y"])
    sp.sample_sobol(2048, calc_second_order=False, seed=101)
    table = sobol_table(sp, Ishigami.evaluate(sp.samples)[:, None], ["Y"], seed=101)
    # analytic values for a = 7, b = 0.1
    assert_allclose(table["S1"], [0.3139, 0.4424, 0.0], atol=0.03)
    assert_allclose(table["ST"], [0.5576, 0.4424, 0.2437], atol=0.03)
    assert (table["S1_conf"] > 0).all() and (table["ST_conf"] > 0).all()
    assert list(table.columns) == ["indicator", "parameter", "S1", "S1_conf", "ST", "ST_conf"]


def test_distributions_map_onto_salib_as_scipy_defines_them():
    from scipy import stats

    q = np.linspace(0.0, 1.0, 11)
    tri = Uncertainty("a", "triangular", 1.0, 3.0, 2.0, mode=1.5)
    assert_allclose(tri.ppf(q), stats.triang.ppf(q, c=0.25, loc=1.0, scale=2.0), rtol=1e-12)
    tn = Uncertainty("b", "truncnorm", 0.35, 0.55, 0.45, mean=0.45, sd=0.05)
    assert_allclose(tn.ppf(q), stats.truncnorm.ppf(q, -2.0, 2.0, loc=0.45, scale=0.05), rtol=1e-12)
    un = Uncertainty("c", "uniform", 2.0, 4.0, 3.0)
    assert_allclose(un.ppf(q), 2.0 + 2.0 * q, rtol=1e-15)
    assert tri.salib() == ("triang", [1.0, 3.0, 0.25])
    assert tn.salib() == ("truncnorm", [0.35, 0.55, 0.45, 0.05])


@pytest.mark.parametrize("city", list_cities())
def test_uncertainty_file_fits_every_city(city):
    doc = model_doc()
    unc = load_uncertainty(scenario=load_scenario("baseline", city=city))
    assert len(unc.parameters) >= 10
    for p in unc.parameters:
        var = doc[canonical(p.name)]
        lo, hi = var.limits
        assert lo <= p.lower < p.upper <= hi, p.name
        assert p.lower <= p.nominal <= p.upper, f"{city}: {p.name} nominal {p.nominal} outside its range"
        assert var.sector != "Policy" and p.source
    origin = unc.table()["origin"]
    assert (origin.isin(["file", "model range"]) | origin.str.startswith("calibration")).all()
    spec = unc.problem()
    spec.sample_latin(8, seed=1)  # SALib accepts every range and distribution
    assert np.isfinite(spec.samples).all()


def test_calibration_intervals_replace_ranges(tmp_path):
    unc = load_uncertainty(scenario=load_scenario("baseline"))
    cal = apply_calibration(unc, {"capital elasticity": (0.42, 0.50), "rebound elasticity": (0.2, 0.4),
                                  "birth rate reference": (0.006, 0.008)},
                            estimates={"capital elasticity": 0.46, "rebound elasticity": 0.3})
    by = {p.name: p for p in cal.parameters}
    ce = by["capital elasticity"]  # truncnorm: mean = estimate, sd from the 95 % interval, +-3 sd
    assert ce.mean == pytest.approx(0.46, rel=1e-15)
    assert ce.sd == pytest.approx(0.04 / 1.959963984540054, rel=1e-12)
    assert_allclose([ce.lower, ce.upper], [0.46 - 3 * ce.sd, 0.46 + 3 * ce.sd], rtol=1e-12)
    assert (by["rebound elasticity"].lower, by["rebound elasticity"].upper) == (0.2, 0.4)
    assert by["rebound elasticity"].origin == "calibration"
    assert "birth rate reference" not in by  # calibrated but not uncertain: not made uncertain
    assert by["PV learning rate"] == {p.name: p for p in unc.parameters}["PV learning rate"]
    # the calibrated file format of megacity-sd calibrate (scenario schema with 'ci')
    f = tmp_path / "city.yaml"
    f.write_text("name: shanghai\nconstants:\n  rebound elasticity: {value: 0.35, source: fit, ci: [0.3, 0.45]}\n",
                 encoding="utf-8")
    unc2 = load_uncertainty(scenario=load_scenario("baseline"), calibration=f)
    p = {q.name: q for q in unc2.parameters}["rebound elasticity"]
    assert (p.lower, p.upper, p.nominal) == (0.3, 0.45, 0.35) and unc2.files[-1] == f


BAD = [
    ("name: x\nparameters: [\n", "malformed YAML"),
    ("name: x\nparameters: []\nparams: []\n", "params"),
    ("name: x\nparameters:\n  - {name: no such thing, source: s}\n  - {name: birth rate reference, source: s}\n",
     "not a model constant"),
    ("name: x\nparameters:\n  - {name: NEV sales target, source: s}\n  - {name: birth rate reference, source: s}\n",
     "policy constant"),
    ("name: x\nparameters:\n  - {name: birth rate reference, bounds: [0, 0.5], source: s}\n"
     "  - {name: death rate reference, source: s}\n", "outside the model's range"),
    ("name: x\nparameters:\n  - {name: birth rate reference, distribution: triangular, mode: 0.05, bounds: [0, 0.01], "
     "source: s}\n  - {name: death rate reference, source: s}\n", "mode"),
    ("name: x\nparameters:\n  - {name: birth rate reference, distribution: truncnorm, source: s}\n"
     "  - {name: death rate reference, source: s}\n", "sd > 0"),
    ("name: x\nparameters:\n  - {name: birth rate reference, bounds: [0, 0.01], relative: 0.1, source: s}\n"
     "  - {name: death rate reference, source: s}\n", "not both"),
    ("name: x\nparameters:\n  - {name: birth rate reference, distribution: lognormal, source: s}\n"
     "  - {name: death rate reference, source: s}\n", "distribution"),
    ("name: x\nparameters:\n  - {name: birth rate reference, source: s}\n  - {name: Birth_Rate_Reference, source: s}\n",
     "listed twice"),
    ("name: x\nparameters:\n  - {name: birth rate reference, source: s}\n", "at least two"),
]


@pytest.mark.parametrize("text, words", BAD)
def test_bad_uncertainty_files_give_one_clear_line(tmp_path, text, words):
    f = tmp_path / "u.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(UserInputError, match=words) as err:
        load_uncertainty(f)
    assert "\n" not in str(err.value) and str(f) in str(err.value)


def _regression_table() -> pd.DataFrame:
    scen = load_scenario("baseline", calibrated=False)  # independent of the calibrated parameter sets
    unc = load_uncertainty(scenario=scen, calibration=False)
    table, _, _ = sobol(unc, scen, n=32, seed=7, yearly=False, opts=RunOptions(workers=0))
    return table


def test_seeded_regression_of_sobol_indices():
    ref = pd.read_csv(REF)
    cur = _regression_table()
    assert list(cur.columns) == list(ref.columns)
    assert cur[["indicator", "parameter"]].equals(ref[["indicator", "parameter"]])
    for col in ("S1", "S1_conf", "ST", "ST_conf"):
        assert_allclose(cur[col].to_numpy(), ref[col].to_numpy(), rtol=1e-8, atol=1e-10, equal_nan=True,
                        err_msg=col)


# ----------------------------------------------------------------------------- command line


def _main(argv: list[str]) -> int:
    """``megacity-sd`` as a user calls it."""
    from megacity_sd.cli import main

    return main(argv)


@pytest.mark.slow
def test_cli_methods_write_tables_and_figures(tmp_path, capsys):
    out, figs = tmp_path / "out", tmp_path / "figs"
    common = ["--workers", "0", "--no-progress", "--out", str(out), "--figures", str(figs)]
    assert _main(["sensitivity", "--method", "sobol", "--n", "16", *common]) == 0
    sob = pd.read_csv(out / "sobol.csv")
    assert list(sob.columns) == ["indicator", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert set(sob["indicator"]) >= {"cumulative CO2 2021-2060", "CO2 peak year", "CO2 in 2060", "PM2.5 in 2035",
                                     "air pollutant equivalent in 2035"}
    yearly = pd.read_csv(out / "sobol_yearly.csv")
    assert set(yearly["variable"]) == {"CO2 scope 1 and 2", "PM25", "Population"}
    assert set(yearly["year"]) == set(range(2005, 2061))
    batches = sorted((out / "ensembles").rglob("batch-*.npz"))
    stamps = [p.stat().st_mtime_ns for p in batches]
    assert _main(["sensitivity", "--method", "sobol", "--n", "16", *common, "--no-figures"]) == 0  # resumes
    assert [p.stat().st_mtime_ns for p in batches] == stamps
    assert_allclose(pd.read_csv(out / "sobol.csv")["ST"], sob["ST"], rtol=0, atol=0, equal_nan=True)
    assert _main(["sensitivity", "--method", "oat", *common]) == 0
    oat = pd.read_csv(out / "oat.csv")
    assert set(oat["level"]) == {0, 1} and oat["parameter"].nunique() == len(pd.read_csv(out / "uncertainty.csv"))
    assert _main(["sensitivity", "--method", "morris", "--n", "4", *common]) == 0
    assert list(pd.read_csv(out / "morris.csv").columns) == ["indicator", "unit", "parameter", "mu", "mu_star",
                                                             "sigma", "mu_star_conf"]
    assert _main(["sensitivity", "--method", "mc", "--n", "20", "--scenario", "baseline", "--scenario",
                  "combined", *common]) == 0
    mc = pd.read_csv(out / "mc.csv")
    assert set(mc["scenario"]) == {"baseline", "combined"}
    assert (mc["p05"] <= mc["p50"]).all() and (mc["p50"] <= mc["p95"]).all()
    names = sorted(p.name for p in figs.glob("*.png"))
    assert names == sorted(["shanghai_baseline_sobol.png", "shanghai_baseline_sobol_years.png",
                            "shanghai_baseline_tornado.png", "shanghai_baseline_morris.png",
                            "shanghai_mc_co2.png", "shanghai_mc_pm25.png", "shanghai_mc_population.png"])
    assert not list(out.glob(".*")) and not list(figs.glob(".*"))
    assert "Sobol total indices" in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["--method", "fast"], "--method"),
    (["--method", "sobol", "--n", "10"], "power of two"),
    (["--method", "sobol", "--n", "24"], "power of two"),
    (["--method", "mc", "--n", "5"], "at least 20"),
    (["--method", "morris", "--n", "2"], "at least 4"),
    (["--method", "oat", "--scenario", "nowhere"], "unknown scenario"),
    (["--method", "sobol", "--scenario", "baseline", "--scenario", "combined"], "one scenario"),
    (["--method", "oat", "--engine", "vensim"], "--engine"),
    (["--method", "oat", "--time-step", "0.3"], "--time-step"),
    (["--method", "oat", "--uncertainty", "missing.yaml"], "file not found"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, args, words):
    out = tmp_path / "out"
    assert _main(["sensitivity", *args, "--workers", "0", "--out", str(out), "--figures", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert not out.exists()


if __name__ == "__main__" and "--write" in sys.argv:
    _regression_table().to_csv(REF, index=False, float_format="%.17g")
    print(f"wrote {REF}")
