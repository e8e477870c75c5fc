"""The calibration figure: model against data, fit and holdout windows (matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..io import FIGURES_DIR
from ..units import display
from .estimate import CalibrationResult

__all__ = [
    "plot_calibration",
    "write_calibration_figure",
]


def plot_calibration(result: CalibrationResult, *, last_year: int = 2022):
    """Model against data for every series of a city, one panel each.

    Filled dots: in-sample data (fitted); open dots: holdout data; squares:
    anchors (fitted whatever their year: projections, or the latest reported
    value); solid line: calibrated model; dashed grey: uncalibrated; the
    holdout window is shaded. Growth anchors are drawn as ratios.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import STYLE

    obs = result.observations
    names = list(dict.fromkeys(obs["series"]))
    ncol = min(3, len(names))
    nrow = math.ceil(len(names) / ncol)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.9 * nrow), squeeze=False, layout="constrained")
        first = result.config.in_sample[0]
        for ax, name in zip(axes.flat, names, strict=False):
            sel = obs[obs["series"] == name]
            spec = result.config.series[name]
            scale, label = display(spec.units, spec.model)  # shares in %
            if spec.relative_to is not None:
                scale, label = 1.0, "ratio"
            last = max(last_year, int(np.ceil(sel["time"].max())))
            for sim, style in ((result.simulated_initial, dict(color="0.55", ls="--", lw=1.1, label="uncalibrated")),
                               (result.simulated, dict(color="#d95f02", lw=1.6, label="calibrated"))):
                s = sim[spec.model]
                if spec.relative_to is not None:
                    s = s / float(np.interp(spec.relative_to, s.index.to_numpy(), s.to_numpy()))
                s = s[(s.index >= first) & (s.index <= last)]
                ax.plot(s.index, s.to_numpy() * scale, **style)
            ins, hold = sel[sel["period"] == "in_sample"], sel[sel["period"] == "holdout"]
            anchor = sel[sel["period"] == "anchor"]
            ax.plot(ins["time"], ins["value"] * scale, "o", ms=3.5, color="black", label="data (fitted)"
                    if spec.role == "fit" else "data (in-sample window)")
            ax.plot(hold["time"], hold["value"] * scale, "o", ms=3.5, mfc="white", color="black",
                    label="data (holdout)")
            ax.plot(anchor["time"], anchor["value"] * scale, "s", ms=3.5, color="#7570b3",
                    label="anchor (fitted, any year)")
            ax.axvspan(result.config.holdout[0] - 0.5, result.config.holdout[1] + 0.5, color="#1b9e77", alpha=0.08,
                       lw=0)
            st = result.statistics[result.statistics["variable"] == name].set_index("period")
            parts = [f"{per.replace('_', '-')} {st.loc[per, 'mape']:.1f} %" for per in st.index
                     if st.loc[per, "n"] > 0]
            role = "" if spec.role == "fit" else " (not fitted)"
            rel = f" / {spec.relative_to}" if spec.relative_to is not None else ""
            ax.set_title(f"{name}{rel}{role}\nMAPE {', '.join(parts)}", fontsize=8.5)
            ax.set_ylabel("ratio" if spec.relative_to is not None else label)
            ax.set_xlim(first - 0.5, last + 0.5)
            lo_y = min(np.nanmin(sel["value"] * scale), ax.get_ylim()[0])
            ax.set_ylim(bottom=0 if lo_y > 0 and spec.units != "person" else None)
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        legend = {}
        for ax in list(axes.flat)[:len(names)]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if len(ax.lines) and h.get_xdata().size:
                    legend.setdefault(lab, h)
        fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=5)
        fig.suptitle(f"{result.city}: model against history (fit {result.config.in_sample[0]}-"
                     f"{result.config.in_sample[1]}, holdout {result.config.holdout[0]}-{result.config.holdout[1]} "
                     "shaded)")
    return fig


def write_calibration_figure(result: CalibrationResult, folder: str | Path = FIGURES_DIR) -> Path:
    """Write ``<folder>/<city>_calibration.png`` (temporary name, then renamed)."""
    from ..plotting import savefig_atomic

    return savefig_atomic(plot_calibration(result), Path(folder) / f"{result.city}_calibration.png")
