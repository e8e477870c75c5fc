"""Figures of the sensitivity analysis: tornado, Morris, Sobol, Sobol by year, Monte Carlo fans (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .methods import SERIES

FIGURE_KEYS = {"CO2 scope 1 and 2": "co2", "PM25": "pm25", "Population": "population"}
"""The short name of each of :data:`SERIES` in the Monte Carlo figures' file names (``<city>_mc_co2.png``)."""

__all__ = [
    "write_figures",
    "FIGURE_KEYS",
    "plot_tornado",
    "plot_morris",
    "plot_sobol",
    "plot_sobol_years",
    "plot_fan",
]


def plot_tornado(table: pd.DataFrame, indicator: str, ax, *, top: int = 10):
    """Tornado of one indicator: change from the nominal run at each parameter's bounds.

    Returns
    -------
    matplotlib.axes.Axes
    """
    sel = table[table["indicator"] == indicator]
    lo = sel[sel["level"] == sel["level"].min()].set_index("parameter")
    hi = sel[sel["level"] == sel["level"].max()].set_index("parameter")
    base = float(sel["nominal_value"].iloc[0])
    d_lo = lo["value"] - base
    d_hi = hi["value"] - base
    swing = (d_hi - d_lo).abs().sort_values(ascending=True).tail(top)
    y = np.arange(len(swing))
    ax.barh(y, d_lo[swing.index], color="#1b9e77", label="parameter at lower bound")
    ax.barh(y, d_hi[swing.index], color="#d95f02", label="parameter at upper bound", alpha=0.85)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, list(swing.index))
    unit = sel["unit"].iloc[0]
    ax.set_xlabel(f"change from nominal ({unit}; nominal {base:.4g})")
    ax.set_title(indicator)
    return ax


def plot_morris(table: pd.DataFrame, indicator: str, ax, *, top: int = 10):
    """Morris mu* with its 95 % interval (bars) and sigma (points) for one indicator."""
    sel = table[table["indicator"] == indicator].sort_values("mu_star").tail(top)
    y = np.arange(len(sel))
    ax.barh(y, sel["mu_star"], xerr=sel["mu_star_conf"], color="#7570b3", alpha=0.8, label="mu*", capsize=2)
    ax.plot(sel["sigma"], y, "o", color="#d95f02", ms=4, label="sigma")
    ax.set_yticks(y, list(sel["parameter"]))
    ax.set_xlabel(f"elementary effect ({sel['unit'].iloc[0]} over the range)")
    ax.set_title(indicator)
    return ax


def plot_sobol(table: pd.DataFrame, indicator: str, ax, *, top: int = 10):
    """First-order and total Sobol indices with 95 % intervals for one indicator."""
    sel = table[table["indicator"] == indicator].sort_values("ST").tail(top)
    y = np.arange(len(sel))
    ax.barh(y + 0.2, sel["ST"], height=0.4, xerr=sel["ST_conf"], color="#d95f02", label="ST (total)", capsize=2)
    ax.barh(y - 0.2, sel["S1"], height=0.4, xerr=sel["S1_conf"], color="#1b9e77", label="S1 (first order)",
            capsize=2)
    ax.set_yticks(y, list(sel["parameter"]))
    low = (sel["S1"] - sel["S1_conf"]).to_numpy(dtype=float)
    ax.set_xlim(left=min(0.0, float(low[np.isfinite(low)].min())) if np.isfinite(low).any() else 0.0)
    ax.set_xlabel("Sobol index")
    ax.set_title(indicator)
    return ax


def plot_sobol_years(yearly: pd.DataFrame, variable: str, index: str, ax, *, top: int = 10, cmap: str = "viridis"):
    """Heat map of a Sobol index (``S1`` or ``ST``) of one variable: parameters x years."""
    sel = yearly[yearly["variable"] == variable]
    grid = sel.pivot(index="parameter", columns="year", values=index)
    order = grid.mean(axis=1).sort_values(ascending=False).index[:top]
    grid = grid.loc[order]
    im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    years = list(grid.columns)
    ticks = [k for k, y in enumerate(years) if y % 10 == 0]
    ax.set_xticks(ticks, [str(years[k]) for k in ticks])
    ax.set_yticks(range(len(order)), list(order))
    ax.set_title(f"{SERIES.get(variable, (variable,))[0]}: {index}")
    ax.grid(False)
    return im


