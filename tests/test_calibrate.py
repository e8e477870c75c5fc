"""Calibration: statistics against hand computation, recovery of known parameters, data, bad input.

Tiers (see STYLE.md): the statistics are checked against values computed by hand on a
four-point example (analytic, tight); the optimiser against parameters that generated the
data it fits (model-generated data with seeded noise, tolerance from the noise); the derived
GDP series against its own inputs (arithmetic, tight).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from megacity_sd.calibrate import (
    FIT_COLUMNS,
    Simulator,
    calibrate,
    calibration_series,
    fit_statistics,
    load_config,
    observations,
    payoff,
    simulated_at,
)
from megacity_sd.cli import main
from megacity_sd.data import history
from megacity_sd.errors import UserInputError
from megacity_sd.model import canonical
from megacity_sd.scenario import load_scenario

from .conftest import run_cli_expecting_bad_input

SERIES_BLOCK = """
windows: {in_sample: [2005, 2015], holdout: [2016, 2019]}
optimiser: {starts: 3, seed: 7, confidence: 0.95}
series:
  population: {model: Population, table: history, sigma: 0.01}
  population_census: {model: Population, table: history, sigma: 0.01, time_offset: -0.1667}
  gdp: {model: GDP, table: calibration_series, sigma: 0.03}
  co2: {model: CO2 emissions, table: history, sigma: 0.05}
  co2_coal_share: {model: coal share of CO2, table: history, sigma: 0.02, error: absolute}
  pm25: {model: PM25, table: history, sigma: 0.1, role: report}
"""


def _config(tmp_path, cities: str, name: str = "cal.yaml"):
    path = tmp_path / name
    path.write_text(SERIES_BLOCK + "cities:\n" + cities, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- statistics (analytic tier)


def test_statistics_match_hand_computed_values():
    s = [1.0, 2.0, 3.0, 4.0]
    a = [1.5, 2.0, 2.5, 5.0]
    st = fit_statistics(s, a)
    # by hand: errors -0.5, 0, 0.5, -1; |e|/A = 1/3, 0, 1/5, 1/5; MSE = 1.5/4
    # means 2.5 and 2.75; variances (over n) 1.25 and 1.8125; covariance 1.375
    mse = 0.375
    sd_s, sd_a = math.sqrt(1.25), math.sqrt(1.8125)
    r = 1.375 / (sd_s * sd_a)
    assert st["n"] == 4
    np.testing.assert_allclose(st["mape"], 100 * (1 / 3 + 0 + 1 / 5 + 1 / 5) / 4, rtol=1e-12)
    np.testing.assert_allclose(st["mse"], mse, rtol=1e-12)
    np.testing.assert_allclose(st["r2"], 121 / 145, rtol=1e-12)  # 1.375**2 / (1.25 * 1.8125)
    np.testing.assert_allclose(st["theil_um"], 0.25**2 / mse, rtol=1e-12)
    np.testing.assert_allclose(st["theil_us"], (sd_s - sd_a) ** 2 / mse, rtol=1e-12)
    np.testing.assert_allclose(st["theil_uc"], 2 * (1 - r) * sd_s * sd_a / mse, rtol=1e-12)
    np.testing.assert_allclose(st["theil_um"] + st["theil_us"] + st["theil_uc"], 1.0, rtol=1e-12)
    # rounded values of the same hand computation
    np.testing.assert_allclose([st["mape"], st["theil_us"], st["theil_uc"]], [18.3333, 0.138937, 0.694396],
                               rtol=1e-5)


def test_pure_bias_and_pure_scale_errors():
    a = np.array([10.0, 12.0, 15.0, 11.0, 14.0])
    bias = fit_statistics(a + 2.0, a)  # all error is bias
    np.testing.assert_allclose([bias["theil_um"], bias["theil_us"], bias["theil_uc"], bias["r2"]],
                               [1.0, 0.0, 0.0, 1.0], atol=1e-12)
    centre = a.mean() + 1.5 * (a - a.mean())  # same mean, amplified: all error is unequal variation
    scale = fit_statistics(centre, a)
    np.testing.assert_allclose([scale["theil_um"], scale["theil_us"], scale["theil_uc"]], [0.0, 1.0, 0.0],
                               atol=1e-12)


def test_statistics_need_three_points_for_r2_and_theil():
    st = fit_statistics([1.0, 2.0], [1.1, 2.2])
    assert st["n"] == 2 and not math.isnan(st["mape"])
    assert all(math.isnan(st[k]) for k in ("r2", "theil_um", "theil_us", "theil_uc"))
    assert fit_statistics([], [])["n"] == 0


# --------------------------------------------------------------------------- data


def test_constant_price_gdp_is_current_gdp_over_the_national_deflator():
    nat = calibration_series("china")
    wide = nat.pivot(index="year", columns="variable", values="value")
    ratio = wide["gdp_national_current"] / wide["gdp_national_constant"]
    np.testing.assert_allclose(wide["gdp_deflator"], ratio / ratio.loc[2005], rtol=0, atol=1e-6)
    assert wide.loc[2005, "gdp_deflator"] == pytest.approx(1.0, abs=1e-12)
    for city, last in (("shanghai", 2019), ("beijing", 2017), ("tianjin", 2017), ("shenzhen", 2019),
                       ("guangzhou", 2017)):
        gdp = calibration_series(city, "gdp").set_index("year")["value"]
        if city == "guangzhou":  # one point: the China City Statistical Yearbook 2018 value of 2017
            assert list(gdp.index) == [2017]
            np.testing.assert_allclose(gdp[2017], 2150.31516e9 / wide.loc[2017, "gdp_deflator"], rtol=1e-6)
            continue
        cur = history(city, "gdp_current").set_index("year")["value"]
        assert gdp.index.min() == 2005 and gdp.index.max() == last  # one vintage only: no 2017->2018 break
        np.testing.assert_allclose(gdp, cur.loc[gdp.index] / wide.loc[gdp.index, "gdp_deflator"], rtol=1e-6)
    # the 2019 values the projections start from: the latest vintage, deflated the same way
    rep = calibration_series(variable="gdp_reported_2019").set_index("city")["value"]
    assert set(rep.index) == {"shanghai", "beijing", "tianjin", "guangzhou", "shenzhen"}
    for city in ("shanghai", "beijing", "tianjin", "shenzhen"):
        cur = history(city, "gdp_current").set_index("year")["value"]
        np.testing.assert_allclose(rep[city], cur[2019] / wide.loc[2019, "gdp_deflator"], rtol=1e-9)
    assert calibration_series()["source"].str.len().min() > 40


def test_shipped_configuration_is_valid_and_inside_model_ranges(doc):
    cfg = load_config()
    assert set(cfg.cities) == {"shanghai", "beijing", "tianjin", "guangzhou", "shenzhen"}
    for city, (series, params) in cfg.cities.items():
        obs = observations(city, cfg)
        assert set(obs["series"]) == set(series)
        base = load_scenario("baseline", city=city, calibrated=False).constants
        for p in params:
            var = doc[canonical(p.name)]
            lo, hi = var.limits
            assert lo <= p.low < p.high <= hi, (city, p.name)
            assert p.low <= base.get(p.name, var.value) <= p.high, (city, p.name)


# --------------------------------------------------------------------------- optimiser (model-generated data)


def test_calibration_recovers_known_parameters_from_model_generated_data(tmp_path):
    path = _config(tmp_path, """
  shanghai:
    series: [population, gdp, co2, co2_coal_share]
    parameters:
      normal in migration rate: [0.03, 0.12]
      productivity convergence rate: [0.01, 0.06]
      autonomous efficiency rate: [0.01, 0.06]
      coal exit baseline phase in time: [3, 30]
