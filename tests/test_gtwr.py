"""Local STIRPAT (GTWR through mgtwr, GWR through PySAL mgwr): megacity_sd/stirpat/local*.py and cli/gtwr.py.

Tiers: analytic (an infinite bandwidth gives the global OLS), independent reference (mgtwr's GTWR with
tau = 0 equals mgwr's GWR, two separate implementations), seeded regression (a synthetic panel with a
known spatially varying elasticity is recovered; the Monte Carlo test finds the varying one and not the
constant one), data (the shipped panel against the raw collection when present), command line and bad
input. Tolerances: ``rel``/``abs`` keywords.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from megacity_sd import stirpat as gtwr
from megacity_sd.errors import UserInputError

SHARED = Path("/work/shared/data")
DRIVERS = ["population", "gdp_per_capita"]


def synthetic_panel(side: int = 5, years: int = 4, sd: float = 0.2, seed: int = 3) -> pd.DataFrame:
    """Grid of side x side locations (1.5 degrees apart) x years; ln CO2 = 1 + b1(u) ln P + 0.8 ln A + e.

    b1 rises linearly from 0.3 (west) to 0.9 (east); the A elasticity is constant.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for yr in range(2010, 2010 + years):
        for i in range(side * side):
            u, v = i % side, i // side
            lp, la = rng.normal(0, 1), rng.normal(0, 1)
            b1 = 0.3 + 0.6 * u / (side - 1)
            rows.append(dict(entity=f"e{i:02d}", year=yr, lon=110 + 1.5 * u, lat=30 + 1.5 * v, u=u,
                             co2=np.exp(1.0 + b1 * lp + 0.8 * la + rng.normal(0, sd)), population=np.exp(lp),
                             gdp_per_capita=np.exp(la), b1=b1))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel()


@pytest.fixture(scope="module")
def searched(panel):
    """GTWR with the bandwidth and tau chosen by AICc (the slow part, once)."""
    return gtwr.fit_local(panel, "co2", DRIVERS, entity="entity")


# ---------------------------------------------------------------------------------------------- analytic


@pytest.mark.parametrize("method", ["gtwr", "gwr"])
def test_infinite_bandwidth_gives_global_ols(panel, method):
    fit = gtwr.fit_local(panel, "co2", DRIVERS, entity="entity", method=method, kernel="gaussian", fixed=True,
                         bandwidth=1e9, tau=1.0)
    X = sm.add_constant(np.log(panel.sort_values(["entity", "year"])[DRIVERS].to_numpy()))
    y = np.log(panel.sort_values(["entity", "year"])["co2"].to_numpy())
    ols = sm.OLS(y, X).fit()
    np.testing.assert_allclose(fit.params, np.tile(ols.params, (len(panel), 1)), rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.global_fit.params.to_numpy(), ols.params, rtol=1e-10)
    assert fit.enp == pytest.approx(3.0, abs=1e-6)  # hat matrix of OLS: trace = number of terms
    assert fit.rss == pytest.approx(ols.ssr, rel=1e-8)


# --------------------------------------------------------------------------------- independent reference


def test_gtwr_with_tau_zero_equals_mgwr_gwr(panel):
    """mgtwr's GTWR, time switched off, against PySAL mgwr's GWR: two implementations, one model."""
    a = gtwr.fit_local(panel, "co2", DRIVERS, entity="entity", method="gtwr", kernel="gaussian", fixed=True,
                       bandwidth=3.0, tau=0.0)
    b = gtwr.fit_local(panel, "co2", DRIVERS, entity="entity", method="gwr", kernel="gaussian", fixed=True,
                       bandwidth=3.0)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-7)
    assert a.enp == pytest.approx(b.enp, rel=1e-9)
    assert a.sigma2 == pytest.approx(b.sigma2, rel=1e-9)
    # the two packages' AICc differ in the penalty (same log-likelihood): mgwr uses Fotheringham et al. (2002)
    # eq. 2.33, -2 llf + 2n(k+1)/(n-k-2); mgtwr uses AIC + 2k(k+1)/(n-k-1) with AIC = -2 llf + 2(k+1)
    n, k = len(panel), a.enp
    llf = -0.5 * n * np.log(a.rss) - 0.5 * n * (1 + np.log(2 * np.pi / n))
    assert b.aicc == pytest.approx(-2 * llf + 2 * n * (k + 1) / (n - k - 2), rel=1e-9)
    assert a.aicc == pytest.approx(-2 * llf + 2 * (k + 1) + 2 * k * (k + 1) / (n - k - 1), rel=1e-9)


