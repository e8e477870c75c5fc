"""Figures of local STIRPAT: the megacities' local elasticities over time against the global fit."""

from __future__ import annotations

from collections.abc import Sequence

from .local import LocalFit
from .local_data import MEGACITY_PROVINCE

__all__ = [
    "plot_local_elasticities",
    "write_local_figure",
]


_LINE_COLORS = ("#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f")


def _highlight(fit: LocalFit, entities: Sequence[str] | None) -> list[str]:
    have = list(dict.fromkeys(fit.frame[fit.entity].astype(str)))
    if entities:
        return [e for e in entities if e in have]
    mega = [p for p in dict.fromkeys(MEGACITY_PROVINCE.values()) if p in have]
    return mega or have[:5]


def plot_local_elasticities(fit: LocalFit, ax, term: str, entities: Sequence[str] | None = None):
    """Local estimate of ``term`` over time for ``entities`` (bands: intervals) and the global estimate.

    Returns
    -------
    matplotlib.axes.Axes
    """
    est = fit.estimates()
    est = est[est["term"] == term]
    g = fit.global_fit.table(fit.alpha).set_index("term")
    x0, x1 = est[fit.time].min(), est[fit.time].max()
    ax.axhspan(g.at[term, "ci_low"], g.at[term, "ci_high"], color="#a0aec0", alpha=0.35, lw=0)
    ax.axhline(g.at[term, "estimate"], color="black", ls="--", lw=1.2, label="global (pooled OLS)")
    for i, ent in enumerate(_highlight(fit, entities)):
        s = est[est[fit.entity].astype(str) == ent].sort_values(fit.time)
        c = _LINE_COLORS[i % len(_LINE_COLORS)]
        label = ent + (" (Guangzhou, Shenzhen)" if ent == "Guangdong" else "")
        ax.plot(s[fit.time], s["estimate"], color=c, lw=1.6, label=label)
        ax.fill_between(s[fit.time], s["ci_low"], s["ci_high"], color=c, alpha=0.15, lw=0)
    ax.set_xlim(x0, x1)
    ax.set_title({"ln_population": "population (P)", "ln_gdp_per_capita": "GDP per capita (A)",
                  "ln_energy_intensity": "energy intensity (T)"}.get(term, term))
    ax.set_xlabel(fit.time)
    ax.set_ylabel(f"elasticity of {fit.dependent}")
    return ax


def write_local_figure(fit: LocalFit, out_dir, entities: Sequence[str] | None = None, name: str | None = None):
    """Write ``stirpat_<method>_elasticities.png``: local elasticities over time against the global fit.

    Returns
    -------
    pathlib.Path
        The file written (suffix as set by :func:`megacity_sd.plotting.figure_format`).
    """
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ..plotting import STYLE, savefig_atomic

    slopes = [t for t in fit.terms if t != "const"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(slopes), figsize=(5.2 * len(slopes), 4.2), squeeze=False)
        for ax, term in zip(axes[0], slopes, strict=True):
            plot_local_elasticities(fit, ax, term, entities)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), bbox_to_anchor=(0.5, 0.0))
        p = "" if fit.variability is None else "; local variation p = " + ", ".join(
            f"{r.term.removeprefix('ln_')} {r.p_value:.3f}" for r in fit.variability.itertuples(index=False)
            if r.term != "const")
        fig.suptitle(f"{fit.method.upper()} STIRPAT: local elasticities of {fit.dependent} (bands: "
                     f"{100 * (1 - fit.alpha):.0f} % intervals) against the global fit\n{fit.bandwidth_text()}{p}",
                     fontsize=9)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        return savefig_atomic(fig, Path(out_dir) / (name or f"stirpat_{fit.method}_elasticities.png"))
