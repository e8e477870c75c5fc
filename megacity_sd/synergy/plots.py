"""Figures of the co-control coordinate system (matplotlib; tables in, axes out)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .changes import APE, CO2, _ordered
from .coordinates import PATH_YEARS, EnsembleCloud, relative_change

__all__ = [
    "plot_coordinates",
    "plot_interaction_bars",
    "plot_interaction_lines",
    "plot_ensemble",
    "write_figures",
]


_QUAD_STYLE = {"III": ("#d9f0d3", "III  synergistic"), "I": ("#fde0dd", "I  both raised"),
               "II": ("#fff7d6", "II  CO2 up, pollutant down"), "IV": ("#fff7d6", "IV  CO2 down, pollutant up")}


def _colour(name: str, i: int) -> str:
    import matplotlib.pyplot as plt

    from ..plotting import COLORS

    return COLORS.get(name) or plt.get_cmap("tab10")(i % 10)


def _limits(values: np.ndarray, pad: float = 0.12, min_side: float = 0.15) -> tuple[float, float]:
    """Axis limits holding the values and zero, with room on both sides of zero."""
    v = values[np.isfinite(values)]
    lo, hi = (min(0.0, v.min()), max(0.0, v.max())) if v.size else (-0.1, 0.1)
    span = hi - lo if hi > lo else 0.1
    lo, hi = lo - pad * span, hi + pad * span
    lo, hi = min(lo, -min_side * span), max(hi, min_side * span)
    return lo, hi


def _quadrant_frame(ax, xlim, ylim, *, pollutant_label: str = "pollutant", co2_label: str = "CO2"):
    """Shade and label the four quadrants, draw the axes and the ET = 1 line."""
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import PercentFormatter

    (x0, x1), (y0, y1) = xlim, ylim
    boxes = {"III": (x0, y0, 0 - x0, 0 - y0), "I": (0, 0, x1, y1), "II": (x0, 0, -x0, y1), "IV": (0, y0, x1, -y0)}
    anchors = {"III": (x0, y0, "left", "bottom"), "I": (x1, y1, "right", "top"),
               "II": (x0, y1, "left", "top"), "IV": (x1, y0, "right", "bottom")}
    for q, (x, y, w, h) in boxes.items():
        colour, text = _QUAD_STYLE[q]
        ax.add_patch(Rectangle((x, y), w, h, color=colour, zorder=0, lw=0))
        ax_, ay, ha, va = anchors[q]
        ax.annotate(text, (ax_, ay), xytext=(4 if ha == "left" else -4, 4 if va == "bottom" else -4),
                    textcoords="offset points", ha=ha, va=va, fontsize=7, color="#555555", zorder=1)
    ax.axhline(0, color="black", lw=0.8, zorder=1)
    ax.axvline(0, color="black", lw=0.8, zorder=1)
    lo, hi = max(x0, y0), min(x1, y1)
    if hi > lo:
        ax.plot([lo, hi], [lo, hi], ls=":", lw=0.8, color="#777777", zorder=1)
        ax.annotate("ET = 1", (0.6 * lo, 0.6 * lo), xytext=(4, -2), textcoords="offset points", fontsize=7,
                    color="#777777", ha="left", va="top")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel(f"relative change of {pollutant_label}, dP/P")
    ax.set_ylabel(f"relative change of {co2_label}, dC/C")


def plot_coordinates(table: pd.DataFrame, ax, *, pollutant: str, year: int | None = None,
                     path_years: tuple[int, int] | None = PATH_YEARS, color_by: str = "measure",
                     title: str | None = None):
    """The co-control coordinate system for one pollutant.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`synergy_table` (all years wanted on the paths).
    ax : matplotlib.axes.Axes
    pollutant : str
        Which pollutant's x to plot.
    year : int, optional
        Year of the labelled points (default: every row, e.g. when the table
        has no years or holds historical periods).
    path_years : (int, int), optional
        Draw each measure's trajectory over these years as a path (None:
        no paths).
    color_by : {"measure", "city"}
        What the colours tell apart; the other goes into the labels when it
        varies.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    sel = table[table["pollutant"] == pollutant]
    pts = sel if year is None else sel[sel["year"] == year]
    paths = sel.iloc[0:0]
    if path_years is not None and sel["year"].notna().any():
        paths = sel[(sel["year"] >= path_years[0]) & (sel["year"] <= path_years[1])]
    xs = np.concatenate([pts["rel_change_pollutant"].to_numpy(float), paths["rel_change_pollutant"].to_numpy(float)])
    ys = np.concatenate([pts["rel_change_co2"].to_numpy(float), paths["rel_change_co2"].to_numpy(float)])
    basis = set(sel["pollutant_basis"])
    label = f"{pollutant} concentration" if basis == {"concentration"} else pollutant
    scopes = set(sel["note"].astype(str).str.extract(r"CO2 scope (\w+)")[0].dropna()) if "note" in sel else set()
    co2_label = {"total": "CO2 (scope 1+2)", "1": "CO2 (scope 1)", "2": "CO2 (scope 2)"}.get(
        next(iter(scopes)), "CO2") if len(scopes) == 1 else "CO2"
    _quadrant_frame(ax, _limits(xs), _limits(ys), pollutant_label=label, co2_label=co2_label)
    groups = list(pd.unique(sel[color_by]))
    other = "city" if color_by == "measure" else "measure"
    show_other = sel[other].nunique() > 1
    labels = []
    for i, g in enumerate(groups):
        colour = _colour(str(g), i)
        for _, p in paths[paths[color_by] == g].groupby(other, sort=False):
            p = p.sort_values("year")
            if len(p) >= 2:
                ax.plot(p["rel_change_pollutant"], p["rel_change_co2"], "-", color=colour, lw=1.0, alpha=0.6,
                        zorder=2)
                ax.plot(p["rel_change_pollutant"].iloc[:1], p["rel_change_co2"].iloc[:1], "o", mfc="white",
                        color=colour, ms=3, zorder=2)
                end = p[["rel_change_pollutant", "rel_change_co2"]].to_numpy(float)[-2:]
                ax.annotate("", xy=end[1], xytext=end[0], zorder=2,
                            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.0, "mutation_scale": 9})
        gp = pts[pts[color_by] == g]
        ax.plot(gp["rel_change_pollutant"], gp["rel_change_co2"], "o", color=colour, ms=6, zorder=3,
                label=str(g), mec="black", mew=0.5)
        for row in gp.itertuples(index=False):
            if not (np.isfinite(row.rel_change_pollutant) and np.isfinite(row.rel_change_co2)):
                continue
            text = str(g) if not show_other else f"{g} {getattr(row, other)}"
            labels.append(ax.annotate(text, (row.rel_change_pollutant, row.rel_change_co2), xytext=(5, 4),
                                      textcoords="offset points", fontsize=7, color=colour, zorder=4))
    ax.set_title(title or pollutant)
    from ..plotting import declutter

    declutter(ax, labels)
    return ax


