"""Figures of loop dominance and knock-outs (matplotlib; pure: tables in, axes out)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..model import MODEL_PATH, model_doc
from .graph import LoopAnalysis, _display, describe_loop

if TYPE_CHECKING:  # annotations only: pandas is imported where tables are made
    import pandas as pd

__all__ = [
    "plot_loop_scores",
    "plot_knockouts",
]


_R_COLORS = ["#b2182b", "#f46d43", "#fdae61", "#8c510a", "#dfc27d", "#c51b7d", "#f1b6da", "#762a83"]


_B_COLORS = ["#2166ac", "#92c5de", "#1b7837", "#a6dba0", "#35978f", "#80cdc1", "#5e3c99", "#b2abd2"]


def plot_loop_scores(shares: pd.DataFrame, periods: pd.DataFrame, analysis: LoopAnalysis, *, title: str,
                     axes=None, top: int = 8, coverage: pd.Series | None = None,
                     mdl_path: str | Path = MODEL_PATH):
    """Loop scores over time for one output, with its dominant loops.

    Upper panel: the absolute shares (stacked) of the ``top`` loops with the
    largest mean share, the rest grouped as "other loops"; reds are
    reinforcing, blues and greens balancing; the dashed line is ``coverage``,
    the part of the cycle partition's loop-score mass these loops carry.
    Lower panel: for each of these loops, the years in which it belongs to
    the dominant set (the loops of ``periods``); "other loops" marks years in
    which other loops do.

    Parameters
    ----------
    shares : pandas.DataFrame
        Renormalised signed shares of the output's loops (from
        :func:`dominance_table`); ``attrs["coverage"]`` is used when
        ``coverage`` is not given.
    periods : pandas.DataFrame
        Rows of the dominance table for this output.
    analysis : LoopAnalysis
    title : str
    axes : pair of matplotlib.axes.Axes, optional
    top : int
        Loops drawn individually.

    Returns
    -------
    pair of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(11, 6.8), height_ratios=[3, 1.4], sharex=True)
    ax, ax2 = axes
    loops = analysis.by_id
    mag = shares.abs()
    if coverage is None:
        coverage = shares.attrs.get("coverage")
    chosen = list(mag.mean().sort_values(ascending=False).index[:top])
    chosen.sort(key=lambda i: (loops[i].polarity != "B", -mag[i].mean()))
    colors, r_i, b_i = {}, 0, 0
    for lid in chosen:
        if loops[lid].polarity == "R":
            colors[lid] = _R_COLORS[r_i % len(_R_COLORS)]
            r_i += 1
        else:
            colors[lid] = _B_COLORS[b_i % len(_B_COLORS)]
            b_i += 1
    other = mag.drop(columns=chosen).sum(axis=1)
    years = mag.index.to_numpy(dtype=float)
    doc = model_doc(Path(mdl_path))
    desc = {lid: describe_loop(loops[lid], mdl_path, 4) for lid in chosen}
    for lid in chosen:  # tell apart loops whose short descriptions coincide
        twins = [o for o in chosen if o != lid and desc[o].split(" (via ")[0] == desc[lid].split(" (via ")[0]]
        if twins:
            others = set().union(*(loops[o].variables for o in twins))
            own = [v for v in loops[lid].variables if v not in others]
            if own:
                desc[lid] += f" (via {_display(own[0], doc)})"
    labels = [textwrap.fill(f"{lid} ({loops[lid].polarity}) {desc[lid]}", 72, subsequent_indent="    ")
              for lid in chosen]
    ax.stackplot(years, *[mag[c].to_numpy() for c in chosen], other.to_numpy(),
                 colors=[colors[c] for c in chosen] + ["#e3e3e3"],
                 labels=[*labels, f"other loops ({mag.shape[1] - len(chosen)})"], alpha=0.95, lw=0)
    if coverage is not None:
        cov = coverage.reindex(mag.index)
        ax.plot(years, cov.to_numpy(), color="black", ls="--", lw=1.2,
                label="these loops' part of all loop activity in their cycle partition")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share among the output's loops")
    ax.set_title(title, loc="left", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5, frameon=False)
    ax.margins(x=0)
    # which of these loops belong to the dominant set, year by year
    rows = [*chosen, "other loops"]
    for _, p in periods.iterrows():
        members = p["dominant_loops"].split()
        for lid in {m if m in colors else "other loops" for m in members}:
            ax2.barh(rows.index(lid), p["end_year"] - p["start_year"] + 1, left=p["start_year"] - 0.5,
                     height=0.75, color=colors.get(lid, "#9e9e9e"), lw=0)
    ax2.set_yticks(range(len(rows)))
    ax2.set_yticklabels([r if r == "other loops" else f"{r} {loops[r].polarity}"
                         + (f" {loops[r].name}" if loops[r].name else "") for r in rows], fontsize=7)
    ax2.set_ylim(len(rows) - 0.5, -0.5)
    ax2.set_title("in the dominant set (fewest same-polarity loops with at least half the share)",
                  loc="left", fontsize=8)
    ax2.set_xlabel("year")
    ax2.set_xlim(years.min() - 0.5, years.max() + 0.5)
    ax2.grid(axis="x", alpha=0.3)
    return ax, ax2


