"""Command line for feedback inspection: ``megacity-sd loops | explain | diagrams``.

Wire it into the main parser with ``add_parser(sub)``, where ``sub`` is the
object ``add_subparsers`` returned. Subcommands only parse arguments, check
them (bad input raises :class:`~megacity_sd.errors.UserInputError` before
anything is written) and call :mod:`megacity_sd.loops` and
:mod:`megacity_sd.layout`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from ..errors import UserInputError
from ..io import FIGURES_DIR, announce
from .common import add_engine_arg, add_figure_format_args

__all__ = ["add_parser", "cmd_loops", "cmd_explain", "cmd_diagrams"]

MAX_DEPTH = 10
"""The deepest ``explain --depth``: the trees grow about 1.7-fold a level (165 lines at 4, 116,309 at 16)."""


def _scenario(args):
    from ..scenario import load_scenario

    return load_scenario(args.scenario, city=args.city)


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def cmd_loops(args) -> int:
    """``megacity-sd loops``: every loop, dominance per output, optional knock-outs."""
    import matplotlib.pyplot as plt

    from .. import loops as lp
    from ..io import write_csv_atomic
    from ..plotting import STYLE, savefig_atomic

    if args.timeout <= 0:
        raise UserInputError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    scen = _scenario(args)
    out, figures = Path(args.out), Path(args.figures)
    print(f"megacity-sd: feedback loops of {scen.city} / {scen.name}", flush=True)
    analysis = lp.analyze_loops(scen.constants, timeout=args.timeout)
    table = lp.loops_frame(analysis)
    dom, shares = lp.dominance_table(analysis)
    write_csv_atomic(table, out / "loops.csv")
    write_csv_atomic(dom, out / "dominance.csv")
    scores = analysis.scores.reset_index().melt(id_vars="year", var_name="loop", value_name="relative_score")
    write_csv_atomic(scores, out / "loop_scores.csv")
    counts = table["polarity"].value_counts().to_dict()
    info = analysis.info
    print(f"  {len(table)} loops: {counts.get('R', 0)} reinforcing, {counts.get('B', 0)} balancing"
          + (f", {counts['U']} undetermined" if counts.get("U") else ""))
    print(f"  LTM discovery scored {info['reported']} loops (of {info['retained_loops']} that passed its "
          f"importance filter; enumeration complete: {info['enumeration_complete']}, truncated: "
          f"{info['truncated']})")
    found = {n for n in table["name"] if n}
    print("  named loops (the model's switches cut them; --ids lists the loop ids of each):")
    for nl in analysis.named:
        ids = table.loc[table["name"] == nl.name, "loop"].tolist()
        status = (", ".join(ids) if args.ids else f"{len(ids)} loop(s)") if nl.name in found else "NOT FOUND"
        print(f"    ({nl.polarity}) {nl.name:<34} {status}")
    announce(f"wrote {out / 'loops.csv'}, {out / 'dominance.csv'} and {out / 'loop_scores.csv'}")
    files = []
    with plt.rc_context(STYLE):
        for label, var in lp.OUTPUTS.items():
            fig, axes = plt.subplots(2, 1, figsize=(11, 6.8), height_ratios=[3, 1.4], sharex=True)
            rows = dom[dom["output"] == label]
            lp.plot_loop_scores(shares[label], rows, analysis, axes=axes,
                                title=f"Loops driving {var}: {scen.city}, {scen.name} (Loops That Matter)")
            files.append(savefig_atomic(fig, figures / f"loop_scores_{_slug(label)}.png"))
    announce(f"wrote {len(files)} figures into {figures}/")
    paths = dict(zip(table["loop"], table["variables"], strict=True))
    for label in lp.OUTPUTS:
        rows = dom[dom["output"] == label]
        if args.ids:
            print(f"\n  {label}: strongest loop per period (share of the output's scored loops)")
            for r in rows.itertuples(index=False):
                name = analysis.by_id[r.top_loop].name
                print(f"    {r.start_year}-{r.end_year}  {r.top_loop} {r.top_polarity} {r.top_share:.2f}"
                      + (f"  {name}" if name else ""))
            continue
        print(f"\n  {label}: the loops that dominate it longest (years as the strongest loop; mean share of "
              "the scored loops); --ids for every period")
        for r in _dominant(rows).head(3).itertuples(index=False):
            name = analysis.by_id[r.loop].name or _short(paths.get(r.loop, ""))
            print(f"    {r.loop} ({r.polarity}) {r.years:>2} yr, {r.first}-{r.last}, share {r.share:.2f}  {name}")
    if args.knockout:
        ko = lp.knockouts(scen.constants, engine=args.engine, named=analysis.named)
        write_csv_atomic(ko, out / "knockouts.csv")
        with plt.rc_context(STYLE):
            axes = lp.plot_knockouts(ko, title=f"Knock-outs: each named loop cut by its switch "
                                     f"({scen.city}, {scen.name}; engine {args.engine})")
            path = savefig_atomic(axes[0].figure, figures / "knockouts.png")
        announce(f"\nwrote {out / 'knockouts.csv'} and {path}")
        wide = ko.pivot_table(index="loop", columns="indicator", values="change", sort=False)
        print(wide.round(2).to_string())
    return 0


def _dominant(rows):
    """Per loop that is ever the strongest: years as the strongest, first and last year, mean share."""
    import pandas as pd

    years = rows["end_year"] - rows["start_year"] + 1
    df = pd.DataFrame({"loop": rows["top_loop"], "polarity": rows["top_polarity"], "years": years,
                       "first": rows["start_year"], "last": rows["end_year"],
                       "weighted": rows["top_share"] * years})
    out = df.groupby(["loop", "polarity"], as_index=False).agg(years=("years", "sum"), first=("first", "min"),
                                                               last=("last", "max"), weighted=("weighted", "sum"))
    out["share"] = out["weighted"] / out["years"]
    return out.sort_values(["years", "share"], ascending=False, kind="stable")[
        ["loop", "polarity", "years", "first", "last", "share"]]


def _short(path: str, width: int = 90) -> str:
    """A loop's variable path, cut to ``width`` characters."""
    return path if len(path) <= width else path[:width - 3].rsplit(" -> ", 1)[0] + " -> ..."