# ------------------------------------------------------------------------------------ seeded regression


@pytest.mark.slow
def test_gtwr_recovers_spatially_varying_elasticity(panel, searched):
    fit = searched
    assert fit.criterion == "AICc" and fit.tau is not None
    est = fit.estimates().merge(panel[["entity", "year", "b1", "u"]], on=["entity", "year"])
    pop = est[est["term"] == "ln_population"]
    inside = (pop["b1"] >= pop["ci_low"]) & (pop["b1"] <= pop["ci_high"])
    # kernel smoothers are biased at the edge of the domain (the west and east columns are pulled inwards),
    # so the interval test is on the interior columns; the gradient must be there everywhere
    interior = (pop["u"] > 0) & (pop["u"] < 4)
    assert inside[interior].mean() >= 0.85
    assert np.corrcoef(pop["estimate"], pop["b1"])[0, 1] >= 0.95
    by_u = pop.groupby("u")["estimate"].mean()
    assert by_u.is_monotonic_increasing
    gdp = est[est["term"] == "ln_gdp_per_capita"]
    assert ((gdp["ci_low"] <= 0.8) & (gdp["ci_high"] >= 0.8)).mean() >= 0.9
    assert gdp["estimate"].mean() == pytest.approx(0.8, abs=0.03)


@pytest.mark.slow
def test_monte_carlo_test_separates_varying_from_constant(searched):
    v = gtwr.variability_test(searched, n_permutations=39, seed=1).set_index("term")
    assert v.at["ln_population", "p_value"] <= 0.05
    assert v.at["ln_gdp_per_capita", "p_value"] > 0.10
    assert (v["p_value"] >= 1 / 40).all()
    assert searched.variability is not None


@pytest.mark.slow
def test_local_elasticities_plug_into_the_global_verdict(searched):
    from megacity_sd.stirpat import compare_elasticities

    loc = gtwr.local_elasticities(searched, "e12", (2012, 2013))
    tab = loc.table()
    assert list(tab.columns) == list(searched.global_fit.table().columns)
    pop = searched.estimates().query("entity == 'e12' and year in (2012, 2013) and term == 'ln_population'")
    assert tab.set_index("term").at["ln_population", "estimate"] == pytest.approx(pop["estimate"].mean(), rel=1e-12)
    pert = pd.DataFrame({"driver": DRIVERS, "elasticity": [0.6, 0.8], "low": [0.5, 0.7], "high": [0.7, 0.9]})
    verdict = compare_elasticities(loc, searched.global_fit, pert).set_index("driver")
    assert verdict.at["population", "history"] == pytest.approx(loc.elasticity("population"), rel=1e-12)
    assert verdict.at["population", "verdict"] in ("consistent", "not consistent")
    with pytest.raises(UserInputError, match="not in the fit"):
        gtwr.local_elasticities(searched, "nowhere")


# ------------------------------------------------------------------------------------------------- data


def test_shipped_panel_and_capitals():
    pan = gtwr.load_province_panel(years=(2000, 2019), drop_flagged=False)
    assert pan["province"].nunique() == 30 and len(pan) == 600
    assert pan[["co2", "population", "gdp_per_capita", "lon", "lat"]].notna().all().all()
    assert (pan["source"].str.len() > 20).all()
    assert set(pan.loc[pan["flag"] == "suspect_co2", "code"] + pan.loc[pan["flag"] == "suspect_co2", "year"]
               .astype(str)) == {"HI2002", "NX2000", "NX2001", "NX2002"}
    default = gtwr.load_province_panel()
    assert default["year"].between(2000, 2017).all() and (default["flag"] == "").all() and len(default) == 535
    cap = gtwr.load_capitals()
    assert len(cap) == 31 and cap["lon"].between(87, 127).all() and cap["lat"].between(20, 46).all()
    assert cap["source"].str.contains("GeoNames").all()