""")
    cfg = load_config(path)
    truth = {"normal in migration rate": 0.085, "productivity convergence rate": 0.035,
             "autonomous efficiency rate": 0.025,
             "coal exit baseline phase in time": 8.0}
    obs = observations("shanghai", cfg)
    base = load_scenario("baseline", city="shanghai", calibrated=False).constants
    sim = Simulator(obs["model"].unique(), base=base).run(truth)
    exact = np.array([np.interp(t, sim.index, sim[m]) for t, m in zip(obs["time"], obs["model"], strict=True)])
    rng = np.random.default_rng(20261128)
    noise = rng.normal(0.0, 0.005, len(obs))  # 0.5 % relative noise; 0.5 points on the coal share
    absolute = (obs["error"] == "absolute").to_numpy()
    obs = obs.assign(value=np.where(absolute, exact + noise, exact * (1.0 + noise)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = calibrate("shanghai", cfg, obs=obs)
    est = res.parameters.set_index("parameter")
    for name, value in truth.items():
        row = est.loc[name]
        assert row["ci_low"] <= value <= row["ci_high"], (name, value, row.to_dict())
        assert abs(row["value"] - value) <= 3 * row["std_error"], (name, value, row.to_dict())
    # the three well-identified ones to 2 % of the width of their bounds; the coal exit pace is seen
    # in only four fitted years (2012-2015) and is checked by its interval alone
    for name in ("normal in migration rate", "productivity convergence rate", "autonomous efficiency rate"):
        row = est.loc[name]
        assert abs(row["value"] - truth[name]) <= 0.02 * (row["high"] - row["low"]), (name, row["value"])
    assert res.payoff < res.payoff_initial
    # the residuals are about the declared noise: sigma is 1 % and 5 % against 0.5 % noise, so < 1
    assert res.residual_scale < 1.0
    stats = res.statistics.set_index(["variable", "period"])
    for series in ("population", "gdp", "co2"):
        assert stats.loc[(series, "in_sample"), "mape"] < 1.0  # noise 0.5 %: mean |noise| 0.4 %
        assert stats.loc[(series, "holdout"), "mape"] < 3.0  # extrapolation of the coal exit pace


def test_payoff_is_zero_on_the_data_the_model_made():
    cfg = load_config()
    obs = observations("shanghai", cfg)
    base = load_scenario("baseline", city="shanghai", calibrated=False).constants
    sim = Simulator(obs["model"].unique(), base=base).run()
    exact = simulated_at(sim, obs)
    assert payoff(sim, obs.assign(value=exact)) == pytest.approx(0.0, abs=1e-20)
    assert payoff(sim, obs) > 0


# --------------------------------------------------------------------------- command line and bad input


def test_cli_writes_fit_figure_and_calibrated_set(tmp_path, capsys):
    cfg = _config(tmp_path, """
  guangzhou:
    series: [population_census, co2]
    parameters:
      autonomous efficiency rate: [0.01, 0.06]
