"""LMDI decomposition (megacity_sd.decompose and the ``decompose`` subcommand).

Tiers, kept apart:

1. analytic truth: a two-term, two-factor example whose effects are computed
   by hand (below), exactness on seeded random data, the zero-value limits;
2. an independent reference with provenance: the printed results of the test
   suite of LMDIR (M. Heun, R package on CRAN), an implementation written
   apart from this one; the model's own totals (``CO2 emissions`` ...) and the
   CEADs inventory totals, which the identities must reproduce;
3. seeded regression (detects change, not correctness): Shanghai's historical
   decomposition 2005-2019 on the data on file.

No published LMDI worked example with its inputs could be read with the tools
at hand (Ang 2005's two-sector example was not retrievable), so tier 1 uses a
hand-computed example and tier 2 the LMDIR reference values instead. Model
runs use the simlin engine.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from megacity_sd.cli import main
from megacity_sd.data import history, table
from megacity_sd.decompose import (
    COLUMNS,
    TERM_COLUMNS,
    decompose_against,
    decompose_history,
    decompose_run,
    history_identity,
    lmdi,
    lmdi_chain,
    logmean,
    model_identity,
    term_effects,
)
from megacity_sd.scenario import load_scenario
from megacity_sd.simulate import run

# ------------------------------------------------------------------ helpers


def _decompose(argv) -> int:
    """``megacity-sd decompose ARGV`` through the command line's own entry point."""
    return main(["decompose", *map(str, argv)])


@cache
def _run(scenario: str, city: str = "shanghai"):
    scen = load_scenario(scenario, city=city)
    return run(scen, "simlin"), scen.constants


def _frame(rows, factors=("activity", "intensity"), terms=("A", "B")):
    return pd.DataFrame(rows, index=list(terms), columns=list(factors), dtype=float)


# ------------------------------------------------------------------ tier 1: analytic truth


def test_logmean_values():
    """L(a, b) = (a - b)/ln(a/b); L(a, a) = a; odd in the sign; accurate for a close to b."""
    assert_allclose(logmean(2.0, 8.0), 6.0 / np.log(4.0), rtol=1e-15)
    assert_allclose(logmean(8.0, 2.0), 6.0 / np.log(4.0), rtol=1e-15)
    assert_allclose(logmean(5.0, 5.0), 5.0, rtol=0)
    assert_allclose(logmean(-2.0, -8.0), -6.0 / np.log(4.0), rtol=1e-15)
    # close arguments: the series L(b(1+r), b) = b (1 + r/2 - r^2/12 + ...)
    r = 1e-9
    assert_allclose(logmean(3.0 * (1 + r), 3.0), 3.0 * (1 + r / 2 - r * r / 12), rtol=1e-15)
    with pytest.raises(ValueError, match="zero"):
        logmean(0.0, 1.0)
    with pytest.raises(ValueError, match="opposite"):
        logmean(-1.0, 1.0)