def plot_interaction_bars(changes: pd.DataFrame, ax, *, year: int | None, combined: str = "combined",
                          singles: Sequence[str] = ("energy_structure", "transport", "buildings"),
                          title: str | None = None):
    """Stacked single-measure changes next to the combined change, per pollutant.

    Bars are relative to the baseline (dimensionless, shown in %); the
    interaction is the gap between the combined bar and the stack.

    Parameters
    ----------
    changes : pandas.DataFrame
        Changes table with ``combined`` and every measure of ``singles``.
    ax : matplotlib.axes.Axes
    year : int or None
        The year (None: the table has no years).
    combined, singles : str, sequence of str
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import PercentFormatter

    sel = (changes if year is None else changes[changes["year"] == year]).copy()
    sel["rel"] = relative_change(sel["before"], sel["after"])
    pols = [p for p in _ordered(sel["pollutant"].unique())]
    pos = np.arange(len(pols))
    w = 0.38
    neg_base, pos_base = np.zeros(len(pols)), np.zeros(len(pols))
    for i, s in enumerate(singles):
        v = sel[sel["measure"] == s].set_index("pollutant")["rel"].reindex(pols).fillna(0.0).to_numpy()
        bottom = np.where(v < 0, neg_base, pos_base)
        ax.bar(pos - w / 2, v, w, bottom=bottom, color=_colour(s, i), label=s, edgecolor="white", lw=0.5)
        neg_base += np.minimum(v, 0)
        pos_base += np.maximum(v, 0)
    vc = sel[sel["measure"] == combined].set_index("pollutant")["rel"].reindex(pols).to_numpy()
    ax.bar(pos + w / 2, vc, w, color=_colour(combined, len(singles)), label=combined, edgecolor="white", lw=0.5)
    for k in range(len(pols)):
        inter = vc[k] - (neg_base[k] + pos_base[k])
        ax.annotate(f"{inter * 100:+.2f} pp", (pos[k], min(vc[k], neg_base[k])), xytext=(0, -10),
                    textcoords="offset points", ha="center", va="top", fontsize=7)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(pos, pols)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_ylabel("change against the baseline")
    lo = min(0.0, np.nanmin(vc), neg_base.min())
    ax.set_ylim(lo * 1.25 if lo < 0 else -0.05, max(0.02, np.nanmax(vc), pos_base.max()) * 1.3)
    when = "" if year is None else f"{year}: "
    ax.set_title(title or f"{when}singles stacked (left) vs {combined} (right); label = interaction")
    return ax


def plot_interaction_lines(inter: pd.DataFrame, ax, *, title: str | None = None):
    """Interaction over the years, one line per pollutant, in % of the baseline.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import PercentFormatter

    for pol in _ordered(inter["pollutant"].unique()):
        d = inter[inter["pollutant"] == pol].sort_values("year")
        ax.plot(d["year"].astype(float), d["rel_interaction"], lw=1.4 if pol in (CO2, APE) else 1.0,
                ls="-" if pol in (CO2, APE) else "--", label=pol)
    ax.axhline(0, color="black", lw=0.8)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=1))
    ax.set_ylabel("interaction, % of baseline\n(< 0: reinforcing, > 0: counteracting)")
    ax.set_title(title or "interaction = d combined - sum of d single")
    return ax