@pytest.mark.skipif(not SHARED.is_dir(), reason="raw data collection not present")
def test_panel_matches_the_raw_collection():
    pan = gtwr.load_province_panel(years=(2000, 2019), drop_flagged=False).set_index(["province", "year"])
    names = {"Beijing": "Beijing", "Shanghai": "Shanghai", "Tianjin": "Tianjin", "Guangdong(province)": "Guangdong"}
    fuel = pd.read_csv(SHARED / "ceads_openclimate/ceads_province_co2_by_fuel_1997_2019.csv")
    fuel = fuel[(fuel["variable"] == "co2_total_scope1") & fuel["year"].between(2000, 2019)]
    for r in fuel.itertuples(index=False):
        assert pan.at[(names[r.city], r.year), "co2"] == pytest.approx(r.value * 1e6, abs=1.0)
    popf = pd.read_csv(SHARED / "gcam_china_nbs/population_year_end_2000_2019.csv")
    popf = popf[popf["city"].isin(names)]
    for r in popf.itertuples(index=False):
        assert pan.at[(names[r.city], r.year), "population"] == pytest.approx(r.value * 1e4, abs=0.5)
    gdp = pd.read_csv(SHARED / "gdp_secondary_compilations/province_gdp_csy_as_published_2000_2019.csv")
    gdp["province"] = gdp["city"].str.replace("(province)", "", regex=False)
    gdp = gdp[gdp["province"].isin(pan.index.get_level_values(0))]
    assert len(gdp) == 600
    for r in gdp.itertuples(index=False):
        assert pan.at[(r.province, r.year), "gdp_current"] == pytest.approx(r.value * 1e8, rel=1e-12)


# ------------------------------------------------------------------------------------------ command line


def _args(tmp_path, **kw):
    base = dict(data=None, dependent="co2", drivers="population,gdp_per_capita", entity="entity", time="year",
                time_effects=False, method="gtwr", ridge_k=None, ekc=None, cov="nonrobust",
                out=str(tmp_path / "out"), lon="lon", lat="lat", coords=None, bandwidth_criterion="AICc",
                kernel="bisquare", fixed_bandwidth=False, bandwidth=None, bandwidth_range=None, tau=None,
                tau_max=25.0, years=None, permutations=0, seed=1, reselect=False, highlight=None,
                megacity_years=None, figures=str(tmp_path / "fig"), no_figures=False, format="png", dpi=60,
                no_progress=True)
    base.update(kw)
    return argparse.Namespace(**base)


def test_parser_options_fit_the_stirpat_parser():
    from megacity_sd.cli.stirpat import add_parser

    top = argparse.ArgumentParser()
    add_parser(top.add_subparsers(dest="command"))  # the stirpat parser adds the GTWR options to `fit` itself
    ns = top.parse_args(["stirpat", "fit", "--data", "x.csv", "--dependent", "co2", "--drivers", "a,b",
                         "--bandwidth-criterion", "CV", "--tau", "0.5", "--years", "2005-2010", "--coords", "c.csv"])
    assert (ns.bandwidth_criterion, ns.tau, ns.years, ns.coords, ns.figures) == ("CV", 0.5, (2005, 2010), "c.csv",
                                                                                 "output/figures")


def test_cli_writes_tables_and_figure(tmp_path, panel):
    from megacity_sd.cli.gtwr import cmd_fit_local

    csv = tmp_path / "panel.csv"
    panel.drop(columns=["b1", "u"]).to_csv(csv, index=False)
    rc = cmd_fit_local(_args(tmp_path, data=str(csv), bandwidth=40, tau=0.5, permutations=19))
    assert rc == 0
    out = tmp_path / "out"
    local = pd.read_csv(out / "stirpat_gtwr_local.csv")
    assert len(local) == 3 * len(panel) and {"std_err", "ci_low", "ci_high"} <= set(local.columns)
    assert (pd.read_csv(out / "stirpat_gtwr_variability.csv")["n_permutations"] == 19).all()
    assert (tmp_path / "fig" / "stirpat_gtwr_elasticities.png").stat().st_size > 10_000
    assert not (out / "stirpat_gtwr_megacities.csv").exists()  # no province of a megacity in this panel


@pytest.mark.slow
def test_cli_shows_the_search_and_the_permutations_as_they_go(tmp_path, panel, capsys):
    """The slow steps of ``stirpat fit --method gtwr`` (over 20 min on the shipped panel) show progress on stderr:
    one tick per golden-section step of mgtwr's search (its verbose lines) and per permutation."""
    from megacity_sd.cli.gtwr import cmd_fit_local

    csv = tmp_path / "panel.csv"
    panel.drop(columns=["b1", "u"]).to_csv(csv, index=False)
    assert cmd_fit_local(_args(tmp_path, data=str(csv), bandwidth=40, permutations=19, no_progress=False,
                               no_figures=True)) == 0
    cap = capsys.readouterr()
    assert "GTWR bandwidth search" in cap.err and "score" in cap.err and "permutation test" in cap.err, cap.err
    assert "19/19" in cap.err
    assert "bw:" not in cap.out  # mgtwr's own prints go to the bar, not to stdout