def test_hand_computed_two_factor_example():
    """Two terms, V_i = activity_i * intensity_i, checked by hand.

    Term A: activity 10 -> 20, intensity 2 -> 2, so V_A 20 -> 40.
    Term B: activity 10 -> 10, intensity 3 -> 1.5, so V_B 30 -> 15. V: 50 -> 55.

    Additive: activity = L(40, 20) ln 2 = (20/ln 2) ln 2 = 20;
    intensity = L(15, 30) ln 0.5 = (-15/ln 0.5) ln 0.5 = -15; 20 - 15 = 5.
    Multiplicative: D_k = exp(dV_k / L(55, 50)) with L(55, 50) = 5/ln 1.1, so
    D_activity = 1.1^4 = 1.4641 and D_intensity = 1.1^-3; product 1.1 = 55/50.
    """
    x0 = _frame([[10, 2], [10, 3]])
    x1 = _frame([[20, 2], [10, 1.5]])
    add = lmdi(x0, x1)
    assert_allclose(add.to_numpy(), [20.0, -15.0], rtol=1e-13)
    mult = lmdi(x0, x1, form="multiplicative")
    assert_allclose(mult.to_numpy(), [1.1 ** 4, 1.1 ** -3], rtol=1e-13)
    eff = term_effects(x0, x1)
    assert_allclose(eff.to_numpy(), [[20.0, 0.0], [0.0, -15.0]], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_exact_on_random_data(seed):
    """Additive effects sum to V^T - V^0 and multiplicative ones multiply to V^T/V^0, for one step and chained."""
    rng = np.random.default_rng(seed)
    n_terms, n_factors, n_years = 7, 6, 5
    scales = 10.0 ** rng.integers(-3, 6, n_factors)  # factors in units of very different sizes
    states = [pd.DataFrame(rng.lognormal(0.0, 1.5, size=(n_terms, n_factors)) * scales) for _ in range(n_years)]
    totals = [float(s.prod(axis=1).sum()) for s in states]
    add = lmdi(states[0], states[1])
    assert_allclose(add.sum(), totals[1] - totals[0], rtol=1e-9, atol=1e-9 * abs(totals[0]))
    mult = lmdi(states[0], states[1], form="multiplicative")
    assert_allclose(mult.prod(), totals[1] / totals[0], rtol=1e-9)
    chained = lmdi_chain(states)
    # a chain sums yearly changes, so its rounding error scales with the largest level on the path
    assert_allclose(chained.sum(), totals[-1] - totals[0], rtol=1e-9, atol=1e-9 * max(map(abs, totals)))
    chained_m = lmdi_chain(states, form="multiplicative")
    assert_allclose(chained_m.prod(), totals[-1] / totals[0], rtol=1e-9)
    # the additive and multiplicative forms agree in their shares (Ang 2004): dV_k/dV = ln D_k / ln(V^T/V^0)
    assert_allclose(add / add.sum(), np.log(mult) / np.log(totals[1] / totals[0]), rtol=1e-9)


def test_negative_factor_keeping_its_sign_is_exact():
    """A factor negative in both states (Ang & Liu 2007, negative values) decomposes exactly."""
    rng = np.random.default_rng(7)
    x0 = pd.DataFrame(rng.uniform(1, 5, size=(4, 3)))
    x1 = pd.DataFrame(rng.uniform(1, 5, size=(4, 3)))
    x0.iloc[0, 2] *= -1
    x1.iloc[0, 2] *= -1
    eff = term_effects(x0, x1)
    assert_allclose(eff.sum(axis=1), x1.prod(axis=1) - x0.prod(axis=1), rtol=1e-12)


def test_sign_change_is_refused():
    x0 = _frame([[1, 2], [3, 4]])
    x1 = _frame([[1, -2], [3, 4]])
    with pytest.raises(ValueError, match="changes sign"):
        lmdi(x0, x1)


def test_zero_factor_gives_finite_exact_effects():
    """A factor zero in one year: finite effects, still exact; the zero factor takes the term's whole change."""
    x0 = _frame([[10, 0.0], [10, 3]])        # term A absent in state 0 (e.g. a new fuel)
    x1 = _frame([[20, 2.0], [10, 1.5]])
    eff = term_effects(x0, x1)
    assert np.isfinite(eff.to_numpy()).all()
    assert_allclose(eff.loc["A"].to_numpy(), [0.0, 40.0], rtol=0, atol=0)
    total = lmdi(x0, x1)
    assert_allclose(total.sum(), 55.0 - 30.0, rtol=1e-13)
    # vanishing term: the zero factor takes -V^0
    eff = term_effects(x1, x0)
    assert_allclose(eff.loc["A"].to_numpy(), [0.0, -40.0], rtol=0, atol=0)
    # zero in both states: nothing
    both = term_effects(_frame([[0, 1], [1, 1]]), _frame([[0, 2], [1, 1]]))
    assert_allclose(both.loc["A"].to_numpy(), [0.0, 0.0], rtol=0, atol=0)
    # chained over years with a factor that is zero in the middle year
    states = [_frame([[10, 2], [10, 3]]), _frame([[12, 0.0], [10, 2]]), _frame([[15, 1], [11, 2]])]
    ch = lmdi_chain(states)
    assert_allclose(ch.sum(), (15 + 22) - (20 + 30), rtol=1e-13)


def test_two_zero_factors_share_the_change():
    """m factors zero together: the limit with one delta for all gives each 1/m of the change."""
    x0 = pd.DataFrame([[0.0, 0.0, 5.0]], columns=["a", "b", "c"])
    x1 = pd.DataFrame([[2.0, 3.0, 5.0]], columns=["a", "b", "c"])
    assert_allclose(term_effects(x0, x1).to_numpy(), [[15.0, 15.0, 0.0]], rtol=1e-15)


def test_small_value_strategy_converges_to_the_limit():
    """Replacing the zero by delta (Ang & Liu 2007) approaches the analytic limit as delta -> 0.

    The convergence is logarithmic in delta (Wood & Lenzen 2006), hence the
    loose checks: the error falls monotonically and is small at 1e-100.
    """
    x0 = _frame([[10, 0.0], [10, 3]])
    x1 = _frame([[20, 2.0], [10, 1.5]])
    limit = term_effects(x0, x1)
    errors = [float((term_effects(x0, x1, zero="small", delta=d) - limit).abs().to_numpy().max())
              for d in (1e-5, 1e-10, 1e-20, 1e-100)]
    assert all(a > b for a, b in zip(errors[:-1], errors[1:], strict=True)), errors
    assert errors[-1] < 0.02 * 40.0
    small = lmdi(x0, x1, zero="small", delta=1e-10)
    assert_allclose(small.sum(), 25.0, rtol=1e-9)


def test_multiplicative_needs_totals_of_one_sign():
    x0 = _frame([[0, 1], [0, 1]])
    x1 = _frame([[1, 1], [1, 1]])
    with pytest.raises(ValueError, match="multiplicative"):
        lmdi(x0, x1, form="multiplicative")


# ------------------------------------------------------------------ tier 2: independent references

# LMDIR (Matthew Kuperus Heun, R package "LMDIR", CRAN), tests/testthat/test_lmdi.R at commit
# 01ff841a5449d5676ed72fdc255e98259918fba1 (github.com/MatthewHeun/LMDIR): two subcategories x three factors,
# 1971-1974, and the effects its suite asserts (printed to 10 significant digits).
_LMDIR_X = {
    1971: [[1, 10, 2], [4, 5, 3]],
    1972: [[4, 5, 3], [5, 6, 4]],
    1973: [[8, 2, 4], [5, 7, 5]],
    1974: [[10, 1, 5], [6, 8, 6]],
}


def _lmdir(year):
    return pd.DataFrame(_LMDIR_X[year], index=["subcat 1", "subcat 2"],
                        columns=["factor 1", "factor 2", "factor 3"], dtype=float)


def test_lmdir_reference_term_effects():
    z1 = [[50.47438029, -25.23719014, 14.76280986], [19.31568569, 15.78206435, 24.90224996]]
    z2 = [[42.96021467, -56.79031473, 17.83010006], [0, 22.47128816, 32.52871184]]
    z3 = [[12.6549815, -39.30996299, 12.6549815], [41.35566084, 30.28867832, 41.35566084]]
    for (y0, y1), z in zip([(1971, 1972), (1972, 1973), (1973, 1974)], [z1, z2, z3], strict=True):
        assert_allclose(term_effects(_lmdir(y0), _lmdir(y1)).to_numpy(), z, rtol=1e-8, atol=1e-8)


def test_lmdir_reference_additive_and_multiplicative():
    dv = {1972: [69.79006598, -9.455125793, 39.66505981], 1973: [42.96021467, -34.31902656, 50.3588119],
          1974: [54.01064234, -9.021284671, 54.01064234]}
    d = {1972: [1.761117821, 0.926191306, 1.379410116], 1973: [1.229284572, 0.847970248, 1.273773912],
         1974: [1.208140223, 0.968911503, 1.208140223]}
    for y in (1972, 1973, 1974):
        assert_allclose(lmdi(_lmdir(y - 1), _lmdir(y)).to_numpy(), dv[y], rtol=1e-8)
        assert_allclose(lmdi(_lmdir(y - 1), _lmdir(y), form="multiplicative").to_numpy(), d[y], rtol=1e-8)
    states = [_lmdir(y) for y in (1971, 1972, 1973, 1974)]
    assert_allclose(lmdi_chain(states).sum(), 258.0, rtol=1e-12)                         # dV_agg_cum
    assert_allclose(lmdi_chain(states, form="multiplicative").prod(), 2.25 * 1.327777778 * 1.414225941, rtol=1e-8)


def test_lmdir_reference_zero_cases():
    """LMDIR's degenerate cases (after Ang, Zhang & Choi 1998, Table 2): a zero in X_0 or X_T."""
    x0, x1 = _lmdir(1971), _lmdir(1972)
    x0z = x0.copy()
    x0z.iloc[0, 0] = 0.0
    assert_allclose(term_effects(x0z, x1).to_numpy(),
                    [[60, 0, 0], [19.31568569, 15.78206435, 24.90224996]], rtol=1e-8, atol=1e-12)
    x1z = x1.copy()
    x1z.iloc[1, 2] = 0.0
    assert_allclose(term_effects(x0, x1z).to_numpy(),
                    [[50.47438029, -25.23719014, 14.76280986], [0, 0, -60]], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("pollutant", ["CO2", "SO2", "NOx", "PM25"])
def test_model_identity_reproduces_the_model(pollutant):
    """The sum over sector x fuel terms equals the model's own pollutant variable in every year."""
    wide, const = _run("baseline")
    ident = model_identity(wide, const, pollutant=pollutant)
    variable = {"CO2": "CO2 emissions", "SO2": "SO2 emissions", "NOx": "NOx emissions",
                "PM25": "primary PM25 emissions"}[pollutant]
    summed = ident.values.groupby(level="year").sum()
    assert_allclose(summed.to_numpy(), wide[variable].to_numpy(), rtol=1e-9)
    assert_allclose(ident.factors.prod(axis=1).to_numpy(), ident.values.to_numpy(), rtol=1e-12, atol=0)


def test_model_baseline_2020_2035_sums_to_the_model_change():
    """Shanghai baseline (simlin), CO2 2020 -> 2035, chained yearly: effects sum to the model's change."""
    wide, const = _run("baseline")
    change = wide.loc[2035, "CO2 emissions"] - wide.loc[2020, "CO2 emissions"]
    dec = decompose_run(wide, 2020, 2035, city="shanghai", scenario="baseline", constants=const)
    assert_allclose(dec.effects.sum(), change, rtol=1e-9, atol=1e-9 * wide.loc[2020, "CO2 emissions"])
    assert list(dec.effects.index) == ["population", "gdp_per_capita", "structure", "energy_intensity",
                                       "fuel_mix", "emission_factor", "capture"]
    assert_allclose(dec.terms.to_numpy().sum(), change, rtol=1e-9, atol=1.0)
    mult = decompose_run(wide, 2020, 2035, city="shanghai", scenario="baseline", constants=const,
                         form="multiplicative")
    assert_allclose(mult.effects.prod(), wide.loc[2035, "CO2 emissions"] / wide.loc[2020, "CO2 emissions"],
                    rtol=1e-9)
    so2 = decompose_run(wide, 2020, 2035, city="shanghai", scenario="baseline", constants=const, pollutant="SO2")
    assert_allclose(so2.effects.sum(), wide.loc[2035, "SO2 emissions"] - wide.loc[2020, "SO2 emissions"],
                    rtol=1e-9)
    total = decompose_run(wide, 2020, 2035, city="shanghai", scenario="baseline", constants=const, scope="total")
    assert_allclose(total.effects.sum(), wide.loc[2035, "CO2 scope 1 and 2"] - wide.loc[2020, "CO2 scope 1 and 2"],
                    rtol=1e-9)
    sector = decompose_run(wide, 2020, 2035, city="shanghai", scenario="baseline", constants=const,
                           breakdown="sector")
    assert_allclose(sector.effects.sum(), change, rtol=1e-9)


@pytest.mark.parametrize("pollutant", ["CO2", "SO2"])
def test_model_combined_against_baseline_sums_to_the_difference(pollutant):
    base, bc = _run("baseline")
    comb, cc = _run("combined")
    dec = decompose_against(base, comb, 2035, city="shanghai", scenario="combined", base_constants=bc,
                            constants=cc, pollutant=pollutant)
    variable = "CO2 emissions" if pollutant == "CO2" else "SO2 emissions"
    assert_allclose(dec.effects.sum(), comb.loc[2035, variable] - base.loc[2035, variable], rtol=1e-9)
    assert dec.scenario == "combined_vs_baseline" and dec.period == "2035"
    # behaviour (not correctness): the combined package cuts CO2 and SO2 mainly through the fuel mix
    assert dec.effects["fuel_mix"] < 0 and dec.effects["fuel_mix"] == dec.effects.min()


def test_history_shanghai_sums_to_the_ceads_change():
    """Shanghai CO2 2005 -> 2019 (history): effects sum to the CEADs change."""
    dec = decompose_history("shanghai", 2005, 2019)
    sectors = sum(table("calibration_series", "shanghai", f"co2_{s}").set_index("year")["value"]
                  for s in ("power_heat", "industry", "transport", "buildings"))
    fuels = sum(table("calibration_series", "shanghai", f"co2_{f}").set_index("year")["value"]
                for f in ("coal", "oil", "gas", "process"))
    city = history("shanghai", "co2").set_index("year")["value"]
    assert_allclose(dec.effects.sum(), sectors[2019] - sectors[2005], rtol=1e-9)
    # the fuel-group and sector tables of CEADs agree within 2 t (rounding), the city inventory within 0.01 Mt
    assert abs(dec.effects.sum() - (fuels[2019] - fuels[2005])) <= 10.0
    assert abs(dec.effects.sum() - (city[2019] - city[2005])) <= 0.02e6
    assert list(dec.effects.index) == ["population", "gdp_per_capita", "carbon_intensity"]
    assert any("not separated on history" in n for n in dec.notes)
    fuel = decompose_history("shanghai", 2005, 2019, breakdown="fuel", form="multiplicative")
    assert_allclose(fuel.effects.prod(), fuels[2019] / fuels[2005], rtol=1e-6)


def test_history_beijing_without_gdp_after_2017_is_exact_and_says_so():
    dec = decompose_history("beijing", 2005, 2019)
    ident = history_identity("beijing")
    assert_allclose(dec.effects.sum(), ident.total[2019] - ident.total[2005], rtol=1e-9)
    assert "per_capita_emissions" in dec.effects.index
    assert any("no constant-price GDP on file for 2018, 2019" in n for n in dec.notes)
    early = decompose_history("beijing", 2005, 2017)
    assert "per_capita_emissions" not in early.effects.index


# ------------------------------------------------------------------ tier 3: seeded regression (detects change)


def test_regression_shanghai_history_2005_2019():
    """Values of this implementation on the data tables as committed; a change means the data or the code changed."""
    dec = decompose_history("shanghai", 2005, 2019)
    assert_allclose(dec.effects.to_numpy() / 1e6, [45.036, 128.224, -139.287], rtol=0, atol=2e-3)


# ------------------------------------------------------------------ command line


def test_cli_history_writes_tables_and_figure(tmp_path, capsys):
    out, fig = tmp_path / "out", tmp_path / "fig"
    rc = _decompose(["--city", "shanghai", "--from", 2005, "--to", 2019, "--out", out, "--figures", fig])
    assert rc == 0
    table_ = pd.read_csv(out / "decomposition.csv")
    assert list(table_.columns) == COLUMNS
    assert list(pd.read_csv(out / "decomposition_terms.csv").columns) == TERM_COLUMNS
    effects = table_[table_["factor"] != "total"]["effect"].sum()
    assert_allclose(effects, table_.loc[table_["factor"] == "total", "effect"].item(), rtol=1e-9)
    notes = pd.read_csv(out / "decomposition_notes.csv")
    assert notes["note"].str.contains("not decomposed on history").any()
    assert (fig / "shanghai_history_decomposition_CO2.png").is_file()
    printed = capsys.readouterr().out
    assert "Mt CO2/yr" in printed and "carbon_intensity" in printed


def test_cli_model_against_baseline(tmp_path):
    out = tmp_path / "out"
    rc = _decompose(["--city", "shanghai", "--scenario", "combined", "--against", "baseline", "--year", 2035,
                         "--engine", "simlin", "--out", out, "--no-figures", "--form", "multiplicative"])
    assert rc == 0
    t = pd.read_csv(out / "decomposition.csv")
    assert set(t["pollutant"]) == {"CO2", "SO2", "NOx", "PM25"}
    for _, g in t.groupby("pollutant"):
        assert_allclose(g.loc[g["factor"] != "total", "effect"].prod(), g.loc[g["factor"] == "total", "effect"].item(),
                        rtol=1e-9)
    assert set(t["unit"]) == {"dmnl"}
    assert not (out / "decomposition_terms.csv").exists()


def test_cli_model_co2_is_scope_1_and_2_by_default_as_run_and_synergy_count_it(tmp_path, capsys):
    """The additive CO2 total of combined against baseline is the change of 'CO2 scope 1 and 2' (run's and synergy's
    CO2) unless --scope 1 asks for the territorial one."""
    from megacity_sd.simulate import run

    base, comb = (run(load_scenario(s, city="shanghai"), "simlin") for s in ("baseline", "combined"))
    for extra, var in (([], "CO2 scope 1 and 2"), (["--scope", "1"], "CO2 emissions")):
        out = tmp_path / ("d" + "".join(extra))
        assert _decompose(["--scenario", "combined", "--against", "baseline", "--year", 2035, "--engine", "simlin",
                           "--pollutant", "CO2", "--out", out, "--no-figures", *extra]) == 0
        t = pd.read_csv(out / "decomposition.csv")
        total = t.loc[t["factor"] == "total", "effect"].item()
        assert_allclose(total, comb.loc[2035, var] - base.loc[2035, var], rtol=1e-9)
    text = capsys.readouterr().out
    assert "CO2 scope 1+2 2035" in text and "CO2 scope 1 2035" in text


@pytest.mark.parametrize(("argv", "words"), [
    (["--city", "paris", "--from", 2005, "--to", 2019], ["--city paris", "unknown city", "allowed: beijing"]),
    (["--city", "guangzhou", "--from", 2005, "--to", 2019], ["no CO2 inventory", "allowed: beijing, shanghai"]),
    (["--city", "shanghai", "--from", 2004, "--to", 2019], ["--from 2004", "allowed: 2005-2019"]),
    (["--city", "shanghai", "--from", 2005, "--to", 2021], ["--to 2021", "allowed: 2005-2019"]),
    (["--city", "shanghai", "--from", 2019, "--to", 2005], ["--from 2019 --to 2005", "before"]),
    (["--city", "shanghai", "--from", 2010, "--to", 2010], ["--from 2010 --to 2010", "before"]),
    (["--city", "shanghai", "--to", 2019], ["--from", "required"]),
    (["--city", "shanghai", "--from", 2005, "--to", 2019, "--pollutant", "SO2"], ["--pollutant SO2", "allowed"]),
    (["--city", "shanghai", "--from", 2005, "--to", 2019, "--breakdown", "full"], ["--breakdown full", "allowed"]),
    (["--city", "shanghai", "--year", 2035], ["--year", "needs --scenario"]),
    (["--city", "paris", "--scenario", "combined", "--against", "baseline", "--year", 2035], ["unknown city"]),
    (["--scenario", "nosuch", "--from", 2020, "--to", 2035], ["unknown scenario", "allowed"]),
    (["--scenario", "combined", "--against", "baseline"], ["--year", "required"]),
    (["--scenario", "combined", "--against", "baseline", "--year", 2070], ["--year 2070", "allowed: 2005-2060"]),
    (["--scenario", "combined", "--from", 2035, "--to", 2020], ["--from 2035 --to 2020", "before"]),
    (["--scenario", "combined", "--year", 2035], ["--year", "needs --against"]),
    (["--scenario", "combined", "--against", "combined", "--year", 2035], ["--against combined", "same scenario"]),
    (["--scenario", "combined", "--from", 2020, "--to", 2035, "--breakdown", "sector", "--pollutant", "SO2"],
     ["--breakdown sector", "CO2 only"]),
])
def test_cli_bad_input_exit_2(tmp_path, capsys, argv, words):
    out = tmp_path / "out"
    rc = _decompose([*argv, "--out", out, "--figures", tmp_path / "fig"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    for w in words:
        assert w in err[0], (w, err[0])
    assert not out.exists() and not (tmp_path / "fig").exists()


def test_cli_bad_choice_is_argparse_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        _decompose(["--from", 2005, "--to", 2019, "--form", "sideways"])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