def plot_ensemble(cloud: EnsembleCloud, ax, *, color: str | None = None, label: str | None = None,
                  frame: bool = True):
    """Draw an ensemble's points, their mean and the uncertainty ellipse.

    Parameters
    ----------
    cloud : EnsembleCloud
    ax : matplotlib.axes.Axes
    color, label : str, optional
    frame : bool
        Draw the shaded quadrants and axes around the cloud.

    Returns
    -------
    matplotlib.axes.Axes
    """
    color = color or _colour(cloud.scenario, 0)
    pts = cloud.points[["rel_change_pollutant", "rel_change_co2"]].to_numpy(float)
    ell = cloud.ellipse()
    if frame:
        _quadrant_frame(ax, _limits(np.concatenate([pts[:, 0], ell[:, 0]])),
                        _limits(np.concatenate([pts[:, 1], ell[:, 1]])), pollutant_label=cloud.pollutant)
    ax.plot(pts[:, 0], pts[:, 1], ".", ms=2, alpha=0.4, color=color, zorder=2)
    ax.plot(ell[:, 0], ell[:, 1], "-", lw=1.2, color=color, zorder=3,
            label=f"{label or cloud.scenario}: {cloud.level:.0%} ellipse")
    ax.plot(*cloud.mean, "o", color=color, mec="black", ms=6, zorder=4)
    return ax