""")
    out, figs, cal = tmp_path / "out", tmp_path / "figs", tmp_path / "calibrated"
    code = main(["calibrate", "--city", "guangzhou", "--config", str(cfg), "--starts", "2", "--out", str(out),
                 "--figures", str(figs), "--calibrated-dir", str(cal)])
    assert code == 0
    fit = pd.read_csv(out / "fit.csv")
    assert list(fit.columns) == FIT_COLUMNS
    assert set(fit["period"]) == {"in_sample", "holdout"} and set(fit["city"]) == {"guangzhou"}
    co2 = fit[(fit["variable"] == "co2") & (fit["period"] == "in_sample")].iloc[0]
    assert co2["n"] == 11 and co2["mape"] < 10
    np.testing.assert_allclose(co2["theil_um"] + co2["theil_us"] + co2["theil_uc"], 1.0, rtol=1e-9)
    assert (figs / "guangzhou_calibration.png").stat().st_size > 10_000
    spec = yaml.safe_load((cal / "guangzhou.yaml").read_text(encoding="utf-8"))
    assert spec["name"] == "guangzhou"
    entry = spec["constants"]["autonomous efficiency rate"]
    assert entry["ci"][0] <= entry["value"] <= entry["ci"][1]
    assert 0.01 <= entry["value"] <= 0.06
    assert entry["source"].startswith("calibrated by megacity-sd calibrate (WLS on 2005-2015")
    assert not list(cal.glob(".*"))  # no temporary file left
    params = pd.read_csv(out / "calibrated_parameters.csv")
    assert params.loc[0, "initial"] == pytest.approx(0.035)  # started from the uncalibrated city value
    assert "parameter" in capsys.readouterr().out


@pytest.mark.parametrize("cities, words", [
    ("  shanghai:\n    series: [population]\n    parameters:\n      normal in migration rate: [0.08, 0.12]\n",
     ["normal in migration rate", "exclude the city's uncalibrated value 0.07"]),
    ("  guangzhou:\n    series: [gdp, co2]\n    parameters:\n      autonomous efficiency rate: [0.01, 0.06]\n",
     ["no data for series 'gdp' of guangzhou"]),
    ("  shanghai:\n    series: [population]\n    parameters:\n      normal in migration rate: [0.0, 0.2]\n",
     ["leave the model's range", "[0.02, 0.15]"]),
    ("  shanghai:\n    series: [population]\n    parameters:\n      no such constant: [0, 1]\n",
     ["not a model constant"]),
    ("  shanghai:\n    series: [pm10]\n    parameters:\n      birth rate: [0, 0.02]\n",
     ["unknown series 'pm10'"]),
])
def test_bad_configuration_gives_one_clear_line(tmp_path, cities, words):
    path = _config(tmp_path, cities)
    city = cities.split(":")[0].strip()
    with pytest.raises(UserInputError) as exc:
        calibrate(city, path)
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_unknown_city_raises_one_line():
    with pytest.raises(UserInputError, match="unknown city 'paris'; allowed: beijing"):
        calibrate("paris")


@pytest.mark.parametrize("args, words", [
    (["--city", "paris"], ["unknown city 'paris'"]),
    (["--city", "shanghai", "--config", "BAD"], ["exclude the city's uncalibrated value"]),
    (["--city", "guangzhou", "--config", "NODATA"], ["no data for series 'gdp' of guangzhou"]),
])
def test_cli_bad_input_exit_2_one_line_nothing_written(tmp_path, args, words):
    if args[-1] == "BAD":
        args[-1] = str(_config(tmp_path, "  shanghai:\n    series: [population]\n    parameters:\n"
                                          "      normal in migration rate: [0.08, 0.12]\n"))
    if args[-1] == "NODATA":
        args[-1] = str(_config(tmp_path, "  guangzhou:\n    series: [gdp]\n    parameters:\n"
                                          "      autonomous efficiency rate: [0.01, 0.06]\n"))
    out, figs, cal = tmp_path / "out", tmp_path / "f", tmp_path / "cal"
    run_cli_expecting_bad_input(["calibrate", *args, "--out", str(out), "--figures", str(figs),
                                 "--calibrated-dir", str(cal)], words)
    assert not out.exists() and not figs.exists() and not cal.exists()
