"""Command line: ``megacity-sd discover | seek | robust``: which paths meet the targets, in which futures.

* ``discover --city C --targets FILE [--n N] [--uncertain]``: samples the
  levers (and the uncertain parameters), runs them through the ensemble
  runner, and describes with PRIM the box of lever settings whose runs meet
  the targets; writes ``boxes.csv`` (``box, parameter, low, high, coverage,
  density, mass, qp_value``), ``peeling.csv``, ``feature_scores.csv``,
  ``targets_met.csv``, ``discover_runs.csv`` and the peeling trade-off, box and
  feature-score figures; prints the box in words.
* ``seek --city C --targets FILE [--weight LEVER=W ...]``: the least-effort
  lever setting that meets every target, written as a scenario file that
  ``megacity-sd run --scenario FILE`` accepts (and checked by running it);
  ``seek.csv``, ``seek_targets.csv``, a figure. Exit code 1 when no setting
  meets the targets (the tables are written, the scenario file is not).
* ``robust --city C --targets FILE [--scenario S ...] [--n N]``: each package
  over N futures; ``robust.csv``, ``robust_runs.csv``, ``futures.csv``, a figure.

Targets are YAML files of conditions (:mod:`megacity_sd.targets`); the ones
shipped are in ``scenarios/targets/``. Bad input raises
:class:`~megacity_sd.errors.UserInputError` (one line) before anything runs.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..errors import UserInputError
from ..io import announce
from .common import add_engine_arg, add_output_args

__all__ = ["add_parser", "cmd_discover", "cmd_seek", "cmd_robust"]


def add_parser(subparsers) -> list[argparse.ArgumentParser]:
    """Register ``discover``, ``seek`` and ``robust`` on an argparse subparsers object.

    Returns
    -------
    list of argparse.ArgumentParser
        The three subcommands' parsers (their ``func`` defaults are the ``cmd_*`` functions).
    """
    from ..scenario import DEFAULT_CITY

    def common(p, *, runs: bool = True):
        p.add_argument("--city", default=DEFAULT_CITY, help="city name or city YAML file (default: %(default)s)")
        p.add_argument("--targets", required=True, metavar="FILE", help="target file: a name in scenarios/targets/ "
                       "(e.g. shanghai_plan, national, co_control) or the path of a YAML file")
        p.add_argument("--seed", type=int, default=1, help="seed of the Latin hypercube (default: %(default)s)")
        if runs:
            p.add_argument("--workers", type=int, help="local worker processes (default: every CPU; 0: this process)")
            p.add_argument("--no-progress", action="store_true", help="no progress bar")
            add_engine_arg(p)

    d = subparsers.add_parser(
        "discover", help="scenario discovery: which lever settings (and futures) meet the targets (PRIM)",
        description="Sample the levers (and with --uncertain the uncertain parameters of scenarios/uncertainty.yaml) "
        "by Latin hypercube, run them, and find with PRIM (EMA Workbench) the box of settings whose runs meet every "
        "target; feature scores (extra trees) say what matters for each target. Ensembles are kept in OUT/ensembles/ "
        "and resume.")
    common(d)
    d.add_argument("--n", type=int, default=10_000, help="runs (default: %(default)s; at least 100)")
    d.add_argument("--uncertain", action="store_true", help="also sample the uncertain parameters")
    d.add_argument("--uncertainty", metavar="FILE", help="uncertain parameters (default: scenarios/uncertainty.yaml)")
    d.add_argument("--boxes", type=int, default=1, help="PRIM boxes to look for, 1-5 (default: %(default)s)")
    d.add_argument("--no-features", action="store_true", help="skip the feature scores")
    add_output_args(d)
    d.set_defaults(func=cmd_discover)

    s = subparsers.add_parser(
        "seek", help="the least-effort lever setting that meets the targets, as a scenario file",
        description="Effort: the weighted sum of each lever's normalised distance from the city's baseline level "
        "(0 at the baseline, 1 at the model's maximum). Optimiser: scipy's SLSQP with batched finite-difference "
        "gradients from several starts, then each lever lowered as far as the targets allow. Writes OUT/seek.csv, "
        "OUT/seek_targets.csv and the scenario file (checked by running it). Exit code 1 when no setting meets the "
        "targets.")
    common(s, runs=False)
    s.add_argument("--weight", action="append", metavar="LEVER=W", help="weight of a lever's effort (default 1), "
                   "e.g. 'carbon price=2'; repeatable")
    s.add_argument("--lever", action="append", metavar="LEVER", help="search only these levers (the others stay at "
                   "the baseline); repeatable (default: every lever)")
    s.add_argument("--starts", type=int, default=1, help="local searches, 1-20: from every lever at its maximum, "
                   "then from the best settings of a Latin hypercube sample (default: %(default)s)")
    s.add_argument("--name", help="name of the scenario written (default: least_effort_<targets>)")
    s.add_argument("--scenario-file", metavar="FILE", help="where to write the scenario (default: OUT/<name>.yaml)")
    s.add_argument("--pareto", action="store_true", help="also the Pareto front of effort, CO2 in 2060 and PM2.5 in "
                   "2035 among the settings that meet the targets (EMA Workbench's epsilon-NSGA-II, seeded with the "
                   "least-effort setting): OUT/pareto.csv and a figure")
    s.add_argument("--nfe", type=int, default=5000, help="model runs of the Pareto search, 500-200000 "
                   "(default: %(default)s)")
    add_output_args(s)
    s.set_defaults(func=cmd_seek)

    r = subparsers.add_parser(
        "robust", help="each package over N futures: share meeting the targets, regret, robust packages",
        description="Each scenario (package) is run over the same N futures, a Latin hypercube of "
        "scenarios/uncertainty.yaml: the share of futures in which it meets each target and all of them, and its "
        "regret against the best package of each future. A package is robust when it meets every target in at "
        "least --threshold of the futures.")
    common(r)
    r.add_argument("--scenario", action="append", help="a package: scenario name or YAML file; repeatable "
                   "(default: the eight standard scenarios)")
    r.add_argument("--n", type=int, default=200, help="futures (default: %(default)s; at least 10)")
    r.add_argument("--threshold", type=float, default=0.9, help="share of futures of a robust package "
                   "(default: %(default)s)")
    r.add_argument("--uncertainty", metavar="FILE", help="uncertain parameters (default: scenarios/uncertainty.yaml)")
    add_output_args(r)
    r.set_defaults(func=cmd_robust)
    return [d, s, r]


# ----------------------------------------------------------------------------- shared checks


def _setup(args):
    """City base scenario and targets, checked before anything runs."""
    from ..scenario import load_scenario
    from ..targets import load_targets

    base = load_scenario("baseline", city=args.city)
    targets = load_targets(args.targets, city=base.city)
    return base, targets


def _options(args):
    from ..discover import RunOptions

    if args.workers is not None and args.workers < 0:
        raise UserInputError(f"--workers {args.workers}: not allowed; allowed: an integer >= 0")
    return RunOptions(store=Path(args.out) / "ensembles", engine=args.engine, workers=args.workers,
                      progress=not args.no_progress)


def _check_int(value: int, option: str, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UserInputError(f"{option} {value}: out of range; allowed: {low}-{high}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "targets"


def _figures(args, pairs) -> list[Path]:
    """Write (figure function, file name) pairs into --figures, unless --no-figures."""
    if args.no_figures:
        return []
    import matplotlib.pyplot as plt

    from ..plotting import STYLE, savefig_atomic

    written = []
    with plt.rc_context(STYLE):
        for make, name in pairs:
            written.append(savefig_atomic(make(), Path(args.figures) / name))
    return written


def _print_targets(targets) -> None:
    print(f"targets '{targets.name}' ({targets.path}):")
    for t in targets.targets:
        print(f"  - {t.name}: {t.condition.describe()}")


# ----------------------------------------------------------------------------- discover


def cmd_discover(args) -> int:
    """Run ``megacity-sd discover``: validate, sample, run, PRIM, feature scores; write tables and figures."""
    from ..discover import discover, plot_box, plot_features, plot_tradeoff
    from ..io import write_csv_atomic

    base, targets = _setup(args)
    _check_int(args.n, "--n", 100, 1_000_000)
    _check_int(args.boxes, "--boxes", 1, 5)
    opts = _options(args)
    if args.uncertain:
        from ..sensitivity import load_uncertainty

        load_uncertainty(args.uncertainty, scenario=base)  # checked now, before any run
    elif args.uncertainty is not None:
        raise UserInputError("--uncertainty: only with --uncertain; allowed: add --uncertain, or leave it out")
    print(f"megacity-sd discover: {base.city}, {args.n} runs, levers" + (" and uncertain parameters"
          if args.uncertain else "") + f", engine {opts.engine}, seed {args.seed}", flush=True)
    _print_targets(targets)
    d = discover(args.city, targets, n=args.n, uncertain=args.uncertain,
                 seed=args.seed, opts=opts, n_boxes=args.boxes, features=not args.no_features,
                 uncertainty_file=args.uncertainty)
    out = Path(args.out)
    shares = d.shares().rename_axis("target").reset_index(name="share_met")
    shares.insert(1, "condition", [t.condition.describe() for t in targets.targets] + ["every target above"])
    written = [write_csv_atomic(d.boxes, out / "boxes.csv"), write_csv_atomic(shares, out / "targets_met.csv"),
               write_csv_atomic(d.features, out / "feature_scores.csv"),
               write_csv_atomic(d.runs_table(), out / "discover_runs.csv")]
    if d.prim:
        import pandas as pd

        traj = pd.concat([b.peeling_trajectory.assign(box=k + 1, kept=lambda t, b=b: t.index == b._cur_box)
                          for k, b in enumerate(d.prim)], ignore_index=True)
        written.append(write_csv_atomic(traj[["box", "id", "coverage", "density", "mass", "res_dim", "n", "k",
                                              "kept"]], out / "peeling.csv"))
    print("\nShare of runs meeting each target:")
    for r in shares.itertuples():
        print(f"  {100 * r.share_met:6.1f} %  {r.target}")
    n_ok = int(d.met["all targets"].sum())
    if n_ok == 0:
        print("\nNo run meets every target: no box to describe. The targets that no run meets:",
              ", ".join(c for c in targets.names if not d.met[c].any()) or "(each is met by some run, never all "
              "together)")
    elif n_ok == len(d.met):
        print("\nEvery run meets every target: the whole sampled space is the box.")
    for k, w in enumerate(d.words, start=1):
        print(f"\nBox {k}: {w}")
    if len(d.features):
        top = d.features[d.features["target"] == "all targets"].nlargest(5, "score")
        if len(top):
            print("\nWhat matters most for meeting every target (feature scores): " +
                  ", ".join(f"{r.parameter} {r.score:.2f}" for r in top.itertuples()))
    slug = f"{d.city}_{_slug(targets.name)}"
    pairs = []
    if d.prim:
        pairs += [(lambda: plot_tradeoff(d), f"{slug}_prim_tradeoff.png"),
                  (lambda: plot_box(d, 1), f"{slug}_prim_box.png")]
    if len(d.features):
        pairs.append((lambda: plot_features(d), f"{slug}_feature_scores.png"))
    figs = _figures(args, pairs)
    announce(f"\nwrote {', '.join(str(p) for p in written)}" + (f"; figures: {', '.join(str(p) for p in figs)}"
                                                                 if figs else ""))
    print(f"time: runs {d.seconds['runs']:.1f} s, PRIM {d.seconds['prim']:.1f} s, feature scores "
          f"{d.seconds['features']:.1f} s")
    return 0


# ----------------------------------------------------------------------------- seek


def _weights(args, all_levers):
    from ..discover import lever_by_name

    w = {lv.name: 1.0 for lv in all_levers}
    for text in args.weight or []:
        if "=" not in text:
            raise UserInputError(f"--weight {text}: not LEVER=W; allowed: e.g. --weight 'carbon price=2'")
        name, value = (p.strip() for p in text.rsplit("=", 1))
        lv = lever_by_name(all_levers, name, "--weight")
        try:
            v = float(value)
        except ValueError:
            raise UserInputError(f"--weight {text}: '{value}' is not a number; allowed: a number >= 0") from None
        if not (v >= 0 and v < float("inf")):
            raise UserInputError(f"--weight {text}: {value} not allowed; allowed: a finite number >= 0")
        w[lv.name] = v
    return w


def cmd_seek(args) -> int:
    """Run ``megacity-sd seek``: the least-effort setting; write it as a scenario file and check it by a run."""
    import numpy as np

    from ..discover import lever_by_name, levers
    from ..io import write_csv_atomic, write_text_atomic
    from ..robust import check_scenario_file, least_effort, model_margins, scenario_yaml
    from ..scenario import list_cities

    base, targets = _setup(args)
    _check_int(args.starts, "--starts", 1, 20)
    if args.pareto:
        _check_int(args.nfe, "--nfe", 500, 200_000)
    all_levers = levers(base.constants)
    weights = _weights(args, all_levers)
    search = all_levers if not args.lever else list({lever_by_name(all_levers, n).name: lever_by_name(all_levers, n)
                                                      for n in args.lever}.values())
    name = args.name or f"least_effort_{_slug(targets.name)}"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in list_cities():
        raise UserInputError(f"--name {name}: not allowed; allowed: letters, digits, '_', '.', '-', and not a city "
                             "name")
    path = Path(args.scenario_file) if args.scenario_file else Path(args.out) / f"{name}.yaml"
    if path.suffix not in (".yaml", ".yml") or path.is_dir():
        raise UserInputError(f"--scenario-file {path}: allowed: a file name ending in .yaml")
    print(f"megacity-sd seek: {base.city}, {len(search)} lever(s) searched, seed {args.seed}", flush=True)
    _print_targets(targets)
    w = np.array([weights[lv.name] for lv in search])
    print(f"searching: SLSQP, {len(search) + 1} model runs per step, from {args.starts} start(s) ...", flush=True)
    res = least_effort(search, model_margins(targets, base.constants, search), weights=w, seed=args.seed,
                       starts=args.starts)
    out = Path(args.out)
    table = res.table()
    ttab = targets.table()[["target", "reads"]].assign(margin=res.margins, met=res.margins <= 0)
    written = [write_csv_atomic(table, out / "seek.csv"), write_csv_atomic(ttab, out / "seek_targets.csv")]
    print(f"\n{res.message}; {res.evaluations} model runs")
    if not res.met:
        print("No lever setting meets every target. Missed even with every searched lever at its maximum:")
        for r in ttab[~ttab["met"]].itertuples():
            print(f"  - {r.target}: {r.reads}")
        announce(f"wrote {', '.join(str(p) for p in written)}")
        return 1
    text, constants = scenario_yaml(res, name=name, city=base.city, targets=targets)
    met = check_scenario_file(text, file_name=path.name, city=args.city, targets=targets)  # before keeping it
    written.append(write_text_atomic(text, path))
    print(f"\nLeast-effort setting for {base.city} (total weighted effort {res.total:.3f}; effort = share of the way "
          "from the city's baseline level to the lever's maximum):")
    for r in table[table["effort"] > 0].sort_values("weighted_effort", ascending=False).itertuples():
        print(f"  {r.lever:<36} {constants.get(r.lever, r.value):>12.4g} {r.units:<10} effort {r.effort:.3g}"
              + (f" x weight {r.weight:g}" if r.weight != 1 else ""))
    ok = bool(met["all targets"].iloc[0])
    print(f"checked: 'megacity-sd run --city {args.city} --scenario {path}' "
          + ("meets every target" if ok else "misses: " + ", ".join(c for c in targets.names if not met[c].iloc[0])))
    ttab = ttab.assign(met_by_run_of_file=[bool(met[c].iloc[0]) for c in targets.names])
    written.append(write_csv_atomic(ttab, out / "seek_targets.csv"))
    pairs = [(lambda: _plot_seek(res, base.city, targets.name), f"{base.city}_{_slug(targets.name)}_seek.png")]
    if args.pareto:
        written_p, pair = _pareto(args, base, targets, {**constants}, weights, all_levers)
        written += written_p
        pairs.append(pair)
    figs = _figures(args, pairs)
    announce(f"wrote {', '.join(str(p) for p in dict.fromkeys(written))}"
             + (f"; figure: {', '.join(str(p) for p in figs)}" if figs else ""))
    return 0 if ok else 1


def _pareto(args, base, targets, seed_setting: dict[str, float], weights: dict[str, float], all_levers):
    """``seek --pareto``: the front of effort, CO2 2060 and PM2.5 2035 among settings meeting the targets."""
    from ..indicators import INDICATORS
    from ..io import write_csv_atomic
    from ..robust.pareto import pareto_front, plot_pareto

    print(f"\nPareto search: effort, CO2 in 2060, PM2.5 in 2035 (minimised), settings meeting every target; "
          f"EMA Workbench epsilon-NSGA-II, {args.nfe} runs, seeded with the least-effort setting ...", flush=True)
    res = pareto_front(args.city, targets, nfe=args.nfe, seed=args.seed, scenario=base.name,
                       weights=[weights[lv.name] for lv in all_levers], seeds=[seed_setting])
    t = res.table
    path = write_csv_atomic(t, Path(args.out) / "pareto.csv")
    print(f"front: {len(t)} settings that meet every target and that no other one beats on all three")
    if len(t):
        units = {i.name: f" {i.unit}" for i in INDICATORS}
        for o in res.objectives:
            print(f"  {o:<16} {t[o].min():8.2f} to {t[o].max():8.2f}{units.get(o, '')}")
        print("  ends of the front:")
        for o in res.objectives:
            r = t.loc[t[o].idxmin()]
            print(f"    lowest {o:<14}: " + ", ".join(f"{k} {r[k]:.2f}" for k in res.objectives))
    title = f"{base.city}, {targets.name}: Pareto front ({len(t)} settings meeting the targets, {res.nfe} runs)"
    return [path], (lambda: plot_pareto(res, title=title), f"{base.city}_{_slug(targets.name)}_pareto.png")


def _plot_seek(res, city: str, targets_name: str):
    import matplotlib.pyplot as plt

    t = res.table()
    t = t[t["effort"] > 0].sort_values("weighted_effort")
    fig, ax = plt.subplots(figsize=(7.5, 0.8 + 0.3 * max(len(t), 1)), layout="constrained")
    ax.barh(range(len(t)), t["effort"], color="#1b9e77")
    ax.set_yticks(range(len(t)), [n[: -len(" target")] if n.endswith(" target") else n for n in t["lever"]])
    ax.set_xlim(0, 1)
    ax.set_xlabel("effort: share of the way from the city's baseline level to the lever's maximum")
    ax.set_title(f"{city}, {targets_name}: least-effort setting (total {res.total:.2f})", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- robust


def cmd_robust(args) -> int:
    """Run ``megacity-sd robust``: every package over the same futures; write the tables and the figure."""
    from ..io import write_csv_atomic
    from ..robust import plot_robustness, robustness
    from ..scenario import DEFAULT_SCENARIOS, load_scenario

    base, targets = _setup(args)
    _check_int(args.n, "--n", 10, 100_000)
    if not 0 < args.threshold <= 1:
        raise UserInputError(f"--threshold {args.threshold:g}: out of range; allowed: 0 < share <= 1")
    names = args.scenario or list(DEFAULT_SCENARIOS)
    packages = [load_scenario(n, city=args.city) for n in names]
    seen = {}
    for n, p in zip(names, packages, strict=True):
        if p.name in seen:
            raise UserInputError(f"--scenario {n}: scenario '{p.name}' is already given ({seen[p.name]}); allowed: "
                                 "each scenario once")
        seen[p.name] = n
    from ..sensitivity import load_uncertainty

    unc = load_uncertainty(args.uncertainty, scenario=base)
    opts = _options(args)
    print(f"megacity-sd robust: {base.city}, {len(names)} package(s) x {args.n} futures ({len(unc.parameters)} "
          f"uncertain parameters), engine {opts.engine}, seed {args.seed}", flush=True)
    _print_targets(targets)
    r = robustness(args.city, targets, names, n=args.n, seed=args.seed, opts=opts, threshold=args.threshold,
                   uncertainty_file=args.uncertainty)
    out = Path(args.out)
    written = [write_csv_atomic(r.table, out / "robust.csv"), write_csv_atomic(r.runs, out / "robust_runs.csv"),
               write_csv_atomic(r.futures.rename_axis("future").reset_index(), out / "futures.csv")]
    allt = r.table[r.table["target"] == "all targets"].set_index("package")
    print(f"\nShare of {args.n} futures meeting every target (robust: at least {100 * args.threshold:.0f} %); "
          "regret: targets missed beyond the best package of the same future (mean / max):")
    for p in r.packages:
        row = allt.loc[p]
        per = r.table[(r.table["package"] == p) & (r.table["target"] != "all targets")]
        worst = per.nsmallest(1, "share_met").iloc[0]
        print(f"  {p:<20} {100 * row['share_met']:6.1f} %  {'ROBUST' if row['robust'] else '      '}  regret "
              f"{row['regret_mean']:.2f} / {row['regret_max']:.0f}; weakest: {worst['target']} "
              f"({100 * worst['share_met']:.0f} %)")
    rob = r.robust_packages()
    print(f"\nRobust packages: {', '.join(rob) if rob else 'none'}")
    figs = _figures(args, [(lambda: plot_robustness(r), f"{r.city}_{_slug(targets.name)}_robust.png")])
    announce(f"wrote {', '.join(str(p) for p in written)}" + (f"; figure: {', '.join(str(p) for p in figs)}"
                                                              if figs else ""))
    return 0
