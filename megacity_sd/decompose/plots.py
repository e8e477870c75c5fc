"""The waterfall figure of a decomposition (matplotlib; a decomposition in, axes out)."""

from __future__ import annotations

import numpy as np

from .decomposition import Decomposition
from .identities import POLLUTANTS

__all__ = [
    "plot_waterfall",
    "write_figures",
]


def plot_waterfall(dec: Decomposition, ax, *, scale: float = 1.0, unit: str | None = None):
    """Waterfall of a decomposition: start level, one bar per factor, end level.

    Additive: each bar is the factor's effect. Multiplicative: the bars apply
    the factors' ratios in the order shown (start * D_1 * D_2 ...), so their
    heights depend on that order while the end is exact.

    Parameters
    ----------
    dec : Decomposition
    ax : matplotlib.axes.Axes
    scale : float
        Multiplier for the levels, from model units (the pollutant's display
        scale, :func:`megacity_sd.units.display`).
    unit : str, optional
        Axis label (default: the pollutant's model unit).

    Returns
    -------
    matplotlib.axes.Axes
    """
    labels = ["start"] + list(dec.effects.index) + ["end"]
    level = dec.start
    bottoms, heights, colors = [0.0], [dec.start], ["#777777"]
    for v in dec.effects.to_numpy():
        new = level + v if dec.form == "additive" else level * v
        bottoms.append(min(level, new))
        heights.append(abs(new - level))
        colors.append("#d95f02" if new > level else "#1b9e77")
        level = new
    bottoms.append(0.0)
    heights.append(dec.end)
    colors.append("#444444")
    x = np.arange(len(labels))
    ax.bar(x, np.asarray(heights) * scale, bottom=np.asarray(bottoms) * scale, color=colors, width=0.7)
    for i, (b, h) in enumerate(zip(bottoms, heights, strict=True)):
        if 0 < i < len(labels) - 1:
            v = dec.effects.iloc[i - 1]
            text = f"{v * scale:+.3g}" if dec.form == "additive" else f"x{v:.3f}"
            ax.annotate(text, (i, (b + h) * scale), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [lab.replace("_", " ") for lab in labels], rotation=35, ha="right")
    ax.set_ylabel(unit or POLLUTANTS.get(dec.pollutant, ("", dec.unit))[1])
    if "_vs_" in dec.scenario:
        end_label, start_label = dec.scenario.split("_vs_", 1)
    else:
        start_label, end_label = (dec.period.split("-") + [""])[:2]
    ax.set_title(f"{dec.city} {dec.pollutant}: {dec.scenario} {dec.period} (LMDI-I {dec.form}; "
                 f"{start_label} -> {end_label})")
    return ax


def write_figures(decs, folder) -> list:
    """One waterfall figure per decomposition, ``<city>_<scenario>_decomposition_<pollutant>.png`` in ``folder``.

    Levels are shown in the display units of :mod:`megacity_sd.units` (Mt CO2/yr, kt/yr); each file is written
    whole, then renamed (:func:`megacity_sd.plotting.savefig_atomic`).

    Parameters
    ----------
    decs : sequence of Decomposition
    folder : str or Path

    Returns
    -------
    list of Path
    """
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ..plotting import STYLE, savefig_atomic
    from ..units import display

    written = []
    with plt.rc_context(STYLE):
        for d in decs:
            scale, unit = display(POLLUTANTS[d.pollutant][1])
            fig, ax = plt.subplots(figsize=(7.5, 4.4))
            plot_waterfall(d, ax, scale=scale, unit=unit)
            fig.tight_layout()
            written.append(savefig_atomic(fig, Path(folder) / f"{d.city}_{d.scenario}_decomposition_{d.pollutant}.png"))
    return written
