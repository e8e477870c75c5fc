"""Command line: ``megacity-sd calibrate``, the cities against their history.

``megacity-sd calibrate --city shanghai [--all] [--out DIR] [--figures DIR]``
estimates the parameters that ``scenarios/calibration.yaml`` declares for a
city (or for every city it lists, with ``--all``) and writes

* ``DIR/fit.csv`` (default ``output/``): columns ``city, variable, period, n,
  mape, r2, theil_um, theil_us, theil_uc``, one row per city, series and
  period (``in_sample`` or ``holdout``), MAPE in percent. Rows of cities not
  calibrated in this call are kept from an existing ``fit.csv``;
* ``DIR/calibrated_parameters.csv``: estimates, standard errors and
  confidence intervals (kept the same way);
* ``FIGURES/<city>_calibration.png``: model against data for every series;
* ``scenarios/calibrated/<city>.yaml``: the calibrated parameter set, with a
  confidence interval (``ci``) beside each value, that ``megacity-sd run``
  applies after the city file.

Everything is checked (cities, configuration, data, bounds) before anything
is run or written; bad input raises :class:`~megacity_sd.errors.UserInputError`,
which the main command line prints as one line with exit code 2. Every file
is written to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io import announce
from .common import add_output_args

__all__ = ["add_parser", "cmd_calibrate"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``calibrate`` subcommand on the main parser's subparsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers(...)`` in :func:`megacity_sd.cli.app.build_parser`.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser (its ``func`` default is :func:`cmd_calibrate`).
    """
    from ..scenario import DEFAULT_CITY, USER_SCENARIO_DIR

    c = subparsers.add_parser(
        "calibrate", help="estimate a city's parameters from its 2005-2019 history; write fit.csv, figures "
        "and scenarios/calibrated/<city>.yaml",
        description="Weighted least squares on all historical series at once (population, GDP at constant 2005 "
        "prices, CO2, coal share of CO2), fitted on 2005-2015 from several starting points, checked on the "
        "2016-2019 holdout. Reports MAPE (%), R2 and Theil's UM/US/UC (Sterman 1984) per series and period, "
        "and a confidence interval per parameter. Parameters, bounds, series and weights: "
        "scenarios/calibration.yaml.")
    c.add_argument("--city", default=DEFAULT_CITY, help="city to calibrate (default: %(default)s)")
    c.add_argument("--all", action="store_true", help="calibrate every city in the configuration (the five cities)")
    add_output_args(c, out_help="folder for fit.csv", figures_help="folder for <city>_calibration.png")
    c.add_argument("--config", default=None, metavar="FILE",
                   help="calibration file (default: scenarios/calibration.yaml)")
    c.add_argument("--starts", type=int, default=None,
                   help="starting points of the optimiser (default: the configuration's, 8)")
    c.add_argument("--seed", type=int, default=None, help="seed of the starting points (default: the configuration's)")
    c.add_argument("--calibrated-dir", default=str(USER_SCENARIO_DIR / "calibrated"), metavar="DIR",
                   help="where the calibrated parameter sets go (default: scenarios/calibrated in the working "
                        "folder, which 'megacity-sd run' run there reads first; never the installed package)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar of the model runs")
    c.add_argument("--no-write", action="store_true",
                   help="do not write the calibrated parameter sets (fit.csv and figures only)")
    c.set_defaults(func=cmd_calibrate)
    return c


def _fmt(v: float, spec: str = ".2f") -> str:
    return "-" if v != v else format(v, spec)