def plot_fan(bands: pd.DataFrame, variable: str, scenario: str, ax, *, nominal: pd.Series | None = None,
             color: str | None = None):
    """5-50-95 % band of one variable in one scenario (optionally the nominal run, dashed)."""
    label, scale, unit = SERIES.get(variable, (variable, 1.0, ""))
    sel = bands[(bands["variable"] == variable) & (bands["scenario"] == scenario)].sort_values("year")
    ax.fill_between(sel["year"], sel["p05"] * scale, sel["p95"] * scale, color=color, alpha=0.25, lw=0,
                    label="5-95 %")
    ax.plot(sel["year"], sel["p50"] * scale, color=color, lw=1.5, label="median")
    if nominal is not None:
        ax.plot(nominal.index, nominal.to_numpy() * scale, color="black", lw=0.9, ls="--", label="nominal")
    ax.set_title(scenario)
    ax.set_ylabel(unit)
    ax.set_ylim(bottom=0)
    return ax


def write_figures(method: str, tables: dict, out_dir: str | Path, *, city: str, scenarios: list[str],
                  nominal: dict[str, pd.DataFrame] | None = None) -> list[Path]:
    """Draw the figures of one method's tables (PNG or the chosen format; written whole, then renamed).

    Parameters
    ----------
    method : {"oat", "morris", "sobol", "mc"}
    tables : dict of str to pandas.DataFrame
        The method's tables: ``oat``, ``morris``, ``sobol`` (and ``sobol_yearly``) or ``mc``.
    out_dir : str or Path
    city : str
    scenarios : list of str
        The scenarios' names, the first being the one the screening methods ran.
    nominal : dict of str to pandas.DataFrame, optional
        ``mc`` only: each scenario's central run (:func:`megacity_sd.run`), drawn over its fan.

    Returns
    -------
    list of Path
    """
    import matplotlib.pyplot as plt

    from ..indicators import KEY_INDICATORS
    from ..plotting import COLORS, STYLE, savefig_atomic

    out_dir = Path(out_dir)
    stem = f"{city}_{scenarios[0]}"
    inds = list(KEY_INDICATORS)
    written: list[Path] = []
    with plt.rc_context(STYLE):
        if method in ("oat", "morris", "sobol"):
            table = tables[method]
            fn = {"oat": plot_tornado, "morris": plot_morris, "sobol": plot_sobol}[method]
            fig, axes = plt.subplots(4, 2, figsize=(11, 13), layout="constrained")
            for ax, ind in zip(axes.flat, inds, strict=True):
                fn(table, ind, ax, top=8)
            axes.flat[0].legend(loc="lower right")
            title = {"oat": "one-at-a-time (tornado)", "morris": "Morris screening",
                     "sobol": "Sobol indices (95 % bootstrap intervals)"}[method]
            fig.suptitle(f"{city} / {scenarios[0]}: {title}")
            name = {"oat": "tornado", "morris": "morris", "sobol": "sobol"}[method]
            written.append(savefig_atomic(fig, out_dir / f"{stem}_{name}.png"))
        if method == "sobol" and "sobol_yearly" in tables:
            yearly = tables["sobol_yearly"]
            fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), layout="constrained")
            im = None
            for j, var in enumerate(SERIES):
                for i, idx in enumerate(("S1", "ST")):
                    im = plot_sobol_years(yearly, var, idx, axes[i, j], top=8)
            fig.colorbar(im, ax=axes, shrink=0.6, label="Sobol index")
            fig.suptitle(f"{city} / {scenarios[0]}: Sobol indices by year (first order S1, total ST)")
            written.append(savefig_atomic(fig, out_dir / f"{stem}_sobol_years.png"))
        if method == "mc":
            bands = tables["mc"]
            for var, (label, _scale, _unit) in SERIES.items():
                n = len(scenarios)
                cols = min(n, 3)
                rows = (n + cols - 1) // cols
                fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False,
                                         sharey=True, layout="constrained")
                for ax in axes.flat[n:]:
                    ax.set_visible(False)
                for ax, name in zip(axes.flat, scenarios, strict=False):
                    plot_fan(bands, var, name, ax, nominal=None if nominal is None else nominal[name][var],
                             color=COLORS.get(name, "C0"))
                axes.flat[0].legend(loc="lower left")
                fig.suptitle(f"{city}: {label}, Monte Carlo 5-50-95 % (Latin hypercube)")
                written.append(savefig_atomic(fig, out_dir / f"{city}_mc_{FIGURE_KEYS[var]}.png"))
    return written
