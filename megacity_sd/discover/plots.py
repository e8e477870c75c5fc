"""Figures of a discovery: PRIM's peeling trade-off, the box, the feature scores."""

from __future__ import annotations

from .prim import Discovery, _fmt

__all__ = [
    "plot_tradeoff",
    "plot_box",
    "plot_features",
]


def plot_tradeoff(d: Discovery, ax=None):
    """PRIM's peeling trajectory: coverage against density, coloured by restricted dimensions; the kept box marked.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.4), layout="constrained") if ax is None else (ax.figure, ax)
    for k, box in enumerate(d.prim):
        traj = box.peeling_trajectory
        sc = ax.scatter(traj["coverage"], traj["density"], c=traj["res_dim"], cmap="viridis", s=18,
                        marker="os^"[k % 3], label=f"box {k + 1} trajectory")
        i = box._cur_box
        ax.scatter([traj["coverage"].iloc[i]], [traj["density"].iloc[i]], s=140, facecolors="none",
                   edgecolors="red", lw=1.5, label=f"box {k + 1} kept")
    if d.prim:
        fig.colorbar(sc, ax=ax, label="restricted dimensions")
    ax.set_xlabel("coverage (share of the runs meeting the targets that lie in the box)")
    ax.set_ylabel("density (share of runs in the box meeting them)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.set_title(f"{d.city}, {d.targets.name}: PRIM peeling trade-off ({len(d.params)} runs, "
                 f"{100 * d.met['all targets'].mean():.1f} % meet)")
    return fig


def plot_box(d: Discovery, box: int = 1):
    """The box: each restricted input's range within its sampled range, with density and coverage.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    rows = d.boxes[(d.boxes["box"] == box) & (d.boxes["parameter"] != "(none)")]
    fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.45 * max(len(rows), 1)), layout="constrained")
    for k, r in enumerate(rows.itertuples()):
        lo, hi = d.ranges[r.parameter]
        a, b = (r.low - lo) / (hi - lo), (r.high - lo) / (hi - lo)
        ax.plot([0, 1], [k, k], color="0.8", lw=6, solid_capstyle="butt")
        ax.plot([a, b], [k, k], color="#1b9e77", lw=6, solid_capstyle="butt")
        u = d.units.get(r.parameter, "")
        ax.text(1.02, k, f"{_fmt(r.low, '')} - {_fmt(r.high, u)}  (range {_fmt(lo, '')} - {_fmt(hi, u)}; "
                f"qp {r.qp_value:.2g})", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), list(rows["parameter"]))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
    ax.set_xlabel("position in the sampled range (0 = baseline level or lowest value, 1 = highest)")
    first = d.boxes[d.boxes["box"] == box].iloc[0]
    ax.set_title(f"{d.city}, {d.targets.name}, box {box}: density {100 * first['density']:.0f} %, coverage "
                 f"{100 * first['coverage']:.0f} %, mass {100 * first['mass']:.0f} %", fontsize=9)
    ax.grid(False)
    return fig


def plot_features(d: Discovery, top: int = 15):
    """Heat map of the feature scores: inputs (the most important first) by target.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    wide = d.features.pivot_table(index="parameter", columns="target", values="score", sort=False)
    cols = [c for c in list(d.met.columns) if c in wide.columns]
    wide = wide[cols]
    order = wide.max(axis=1).sort_values(ascending=False).index[:top]
    wide = wide.loc[order]
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * len(cols), 1.0 + 0.32 * len(wide)), layout="constrained")
    im = ax.imshow(wide.to_numpy(), cmap="viridis", aspect="auto", vmin=0)
    ax.set_xticks(range(len(cols)), cols, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(wide)), list(wide.index), fontsize=7)
    for i in range(wide.shape[0]):
        for j in range(wide.shape[1]):
            v = wide.iat[i, j]
            if v == v:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if v < 0.3 else "k")
    fig.colorbar(im, ax=ax, label="feature score (extra trees)")
    ax.set_title(f"{d.city}, {d.targets.name}: what matters for meeting each target", fontsize=9)
    ax.grid(False)
    return fig