def plot_knockouts(table: pd.DataFrame, axes=None, title: str | None = None):
    """Effect of cutting each named loop on each indicator (one panel per indicator).

    Bars are the change from the uncut run (years for a peak year, else per
    cent); red for reinforcing loops, blue for balancing ones.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`knockouts`.
    axes : array of matplotlib.axes.Axes, optional
        One per indicator.
    title : str, optional
        Figure title.

    Returns
    -------
    array of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    inds = list(dict.fromkeys(table["indicator"]))
    if axes is None:
        _, axes = plt.subplots(1, len(inds), figsize=(3.3 * len(inds) + 1.5, 4.4), sharey=True)
    axes = np.atleast_1d(axes)
    loops = list(dict.fromkeys(table["loop"]))
    for ax, ind in zip(axes, inds, strict=True):
        sub = table[table["indicator"] == ind].set_index("loop").loc[loops]
        years = ind.endswith("year")
        vals = sub["change"] if years else sub["change_pct"]
        colors = ["#b2182b" if p == "R" else "#2166ac" for p in sub["polarity"]]
        y = np.arange(len(loops))
        ax.barh(y, vals.to_numpy(), color=colors)
        ax.axvline(0, color="black", lw=0.8)
        span = max(float(np.nanmax(np.abs(vals.to_numpy()))), 1e-9)
        for yi, v in zip(y, vals.to_numpy(), strict=True):
            if years:
                txt = "0 yr" if round(v) == 0 else f"{v:+.0f} yr"
            else:
                txt = "0.0%" if abs(v) < 0.05 else f"{v:+.1f}%"
            ax.text(v + (0.04 * span if v >= 0 else -0.04 * span), yi, txt, va="center",
                    ha="left" if v >= 0 else "right", fontsize=7.5)
        ax.set_xlim(-1.6 * span, 1.6 * span)
        base = sub["base"].iloc[0]
        unit = sub["unit"].iloc[0]
        ax.set_title(f"{ind}\n(uncut: {base:.0f})" if years else f"{ind}\n(uncut: {base:,.1f} {unit})",
                     fontsize=9)
        ax.set_xlabel("change, years" if years else "change, %")
        ax.grid(axis="x", alpha=0.3)
    pol = dict(zip(table["loop"], table["polarity"], strict=False))
    axes[0].set_yticks(np.arange(len(loops)))
    axes[0].set_yticklabels([f"({pol[lp]}) {lp}" for lp in loops])
    axes[0].invert_yaxis()
    if title:
        axes[0].figure.suptitle(title, fontsize=10, y=1.03)
    return axes
