"""Command line: ``megacity-sd sensitivity --method oat|morris|sobol|mc``.

Writes ``OUT/<method>.csv`` (for Sobol: ``indicator, parameter, S1, S1_conf,
ST, ST_conf``, and ``sobol_yearly.csv``; for Monte Carlo: ``mc.csv`` bands and
``mc_indicators.csv``), ``OUT/uncertainty.csv`` (the parameters and ranges
used) and figures. The ensembles are stored in ``OUT/ensembles/`` and resume
where they stopped when the same command is run again.

:func:`add_parser` registers the subcommand; :func:`cmd_sensitivity` runs it
and raises :class:`~megacity_sd.errors.UserInputError` (one line) for bad
input, before anything is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserInputError
from ..io import announce
from .common import add_output_args

__all__ = ["add_parser", "cmd_sensitivity"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sensitivity`` subcommand on an argparse subparsers object.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser (its ``func`` default is :func:`cmd_sensitivity`).
    """
    from ..scenario import DEFAULT_CITY

    s = subparsers.add_parser(
        "sensitivity", help="sensitivity and uncertainty: one-at-a-time, Morris, Sobol, Monte Carlo bands",
        description="Sensitivity and uncertainty analysis over the uncertain parameters of "
        "scenarios/uncertainty.yaml (SALib). Writes OUT/<method>.csv and figures; ensembles are stored in "
        "OUT/ensembles/ and resume when the same command is run again.")
    s.add_argument("--method", required=True, help="oat | morris | sobol | mc")
    s.add_argument("--n", type=int, help="oat: levels per parameter (default 2); morris: trajectories (default "
                   "20); sobol: base sample, a power of two (default 512; runs = N x (parameters + 2)); mc: runs "
                   "per scenario (default 500)")
    s.add_argument("--scenario", action="append", help="scenario name or YAML file (default: baseline; mc: "
                   "repeatable, default the six standard scenarios)")
    s.add_argument("--city", default=DEFAULT_CITY, help="city name or YAML file (default: %(default)s)")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: every CPU; 0: this process)")
    where.add_argument("--scheduler", metavar="ADDR", help="address of a running Dask scheduler, tcp://HOST:PORT")
    s.add_argument("--seed", type=int, default=1, help="seed of the SALib sampling (default: %(default)s)")
    s.add_argument("--uncertainty", metavar="FILE", help="uncertain parameters (default: scenarios/uncertainty.yaml)")
    s.add_argument("--no-calibration", action="store_true", help="ignore the city's calibrated parameter set "
                   "(scenarios/calibrated/<city>.yaml): its values and its confidence intervals")
    s.add_argument("--engine", default="fast", help="fast (accelerated PySD, default) | simlin | pysd")
    s.add_argument("--time-step", type=float, help="integration step in years (default: the model's, 1/8)")
    s.add_argument("--batch-size", type=int, help="parameter sets per batch (default: automatic)")
    s.add_argument("--no-yearly", action="store_true", help="sobol: skip the per-year indices")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_args(s, out_help="output folder")
    s.set_defaults(func=cmd_sensitivity)
    return s


def _options(args):
    from ..options import check_time_step
    from ..sensitivity import RunOptions
    from ..simulate import ENGINES

    if args.engine not in ENGINES:
        raise UserInputError(f"--engine {args.engine!r}: unknown; allowed: {', '.join(ENGINES)}")
    if args.workers is not None and args.workers < 0:
        raise UserInputError(f"--workers {args.workers}: not allowed; allowed: an integer >= 0")
    check_time_step(args.time_step, "--time-step")
    if args.batch_size is not None and args.batch_size < 1:
        raise UserInputError(f"--batch-size {args.batch_size}: not allowed; allowed: an integer >= 1")
    if args.scheduler is not None and not str(args.scheduler).strip():
        raise UserInputError("--scheduler: empty; allowed: tcp://HOST:PORT")
    return RunOptions(store=Path(args.out) / "ensembles", engine=args.engine, workers=args.workers,
                      scheduler=args.scheduler, time_step=args.time_step, batch_size=args.batch_size,
                      progress=not args.no_progress)