def _print_result(res) -> None:
    a, b = res.config.in_sample
    print(f"  payoff {res.payoff_initial:.1f} (uncalibrated) -> {res.payoff:.1f} with {res.n_obs} fitted points, "
          f"{len(res.parameters)} parameters; residual scale {res.residual_scale:.2f}, lag-1 autocorrelation "
          f"{res.ar1:.2f}; {res.runs} runs in {res.seconds:.1f} s")
    spread = res.starts["payoff"]
    near = int((spread <= res.starts["payoff"].min() * 1.01 + 1e-9).sum())
    print(f"  starts: best payoff {spread.min():.2f}, worst {spread.max():.2f}; {near} of {len(spread)} within 1 %")
    pct = round(100 * res.config.confidence)
    print(f"  {'parameter':<36} {'uncalibrated':>12} {'estimate':>10} {f'{pct} % interval':>23}  note")
    for r in res.parameters.itertuples(index=False):
        note = "; ".join(n for n, flag in (("at a bound", r.at_bound), ("weakly identified", not r.identified))
                         if flag)
        print(f"  {r.parameter:<36} {r.initial:>12.4g} {r.value:>10.4g} [{r.ci_low:>9.4g}, {r.ci_high:>9.4g}]  {note}")
    print(f"  fit (MAPE in %, uncalibrated in brackets; fitted on {a}-{b}):")
    print(f"  {'series':<18} {'period':<10} {'n':>3} {'MAPE':>14} {'R2':>6} {'UM':>6} {'US':>6} {'UC':>6}")
    init = res.statistics_initial.set_index(["variable", "period"])["mape"]
    for r in res.statistics.itertuples(index=False):
        if r.n == 0:
            continue
        m0 = init.loc[(r.variable, r.period)]
        mape = f"{_fmt(r.mape, '.1f')} ({_fmt(m0, '.1f')})"
        print(f"  {r.variable:<18} {r.period:<10} {r.n:>3} {mape:>14} {_fmt(r.r2):>6} {_fmt(r.theil_um):>6} "
              f"{_fmt(r.theil_us):>6} {_fmt(r.theil_uc):>6}")


def _merge(path: Path, new):
    """Rows of ``new`` plus those of other cities in an existing table with the same columns."""
    import pandas as pd

    if path.is_file():
        try:
            old = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            old = None
        if old is not None and list(old.columns) == list(new.columns):
            old = old[~old["city"].isin(set(new["city"]))]
            return pd.concat([old, new], ignore_index=True)
    return new


def cmd_calibrate(args) -> int:
    """``megacity-sd calibrate``: calibrate, then write fit.csv, figures and calibrated parameter sets."""
    import pandas as pd

    from ..calibrate import (
        calibrate,
        load_config,
        observations,
        parameter_table,
        write_calibrated,
        write_calibration_figure,
    )
    from ..errors import UserInputError
    from ..io import write_csv_atomic
    from ..scenario import load_scenario

    cfg = load_config(args.config)
    if args.starts is not None and args.starts < 1:
        raise UserInputError(f"--starts {args.starts}: allowed: an integer >= 1")
    if args.all:
        cities = list(cfg.cities)
    else:
        cities = [load_scenario("baseline", city=args.city, calibrated=False).city]
    # check every city before running anything, so that bad input leaves nothing behind
    for city in cities:
        load_scenario("baseline", city=city, calibrated=False)
        observations(city, cfg)
    print(f"megacity-sd: calibrating {', '.join(cities)} ({cfg.path.name}; fit {cfg.in_sample[0]}-{cfg.in_sample[1]}, "
          f"holdout {cfg.holdout[0]}-{cfg.holdout[1]}; {args.starts or cfg.starts} starts)", flush=True)
    results = []
    for city in cities:
        print(f"\n{city}:", flush=True)
        # the engines silence their known, harmless warnings (engines.KNOWN_WARNINGS); any other reaches the user
        res = calibrate(city, cfg, starts=args.starts, seed=args.seed, progress=not args.no_progress)
        _print_result(res)
        results.append(res)
    fit = pd.concat([r.statistics for r in results], ignore_index=True)
    out = Path(args.out)
    path = write_csv_atomic(_merge(out / "fit.csv", fit), out / "fit.csv")
    params = pd.concat([parameter_table(r) for r in results], ignore_index=True)
    write_csv_atomic(_merge(out / "calibrated_parameters.csv", params), out / "calibrated_parameters.csv")
    announce(f"\nwrote {path} ({len(fit)} rows for {', '.join(cities)}) and {out / 'calibrated_parameters.csv'}")
    if not args.no_figures:
        files = [write_calibration_figure(r, args.figures) for r in results]
        announce(f"wrote {', '.join(f.name for f in files)} into {args.figures}/")
    if not args.no_write:
        files = [write_calibrated(r, args.calibrated_dir) for r in results]
        announce(f"wrote {', '.join(f.name for f in files)} into {args.calibrated_dir}/ "
                 "('megacity-sd run' now uses them)")
    return 0