@pytest.mark.slow
def test_cli_on_the_shipped_panel_gives_the_megacity_table(tmp_path):
    from megacity_sd.cli.gtwr import cmd_fit_local

    rc = cmd_fit_local(_args(tmp_path, data="province_panel", entity="province", bandwidth=50, tau=0.01,
                             years=(2010, 2017), megacity_years=(2015, 2017), no_figures=True))
    assert rc == 0
    mega = pd.read_csv(tmp_path / "out" / "stirpat_gtwr_megacities.csv")
    assert sorted(mega["city"].unique()) == ["beijing", "guangzhou", "shanghai", "shenzhen", "tianjin"]
    assert (mega["years"] == "2015-2017").all() and len(mega) == 10
    gz = mega[mega["city"] == "guangzhou"].set_index("term")
    sz = mega[mega["city"] == "shenzhen"].set_index("term")
    assert gz["local"].equals(sz["local"])  # both are Guangdong
    info = pd.read_csv(tmp_path / "out" / "stirpat_gtwr_info.csv").set_index("key")["value"]
    assert float(info["bandwidth"]) == 50 and info["criterion"] == "given"


# -------------------------------------------------------------------------------------------- bad input


def _one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_missing_coordinate_columns(tmp_path, panel):
    from megacity_sd.cli.gtwr import cmd_fit_local

    csv = tmp_path / "nocoords.csv"
    panel.drop(columns=["lon", "lat"]).to_csv(csv, index=False)
    with pytest.raises(UserInputError) as err:
        cmd_fit_local(_args(tmp_path, data=str(csv), bandwidth=40, tau=0.5))
    msg = _one_line(err)
    assert str(csv) in msg and "'lon'" in msg and "--coords" in msg
    assert not (tmp_path / "out").exists() and not (tmp_path / "fig").exists()


def test_too_few_observations(panel):
    with pytest.raises(UserInputError) as err:
        gtwr.fit_local(panel.head(40), "co2", DRIVERS, entity="entity", source="small.csv")
    msg = _one_line(err)
    assert msg.startswith("small.csv:") and "at least 56 rows" in msg


@pytest.mark.parametrize("kw, text", [(dict(method="kriging"), "allowed: gtwr, gwr"),
                                      (dict(criterion="BIC"), "allowed: AICc, CV"),
                                      (dict(kernel="tricube"), "allowed: bisquare"),
                                      (dict(bandwidth=3.0), "allowed: a number of neighbours")])
def test_bad_options(panel, kw, text):
    with pytest.raises(UserInputError) as err:
        gtwr.fit_local(panel, "co2", DRIVERS, entity="entity", source="p.csv", **kw)
    assert text in _one_line(err)


def test_cli_refuses_global_only_options_and_unknown_method(tmp_path, panel):
    from megacity_sd.cli.gtwr import cmd_fit_local

    csv = tmp_path / "panel.csv"
    panel.to_csv(csv, index=False)
    with pytest.raises(UserInputError, match="--time-effects"):
        cmd_fit_local(_args(tmp_path, data=str(csv), time_effects=True))
    with pytest.raises(UserInputError, match="allowed: gtwr, gwr"):
        cmd_fit_local(_args(tmp_path, data=str(csv), method="ridge"))
    with pytest.raises(UserInputError, match="no coordinates for entity"):
        coords = tmp_path / "coords.csv"
        pd.DataFrame({"entity": ["e00"], "lon": [110.0], "lat": [30.0]}).to_csv(coords, index=False)
        cmd_fit_local(_args(tmp_path, data=str(csv), coords=str(coords)))
    assert not (tmp_path / "out").exists()


def test_crosscheck_compares_the_model_with_the_local_estimates():
    """`stirpat crosscheck --local gtwr`: the 'history' column holds the province's local estimates."""
    from megacity_sd.stirpat import crosscheck, fit_local, load_province_panel, local_elasticities

    res = crosscheck("shanghai", n_members=2, engine="fast", local="gtwr", local_bandwidth=50, local_tau=0.01)
    fit = fit_local(load_province_panel(), "co2", ["population", "gdp_per_capita"], entity="province",
                    method="gtwr", bandwidth=50, tau=0.01)
    est = local_elasticities(fit, "shanghai", (2013, 2017)).table().set_index("term")["estimate"]
    v = res.verdict_local.set_index("driver")
    assert v.loc["population", "history"] == pytest.approx(est["ln_population"], rel=1e-9)
    assert v.loc["gdp_per_capita", "history"] == pytest.approx(est["ln_gdp_per_capita"], rel=1e-9)
    assert set(v["verdict"]) <= {"consistent", "not consistent", "not testable"}
