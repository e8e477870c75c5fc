"""Figures of the sensitivity analysis: tornado, Morris, Sobol, Sobol by year, Monte Carlo fans (matplotlib)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .methods import SERIES

__all__ = [
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