def cmd_sensitivity(args) -> int:
    """Run one sensitivity method and write its table(s) and figures."""
    from ..io import write_csv_atomic
    from ..scenario import DEFAULT_SCENARIOS, load_scenario
    from ..sensitivity import DEFAULT_N, METHODS, check_n, load_uncertainty

    method = str(args.method).strip().lower()
    if method not in METHODS:
        raise UserInputError(f"--method {args.method!r}: unknown; allowed: {', '.join(METHODS)}")
    n = DEFAULT_N[method] if args.n is None else args.n
    check_n(method, n)
    names = args.scenario or (list(DEFAULT_SCENARIOS) if method == "mc" else ["baseline"])
    if method != "mc" and len(names) > 1:
        raise UserInputError("--scenario: one scenario for oat, morris and sobol; allowed: several only with "
                             "--method mc")
    # validate everything before running anything, so bad input leaves nothing behind
    scenarios = [load_scenario(name, city=args.city, calibrated=not args.no_calibration) for name in names]
    opts = _options(args)
    unc = load_uncertainty(args.uncertainty, scenario=scenarios[0], calibration=not args.no_calibration)
    out = Path(args.out)
    scen = scenarios[0]
    print(f"megacity-sd sensitivity: {method}, n={n}, {len(unc.parameters)} uncertain parameters "
          f"({unc.files[0].name}), {scen.city} / {', '.join(s.name for s in scenarios)}, engine {opts.engine}, "
          f"seed {args.seed}", flush=True)
    tables: dict[str, object] = {}
    if method == "oat":
        from ..sensitivity import oat

        tables["oat"] = oat(unc, scen, levels=n, opts=opts)
    elif method == "morris":
        from ..sensitivity import morris

        tables["morris"], _ = morris(unc, scen, n=n, seed=args.seed, opts=opts)
    elif method == "sobol":
        from ..sensitivity import sobol

        tables["sobol"], yearly, _ = sobol(unc, scen, n=n, seed=args.seed, yearly=not args.no_yearly, opts=opts)
        if yearly is not None:
            tables["sobol_yearly"] = yearly
    else:
        from ..sensitivity import monte_carlo

        tables["mc"], tables["mc_indicators"] = monte_carlo(unc, scenarios, n=n, seed=args.seed, opts=opts)
    written = [write_csv_atomic(unc.table(), out / "uncertainty.csv")]
    for name, table in tables.items():
        written.append(write_csv_atomic(table, out / f"{name}.csv"))
    announce("wrote " + ", ".join(str(p) for p in written))
    _print_summary(method, tables)
    if not args.no_figures:
        from ..sensitivity import write_figures

        nominal = None
        if method == "mc":
            from ..simulate import run

            nominal = {sc.name: run(sc, opts.engine) for sc in scenarios}  # the central run of each scenario
        files = write_figures(method, tables, args.figures, city=scen.city, scenarios=[sc.name for sc in scenarios],
                              nominal=nominal)
        announce(f"wrote {len(files)} figure(s) into {args.figures}/")
    return 0


def _print_summary(method: str, tables) -> None:
    if method == "sobol":
        t = tables["sobol"]
        print("\nSobol total indices (ST, 95 % interval), three largest per indicator:")
        for ind, g in t.groupby("indicator", sort=False):
            top = g.sort_values("ST", ascending=False).head(3)
            parts = [f"{r.parameter} {r.ST:.2f}+-{r.ST_conf:.2f}" for r in top.itertuples() if r.ST == r.ST]
            print(f"  {ind:<34} " + ("; ".join(parts) if parts else "(does not vary)"))
    elif method == "morris":
        t = tables["morris"]
        print("\nMorris mu* (three largest per indicator):")
        for ind, g in t.groupby("indicator", sort=False):
            top = g.sort_values("mu_star", ascending=False).head(3)
            print(f"  {ind:<34} " + "; ".join(f"{r.parameter} {r.mu_star:.3g}" for r in top.itertuples()))
    elif method == "oat":
        t = tables["oat"]
        print("\nOne-at-a-time swings (largest three per indicator, indicator units):")
        for ind, g in t.groupby("indicator", sort=False):
            sw = g.groupby("parameter")["value"].agg(lambda v: v.max() - v.min()).sort_values(ascending=False)
            print(f"  {ind:<34} " + "; ".join(f"{p} {v:.3g}" for p, v in sw.head(3).items()))
    else:
        t = tables["mc_indicators"]
        print("\nMonte Carlo (Latin hypercube) 5 / 50 / 95 %:")
        for r in t.itertuples(index=False):
            if r.indicator in ("cumulative CO2 2021-2060", "CO2 in 2060", "PM2.5 in 2035"):
                print(f"  {r.scenario:<18} {r.indicator:<26} {r.p05:10.4g} {r.p50:10.4g} {r.p95:10.4g} {r.unit}")