def cmd_explain(args) -> int:
    """``megacity-sd explain VARIABLE``: declaration, causes, uses and loops."""
    from .. import loops as lp

    if not 0 <= args.depth <= MAX_DEPTH:  # the trees grow about 1.7-fold a level: 10 levels are some 4,000 lines
        raise UserInputError(f"--depth {args.depth}: not allowed; allowed: 0 to {MAX_DEPTH}")
    lp.resolve_variable(args.variable)  # fails fast on an unknown name
    scen = _scenario(args)
    text = lp.explain(args.variable, depth=args.depth, constants=scen.constants, sources=scen.sources)
    print(text)
    return 0


def cmd_diagrams(args) -> int:
    """``megacity-sd diagrams``: one stock-and-flow picture per sector and an overview."""
    from .. import layout

    out = Path(args.out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = layout.write_diagrams(out, progress=not args.no_progress)
    announce(f"wrote {len(files)} diagrams into {out}/")
    for f in files:
        print(f"  {f}")
    return 0


def add_parser(subparsers) -> None:
    """Register ``loops``, ``explain`` and ``diagrams`` on the main parser's subparsers."""
    from ..scenario import DEFAULT_CITY

    p = subparsers.add_parser("loops", help="every feedback loop, its polarity and sectors, loop dominance "
                              "over time (Loops That Matter) and, with --knockout, loop knock-outs")
    p.add_argument("--city", default=DEFAULT_CITY, help="city name or city YAML file (default: %(default)s)")
    p.add_argument("--scenario", default="baseline", help="scenario name or YAML file (default: %(default)s)")
    p.add_argument("--out", default="output/loops", help="folder for loops.csv, dominance.csv, "
                   "loop_scores.csv and knockouts.csv (default: %(default)s)")
    p.add_argument("--figures", default=f"{FIGURES_DIR}/loops", help="folder for the figures (default: %(default)s)")
    p.add_argument("--knockout", action="store_true", help="cut each named loop with its switch and report "
                   "the effect on CO2 peak year, cumulative CO2 2021-2060, PM2.5 in 2035, population in 2060")
    p.add_argument("--ids", action="store_true", help="print the loop ids of each named loop and the strongest "
                   "loop of every period (loops.csv and dominance.csv hold them all)")
    add_engine_arg(p, what="engine for the knock-out runs")
    add_figure_format_args(p)
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds allowed for pysimlin's loop discovery (default: %(default)s)")
    p.set_defaults(func=cmd_loops)

    e = subparsers.add_parser("explain", help="a variable's equation, units, range, comment and source, its "
                              "causes and uses trees, and the loops it is part of")
    e.add_argument("variable", help="model variable name (case and spacing are ignored)")
    e.add_argument("--depth", type=int, default=2, help=f"levels of the causes and uses trees, 0 to {MAX_DEPTH} "
                   "(default: %(default)s)")
    e.add_argument("--city", default=DEFAULT_CITY, help="city name or city YAML file (default: %(default)s)")
    e.add_argument("--scenario", default="baseline", help="scenario name or YAML file (default: %(default)s)")
    e.set_defaults(func=cmd_explain)

    d = subparsers.add_parser("diagrams", help="stock-and-flow diagrams: one per sector and an overview of the "
                              "sectors and their links")
    d.add_argument("--out", default=f"{FIGURES_DIR}/diagrams", help="output folder (default: %(default)s)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar of the pictures")
    add_figure_format_args(d)
    d.set_defaults(func=cmd_diagrams)
