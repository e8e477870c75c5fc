"""STIRPAT: fits on synthetic data with known elasticities, ridge, fixed effects, the model cross-check, bad input.

Tiers (STYLE.md): synthetic data with known truth (tier 1); ridge against an independent route, OLS on
data augmented with sqrt(k) rows (Marquardt 1970, Technometrics 12:591), and the OWID fit against the
unit population elasticity York, Rosa & Dietz (2003) report (tier 2); the cross-check only for its shape
and for what the model's accounting implies (tier 3 would pin numbers; none are pinned here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from megacity_sd.cli import main
from megacity_sd.data import DATA_DIR
from megacity_sd.errors import UserInputError
from megacity_sd.stirpat import (
    crosscheck,
    fit_stirpat,
    hkb_ridge_constant,
    owid_check,
    project_co2,
)

from .conftest import run_cli_expecting_bad_input

TRUE = {"population": 1.0, "gdp_per_capita": 0.8, "energy_intensity": 0.6}


def synthetic(seed: int, n_entities: int = 12, n_years: int = 10, sigma: float = 0.05,
              intercept_spread: float = 0.0) -> pd.DataFrame:
    """Panel with known elasticities TRUE; drivers correlated (as in real STIRPAT data).

    With ``intercept_spread`` > 0, entity intercepts are large and correlated with ln P, so that a
    pooled fit is biased and only entity fixed effects recover the elasticities.
    """
    rng = np.random.default_rng(seed)
    ent = np.repeat(np.arange(n_entities), n_years)
    year = np.tile(np.arange(2000, 2000 + n_years), n_entities)
    level = rng.normal(0, 1, n_entities)
    ln_p = 15 + level[ent] + 0.02 * (year - 2000) + rng.normal(0, 0.1, ent.size)
    ln_a = 9 + 0.04 * (year - 2000) + 0.5 * (ln_p - 15) + rng.normal(0, 0.15, ent.size)
    ln_t = -9 - 0.03 * (year - 2000) + rng.normal(0, 0.15, ent.size)
    alpha_i = intercept_spread * level + rng.normal(0, 0.3 * (intercept_spread > 0), n_entities)
    ln_i = (-3 + alpha_i[ent] + TRUE["population"] * ln_p + TRUE["gdp_per_capita"] * ln_a
            + TRUE["energy_intensity"] * ln_t + rng.normal(0, sigma, ent.size))
    df = pd.DataFrame({"city": [f"c{i:02d}" for i in ent], "year": year, "co2": np.exp(ln_i),
                       "population": np.exp(ln_p), "gdp_per_capita": np.exp(ln_a),
                       "energy_intensity": np.exp(ln_t)})
    df.attrs["intercepts"] = alpha_i
    return df


DRIVERS = list(TRUE)


# -- tier 1: known elasticities ------------------------------------------------------------------

def test_known_elasticities_inside_their_intervals():
    fit = fit_stirpat(synthetic(seed=7), "co2", DRIVERS)
    tab = fit.table().set_index("term")
    for d, b in TRUE.items():
        assert tab.at[f"ln_{d}", "ci_low"] <= b <= tab.at[f"ln_{d}", "ci_high"], (d, tab.loc[f"ln_{d}"])
    assert list(tab.columns) == ["estimate", "std_err", "ci_low", "ci_high"]
    assert isinstance(fit.results, sm.regression.linear_model.RegressionResultsWrapper)
    assert set(fit.vif.index) == {f"ln_{d}" for d in DRIVERS} and (fit.vif >= 1).all()


def test_interval_coverage_is_nominal():
    # 120 seeded replications: the 95 % interval of each elasticity should cover the truth ~95 % of the
    # time (binomial s.d. 2 %; bounds at about -3.5 and +2.5 s.d.)
    hits = {d: 0 for d in DRIVERS}
    n = 120
    for seed in range(n):
        tab = fit_stirpat(synthetic(seed, n_entities=6, n_years=8, sigma=0.1), "co2", DRIVERS).table()
        tab = tab.set_index("term")
        for d, b in TRUE.items():
            hits[d] += int(tab.at[f"ln_{d}", "ci_low"] <= b <= tab.at[f"ln_{d}", "ci_high"])
    for d in DRIVERS:
        assert 0.88 <= hits[d] / n <= 0.999, (d, hits[d] / n)


def test_fixed_effects_absorb_entity_intercepts():
    df = synthetic(seed=3, intercept_spread=2.0)
    pooled = fit_stirpat(df, "co2", DRIVERS).table().set_index("term")
    fe = fit_stirpat(df, "co2", DRIVERS, entity="city")
    tab = fe.table().set_index("term")
    # the pooled fit is biased by intercepts correlated with ln P; entity effects remove the bias
    assert not pooled.at["ln_population", "ci_low"] <= 1.0 <= pooled.at["ln_population", "ci_high"]
    for d, b in TRUE.items():
        assert tab.at[f"ln_{d}", "ci_low"] <= b <= tab.at[f"ln_{d}", "ci_high"]
    assert fe.n_entities == 12 and "fe_city" not in " ".join(fe.terms)
    # the dummies carry the entity intercepts: alpha_i - alpha_ref, recovered to the noise level
    alpha_i = df.attrs["intercepts"]
    est = np.array([fe.results.params[f"fe_city=c{i:02d}"] for i in range(1, 12)])
    np.testing.assert_allclose(est, alpha_i[1:] - alpha_i[0], atol=0.1)


def test_year_effects_absorb_a_common_deflator():
    # nominal A = real A x a year-specific price level shared by all entities: with year effects the
    # elasticity stays that of real A (the historical fit relies on this)
    df = synthetic(seed=11)
    deflator = np.exp(0.05 * (df["year"] - 2000) + 0.02 * np.sin(df["year"]))
    nominal = df.assign(gdp_per_capita=df["gdp_per_capita"] * deflator)
    real = fit_stirpat(df, "co2", DRIVERS, entity="city", time_effects=True)
    nom = fit_stirpat(nominal, "co2", DRIVERS, entity="city", time_effects=True)
    np.testing.assert_allclose(nom.params.drop("const").to_numpy(), real.params.drop("const").to_numpy(),
                               rtol=1e-8, atol=1e-10)


# -- ridge ----------------------------------------------------------------------------------------

def test_ridge_with_constant_zero_equals_ols():
    df = synthetic(seed=5)
    ols = fit_stirpat(df, "co2", DRIVERS, entity="city")
    ridge = fit_stirpat(df, "co2", DRIVERS, entity="city", method="ridge", ridge_k=0.0)
    np.testing.assert_allclose(ridge.params.to_numpy(), ols.params.to_numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ridge.cov.to_numpy(), ols.cov.to_numpy(), rtol=1e-6, atol=1e-12)
    assert ridge.ridge is not None and ridge.ridge_rule == "fixed by the user"


def test_ridge_matches_ols_on_augmented_data_and_shrinks():
    # Marquardt (1970): ridge = OLS on the design augmented by sqrt(k) rows for the penalised columns
    df = synthetic(seed=5)
    k = 0.05
    ridge = fit_stirpat(df, "co2", DRIVERS, method="ridge", ridge_k=k)
    X = pd.DataFrame({"const": 1.0, **{f"ln_{d}": np.log(df[d]) for d in DRIVERS}})
    scale = np.sqrt(((X.iloc[:, 1:] - X.iloc[:, 1:].mean()) ** 2).sum())
    Z = X.copy()
    Z.iloc[:, 1:] = X.iloc[:, 1:] / scale
    aug = pd.DataFrame(np.sqrt(k) * np.eye(4)[1:], columns=Z.columns)
    ref = sm.OLS(np.r_[np.log(df["co2"]), np.zeros(3)], pd.concat([Z, aug], ignore_index=True)).fit()
    np.testing.assert_allclose(ridge.params.to_numpy()[1:], ref.params.to_numpy()[1:] / scale.to_numpy(),
                               rtol=1e-8)
    ols = fit_stirpat(df, "co2", DRIVERS)
    g_ridge = ridge.params.to_numpy()[1:] * scale.to_numpy()
    g_ols = ols.params.to_numpy()[1:] * scale.to_numpy()
    assert np.linalg.norm(g_ridge) < np.linalg.norm(g_ols)


def test_ridge_constant_by_hkb_rule_is_stated():
    df = synthetic(seed=5)
    fit = fit_stirpat(df, "co2", DRIVERS, method="ridge")
    assert fit.ridge_k > 0 and "Hoerl-Kennard-Baldwin" in fit.ridge_rule
    info = fit.info().set_index("key")["value"]
    assert "Hoerl-Kennard-Baldwin" in info["ridge_rule"] and float(info["ridge_k"]) == pytest.approx(fit.ridge_k)
    assert hkb_ridge_constant([1.0, 1.0], 0.5) == pytest.approx(0.5, rel=1e-12)


# -- data and the OWID check ------------------------------------------------------------------------

def test_shipped_data_small_and_cited():
    for name in ("owid_stirpat_panel.csv", "stirpat_literature.csv"):
        assert (DATA_DIR / name).stat().st_size < 500_000
    owid = pd.read_csv(DATA_DIR / "owid_stirpat_panel.csv")
    assert owid["source"].str.contains("2a6c4a2").all()
    assert (owid[["co2", "population", "gdp", "primary_energy_consumption"]] > 0).all().all()
    lit = pd.read_csv(DATA_DIR / "stirpat_literature.csv", keep_default_na=False)
    assert (lit["citation"] != "").all() and (lit["where_read"] != "").all()
    assert pd.to_numeric(lit["coefficient"], errors="coerce").notna().all()


def test_owid_population_elasticity_near_unity():
    # York, Rosa & Dietz (2003): population elasticity of CO2 across nations indistinguishable from 1
    tab = owid_check()
    row = tab[(tab["study"] == "OWID P,A") & (tab["term"] == "population")].iloc[0]
    assert abs(row["estimate"] - 1.0) < 0.1
    assert row["ci_low"] < 1.0 < row["ci_high"]
    assert {"this project", "literature"} <= set(tab["source"])


# -- the cross-check on the model -------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_crosscheck():
    return crosscheck("shanghai", n_members=4, seed=2, engine="simlin")


def test_crosscheck_produces_the_verdict_table(small_crosscheck):
    v = small_crosscheck.verdict
    assert list(v["driver"]) == ["population", "gdp_per_capita", "energy_intensity"]
    assert set(v["verdict"]) <= {"consistent", "not consistent", "not testable"}
    assert v.loc[v["driver"] == "energy_intensity", "verdict"].item() == "not testable"
    tested = v[v["driver"] != "energy_intensity"]
    assert tested[["history", "model_fit", "perturbation", "difference"]].notna().all().all()
    assert (tested["history_low"] < tested["history_high"]).all()
    assert v["note"].str.len().gt(20).all()


def test_crosscheck_gap_per_decade(small_crosscheck):
    g = small_crosscheck.gaps
    assert set(g["decade"]) == {"2021-2030", "2031-2040", "2041-2050", "2051-2060"}
    assert set(g["projection"]) == {"history P,A", "OWID P,A,T"}
    assert len(g) == 2 * 6 * 4 and np.isfinite(g[["model_mt", "stirpat_mt", "gap_mt", "gap_pct"]]).all().all()
    p = small_crosscheck.paths
    anchor = p[p["year"] == 2020]
    np.testing.assert_allclose(anchor["stirpat"], anchor["model"], rtol=1e-12)


def test_model_elasticities_follow_its_accounting(small_crosscheck):
    # CO2 = P * A * T * (CO2 per final energy) in the model: with T in the fit, each elasticity is near 1
    # (departures come from the fuel mix and process CO2), and perturbing T moves CO2 about one for one
    tab = small_crosscheck.fits["model_pat"].table().set_index("term")
    for d in ("gdp_per_capita", "energy_intensity"):
        assert abs(tab.at[f"ln_{d}", "estimate"] - 1.0) < 0.25, d
    # population: more residents lower capital per worker and so income per head (Cobb-Douglas with capital),
    # so CO2 rises less than in proportion to population and the fitted coefficient sits below 1 (about 0.7)
    assert 0.6 < tab.at["ln_population", "estimate"] < 1.1
    pert = small_crosscheck.perturbation.set_index("driver")
    assert abs(pert.at["energy_intensity", "elasticity"] - 1.0) < 0.15
    # more residents lower income per head (capital per worker falls), so the total elasticity is below 1
    assert 0.6 < pert.at["population", "elasticity"] < 1.1


def test_project_co2_rejects_squared_terms(small_crosscheck):
    fit = fit_stirpat(synthetic(seed=1), "co2", ["population", "gdp_per_capita"], ekc="gdp_per_capita")
    with pytest.raises(ValueError, match="squared"):
        project_co2(fit, small_crosscheck.central, label="x")


@pytest.mark.slow
def test_crosscheck_command_writes_tables_and_figures(tmp_path, capsys):
    out, figs = tmp_path / "out", tmp_path / "figs"
    code = main(["stirpat", "crosscheck", "--city", "shanghai", "--members", "3", "--out", str(out),
                 "--figures", str(figs)])
    assert code == 0
    verdict = pd.read_csv(out / "shanghai_stirpat_verdict.csv")
    assert {"driver", "history", "model_fit", "perturbation", "verdict", "note"} <= set(verdict.columns)
    assert (out / "shanghai_stirpat_gap_per_decade.csv").exists() and (out / "stirpat_owid_check.csv").exists()
    assert (figs / "shanghai_stirpat_crosscheck.png").exists()
    assert (figs / "shanghai_stirpat_elasticities.png").exists()
    text = capsys.readouterr().out
    assert "verdict" in text and "2051-2060" in text and "OWID" in text


def test_fit_command_writes_stirpat_csv(tmp_path, capsys):
    data = tmp_path / "panel.csv"
    synthetic(seed=9).to_csv(data, index=False)
    code = main(["stirpat", "fit", "--data", str(data), "--dependent", "co2", "--drivers",
                 "population,gdp_per_capita,energy_intensity", "--entity", "city", "--method", "ridge", "--ekc",
                 "--out", str(tmp_path / "o")])
    assert code == 0
    tab = pd.read_csv(tmp_path / "o" / "stirpat.csv")
    assert list(tab.columns) == ["term", "estimate", "std_err", "ci_low", "ci_high"]
    assert "ln_gdp_per_capita_sq" in set(tab["term"])
    assert set(pd.read_csv(tmp_path / "o" / "stirpat_vif.csv")["term"]) == set(tab["term"]) - {"const"}
    assert "Hoerl-Kennard-Baldwin" in capsys.readouterr().out


# -- bad input --------------------------------------------------------------------------------------

def _bad(kind: str) -> tuple[pd.DataFrame, dict]:
    df = synthetic(seed=1, n_entities=4, n_years=5)
    if kind == "missing column":
        return df.drop(columns="energy_intensity"), {}
    if kind == "non-positive":
        df.loc[3, "gdp_per_capita"] = 0.0
        return df, {}
    if kind == "too few rows":
        return df.head(3), {}
    if kind == "constant driver":
        return df.assign(energy_intensity=2.0), {}
    if kind == "constant within entity":
        return df.assign(population=df.groupby("city")["population"].transform("first")), {"entity": "city"}
    if kind == "non-numeric":
        return df.assign(population=df["population"].astype(object).where(df.index != 2, "n/a")), {}
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, words", [
    ("missing column", ["'energy_intensity' not found", "allowed:"]),
    ("non-positive", ["'gdp_per_capita'", "non-positive", "> 0"]),
    ("too few rows", ["3 complete row(s)", "at least"]),
    ("constant driver", ["'energy_intensity' is constant", "must vary"]),
    ("constant within entity", ["'population' is constant within every city", "must vary"]),
    ("non-numeric", ["'population' must be numeric", "data row 3"]),
])
def test_bad_input_raises_user_input_error(kind, words):
    df, kw = _bad(kind)
    with pytest.raises(UserInputError) as err:
        fit_stirpat(df, "co2", DRIVERS, source="panel.csv", **kw)
    msg = str(err.value)
    assert msg.startswith("panel.csv: ") and "\n" not in msg
    for w in words:
        assert w in msg


def test_unknown_city_raises_user_input_error():
    with pytest.raises(UserInputError, match="unknown city 'paris'"):
        crosscheck("paris", n_members=2)


@pytest.mark.parametrize("args, words", [
    (["fit", "--dependent", "co2", "--drivers", "population,nope"], ["column 'nope' not found"]),
    (["crosscheck", "--city", "paris"], ["unknown city 'paris'"]),
])
def test_bad_input_exit_2_one_line(tmp_path, args, words):
    data = tmp_path / "panel.csv"
    synthetic(seed=1).to_csv(data, index=False)
    if args[0] == "fit":
        args = [*args, "--data", str(data)]
    out = tmp_path / "out"
    run_cli_expecting_bad_input(["stirpat", *args, "--out", str(out)], words)
    assert not out.exists()


def test_cli_choices_are_the_librarys():
    from megacity_sd import stirpat
    from megacity_sd.cli import stirpat as stirpat_cli

    assert stirpat_cli.METHODS == stirpat.METHODS and stirpat_cli.COV_TYPES == stirpat.COV_TYPES


def test_gap_verdict_agrees_with_the_gap_numbers():
    from megacity_sd.cli.stirpat import _gap_verdict

    below = pd.DataFrame({"gap_pct": [-18.0, -83.0], "years_inside": [0.0, 0.1]})
    assert "NOT consistent" in _gap_verdict(below) and "below" in _gap_verdict(below)
    inside = pd.DataFrame({"gap_pct": [-3.0, 4.0], "years_inside": [0.9, 0.8]})
    assert _gap_verdict(inside).startswith("  levels: consistent")
