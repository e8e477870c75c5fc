"""Figures of the STIRPAT cross-check (matplotlib)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import history
from ..units import display_of
from .crosscheck import MODEL_VARIABLES, CrosscheckResult

__all__ = [
    "plot_paths",
    "plot_elasticities",
    "write_crosscheck_figures",
]


_PROJ_STYLE = {0: dict(color="#2b6cb0", ls="--"), 1: dict(color="#c05621", ls=":")}


def plot_paths(paths: pd.DataFrame, scenario: str, ax, *, hist: pd.DataFrame | None = None,
               model_history: pd.Series | None = None, color: str = "#444444"):
    """Model CO2 and the STIRPAT projections (with intervals) for one scenario.

    Returns
    -------
    matplotlib.axes.Axes
    """
    sc, unit = display_of(MODEL_VARIABLES["co2"])  # paths and history in model units
    sel = paths[paths["scenario"] == scenario]
    if model_history is not None:
        ax.plot(model_history.index, model_history.to_numpy() * sc, color=color, lw=1.0, alpha=0.6)
    first = sel[sel["projection"] == sel["projection"].iloc[0]]
    ax.plot(first["year"], first["model"] * sc, color=color, lw=1.8, label="model")
    for i, (name, s) in enumerate(sel.groupby("projection", sort=False)):
        st = _PROJ_STYLE.get(i, {})
        ax.plot(s["year"], s["stirpat"] * sc, lw=1.4, label=f"STIRPAT: {name}", **st)
        ax.fill_between(s["year"], s["stirpat_low"] * sc, s["stirpat_high"] * sc, color=st.get("color"),
                        alpha=0.15, lw=0)
    if hist is not None and not hist.empty:
        ax.plot(hist["year"], hist["value"] * sc, "o", ms=2.5, color="black", label="CEADs history")
    ax.set_title(scenario)
    ax.set_ylabel(unit)
    return ax


def plot_elasticities(rows: pd.DataFrame, ax, driver: str):
    """Dot-and-interval plot of the elasticity estimates of one driver.

    ``rows``: ``label, estimate, low, high, kind`` (kind picks the colour).
    """
    colors = {"history": "black", "model": "#2b6cb0", "owid": "#c05621", "literature": "#718096"}
    sel = rows[rows["driver"] == driver].reset_index(drop=True)
    ypos = np.arange(len(sel))[::-1]
    for y, r in zip(ypos, sel.itertuples(index=False), strict=True):
        c = colors.get(r.kind, "gray")
        if np.isfinite(r.low) and np.isfinite(r.high):
            ax.plot([r.low, r.high], [y, y], color=c, lw=2 if r.kind != "literature" else 1)
        ax.plot([r.estimate], [y], "o", color=c, ms=4)
    ax.set_yticks(ypos)
    ax.set_yticklabels(sel["label"])
    ax.axvline(1.0, color="gray", lw=0.6, ls=":")
    ax.axvline(0.0, color="gray", lw=0.6)
    ax.set_title({"population": "population (P)", "gdp_per_capita": "GDP per capita (A)",
                  "energy_intensity": "energy intensity (T)"}[driver])
    ax.set_xlabel("elasticity of CO2")
    return ax


def _forest_rows(result: CrosscheckResult) -> pd.DataFrame:
    rows = []

    def add(fit, label, kind):
        for r in fit.table().itertuples(index=False):
            if r.term.startswith("ln_") and not r.term.endswith("_sq"):
                rows.append(dict(driver=r.term.removeprefix("ln_"), label=label, estimate=r.estimate,
                                 low=r.ci_low, high=r.ci_high, kind=kind))

    add(result.fits["history"], "history, 3 cities (P,A)", "history")
    add(result.fits["model"], "model fit (P,A)", "model")
    add(result.fits["model_pat"], "model fit (P,A,T)", "model")
    for r in result.perturbation.itertuples(index=False):
        rows.append(dict(driver=r.driver, label="model perturbation", estimate=r.elasticity, low=r.low,
                         high=r.high, kind="model"))
    o = result.owid
    for r in o[o["source"] == "this project"].itertuples(index=False):
        if r.study.endswith("1996"):
            continue
        rows.append(dict(driver=r.term, label=r.study, estimate=r.estimate, low=r.ci_low, high=r.ci_high,
                         kind="owid"))
    lit = o[(o["source"] == "literature") & o["estimate"].notna() & o["dependent"].str.startswith("ln CO2")]
    for r in lit.itertuples(index=False):
        rows.append(dict(driver=r.term, label=r.study, estimate=r.estimate, low=r.ci_low, high=r.ci_high,
                         kind="literature"))
    return pd.DataFrame(rows)


def write_crosscheck_figures(result: CrosscheckResult, out_dir) -> list:
    """Write ``<city>_stirpat_crosscheck.png`` (CO2 paths) and ``<city>_stirpat_elasticities.png``."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ..plotting import COLORS, STYLE, savefig_atomic

    out_dir = Path(out_dir)
    city = result.city
    written = []
    with plt.rc_context(STYLE):
        scens = list(result.paths["scenario"].unique())
        cols = min(3, len(scens))
        nrows = (len(scens) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.9 * nrows + 0.6), squeeze=False,
                                 sharey=True, sharex=True)
        hist = history(city, "co2")
        for ax, scen in zip(axes.flat, scens, strict=False):
            mh = result.central[scen][MODEL_VARIABLES["co2"]].loc[:2020]
            plot_paths(result.paths, scen, ax, hist=hist, model_history=mh, color=COLORS.get(scen, "#444444"))
            ax.set_xlim(2004, 2061)
        for ax in list(axes.flat)[len(scens):]:
            ax.set_visible(False)
        sc = display_of(MODEL_VARIABLES["co2"]).scale
        top = max(result.paths["stirpat_high"].max(), result.paths["model"].max()) * sc
        axes[0, 0].set_ylim(0, min(top * 1.05, 4 * result.paths["model"].max() * sc))
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, 0.035))
        fig.suptitle(f"{city}: model CO2 vs STIRPAT predicted from the model's own P, A (and T), anchored in "
                     f"{result.anchor_year}\n(bands: 95 % interval of the elasticities)", fontsize=10)
        fig.text(0.5, 0.005, "history P,A: elasticities of the three cities (city and year effects); the year effect "
                 f"is held at its {result.anchor_year} value, i.e. no common technical change after it.\n"
                 "OWID P,A,T: cross-national elasticities (143 countries, year effects) applied to the model's own "
                 "P, A and T.", ha="center", va="bottom", fontsize=7.5, color="#4a5568")
        for ax in axes[:, 1:].flat:
            ax.set_ylabel("")
        fig.tight_layout(rect=(0, 0.085, 1, 1))
        written.append(savefig_atomic(fig, out_dir / f"{city}_stirpat_crosscheck.png"))

        rows = _forest_rows(result)
        counts = rows.groupby("driver").size()
        fig, axes = plt.subplots(1, 3, figsize=(13, 0.32 * counts.max() + 1.6))
        for ax, d in zip(axes, ("population", "gdp_per_capita", "energy_intensity"), strict=True):
            plot_elasticities(rows, ax, d)
        fig.suptitle(f"{city}: elasticities of CO2 - history (black), model (blue), OWID (orange), "
                     "published (grey); 95 % intervals, perturbation: 2.5-97.5 % range", fontsize=10)
        fig.tight_layout()
        written.append(savefig_atomic(fig, out_dir / f"{city}_stirpat_elasticities.png"))
    return written