def write_figures(changes: pd.DataFrame, folder, stem: str, *, figure_year: int | None = None,
                  combined: str | None = None, singles=(), history: bool = False, scope: str = "total",
                  zero_tol: float = 1e-9) -> list:
    """The co-control figures of a changes table: ``<stem>.png``, and ``<stem>_interaction.png`` with a combined one.

    Parameters
    ----------
    changes : pandas.DataFrame
        A changes table (:func:`model_changes`, :func:`read_measures`, :func:`history_changes`).
    folder : str or Path
        Where the figures go (each written whole, then renamed).
    stem : str
        File stem; the place in the title is what precedes ``_synergy`` in it.
    figure_year : int, optional
        Year of the labelled points (model runs and tables with years).
    combined, singles : str, sequence of str
        The combined measure and its parts, for the interaction figure.
    history : bool
        Historical periods (concentrations on the pollutant axis, coloured by city).
    scope : {"total", "1", "2"}
        The CO2 scope, stated in the titles of model runs.
    zero_tol : float
        A relative change within +-``zero_tol`` is zero (dimensionless).

    Returns
    -------
    list of Path
    """
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ..plotting import STYLE, savefig_atomic
    from .coordinates import interaction, synergy_table

    fig_year = figure_year
    spec = (combined, tuple(singles)) if combined is not None else None
    table = synergy_table(changes, zero_tol=zero_tol)
    figdir = Path(folder)
    defined = table["rel_change_pollutant"].notna() & table["rel_change_co2"].notna()
    pols = [p for p in pd.unique(table["pollutant"]) if defined[table["pollutant"] == p].any()]
    if not pols:
        return []
    written = []
    with plt.rc_context(STYLE):
        n = len(pols)
        cols = 2 if n > 1 else 1
        rows = (n + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.8 * rows), squeeze=False)
        has_years = table["year"].notna().any() and not history
        for ax, pol in zip(axes.flat, pols, strict=False):
            plot_coordinates(table, ax, pollutant=pol, year=fig_year if has_years else None,
                             path_years=PATH_YEARS if has_years else None,
                             color_by="city" if history else "measure")
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        place = stem.split("_synergy")[0]
        scope_text = "" if history else f", CO2 scope {'1+2' if scope == 'total' else scope}"
        if history:
            sub = "historical periods, CO2 emissions vs air-quality concentrations (not emissions)"
        elif has_years:
            sub = (f"measures against the baseline: points {fig_year}, paths {PATH_YEARS[0]}-{PATH_YEARS[1]} "
                   "(o start, arrow end)")
        else:
            sub = "measures: after against before"
        fig.suptitle(f"{place}: co-control coordinates ({sub}{scope_text})")
        fig.tight_layout()
        written.append(savefig_atomic(fig, figdir / f"{stem}.png"))
        if spec is not None:
            inter = interaction(changes, combined=spec[0], singles=spec[1], zero_tol=zero_tol)
            if has_years:
                inter = inter[inter["year"] >= 2021]
                fig, (a1, a2) = plt.subplots(1, 2, figsize=(12.5, 4.6), gridspec_kw={"width_ratios": [1.1, 1]})
                plot_interaction_bars(changes, a1, year=fig_year, combined=spec[0], singles=spec[1])
                a1.legend(loc="lower left", fontsize=7)
                plot_interaction_lines(inter, a2)
                a2.legend(ncol=3, fontsize=7)
            else:
                fig, a1 = plt.subplots(figsize=(6.5, 4.6))
                plot_interaction_bars(changes, a1, year=None, combined=spec[0], singles=spec[1])
                a1.legend(loc="lower left", fontsize=7)
            fig.suptitle(f"{place}: do {' + '.join(spec[1])} reinforce each other in {spec[0]}?{scope_text}")
            fig.tight_layout()
            written.append(savefig_atomic(fig, figdir / f"{stem}_interaction.png"))
    return written
