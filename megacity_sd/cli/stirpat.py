"""Command line for STIRPAT: ``megacity-sd stirpat fit | crosscheck | literature``.

The subcommands only parse arguments and call :mod:`megacity_sd.stirpat`.
Wire them into the main parser with ``add_parser(subparsers)``; bad input
raises :class:`~megacity_sd.errors.UserInputError`, which the main command
line reports as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ..io import announce
from .common import add_engine_arg, add_output_args
from .gtwr import LOCAL_METHODS, add_gtwr_arguments, cmd_fit_local, read_data

# The choices of megacity_sd.stirpat (METHODS, COV_TYPES), written here so that building the parser does not
# import statsmodels (a second per command); tests/test_stirpat.py checks they agree.
METHODS = ("ols", "ridge")
COV_TYPES = ("nonrobust", "HC1", "cluster", "hac-panel")

__all__ = ["add_parser", "cmd_stirpat_fit", "cmd_stirpat_crosscheck", "cmd_stirpat_literature"]


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def cmd_stirpat_fit(args) -> int:
    """``stirpat fit``: fit STIRPAT on a user table, print the summary, write the tables."""
    if args.method in LOCAL_METHODS:
        return cmd_fit_local(args)
    from ..errors import UserInputError
    from ..io import write_csv_atomic
    from ..stirpat import fit_stirpat

    data = read_data(args.data)
    drivers = _columns(args.drivers)
    if not drivers:
        raise UserInputError(f"{args.data}: --drivers is empty; allowed: comma-separated column names")
    ekc = None
    if args.ekc is not None:
        ekc = args.ekc or (drivers[1] if len(drivers) > 1 else drivers[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_stirpat(data, args.dependent, drivers, entity=args.entity, time=args.time,
                          time_effects=args.time_effects, ekc=ekc, method=args.method, ridge_k=args.ridge_k,
                          cov_type=args.cov, source=args.data)
        print(fit.summary())
    out = Path(args.out)
    table = write_csv_atomic(fit.table(), out / "stirpat.csv")
    write_csv_atomic(fit.vif.rename_axis("term").reset_index(), out / "stirpat_vif.csv")
    write_csv_atomic(fit.info(), out / "stirpat_info.csv")
    announce(f"wrote {table} ({len(fit.terms)} terms), {out / 'stirpat_vif.csv'} and {out / 'stirpat_info.csv'}")
    return 0


def _print_owid(owid) -> None:
    print("\nOWID cross-national fits (this project) next to published STIRPAT estimates:")
    print(f"  {'source':<12} {'study':<20} {'term':<18} {'estimate':>8} {'95 % interval':>17}  scope, period")
    for r in owid.itertuples(index=False):
        est = f"{r.estimate:8.3f}" if r.estimate == r.estimate else f"{'-':>8}"
        ci = f"[{r.ci_low:6.3f}, {r.ci_high:6.3f}]" if r.ci_low == r.ci_low else f"{'-':>17}"
        print(f"  {r.source:<12} {r.study:<20} {r.term:<18} {est} {ci}  {r.scope}, {r.period}")
    york = owid[owid["study"] == "york2003"]
    if len(york):
        print(f"  note: {york['note'].iloc[0]}")


def cmd_stirpat_literature(args) -> int:
    """``stirpat literature``: the OWID check next to the published estimates."""
    from ..io import write_csv_atomic
    from ..stirpat import owid_check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        owid = owid_check()
    _print_owid(owid)
    path = write_csv_atomic(owid, Path(args.out) / "stirpat_owid_check.csv")
    announce(f"\nwrote {path}")
    return 0


def cmd_stirpat_crosscheck(args) -> int:
    """``stirpat crosscheck``: model against STIRPAT, elasticities and CO2 paths."""
    from ..io import write_csv_atomic
    from ..scenario import load_scenario
    from ..stirpat import crosscheck, write_crosscheck_figures
    from ..stirpat.crosscheck import MODEL_VARIABLES
    from ..units import display_of

    city = load_scenario("baseline", city=args.city).city  # unknown city: one line, before any run
    print(f"megacity-sd: STIRPAT cross-check for {city}, {args.members} ensemble members (seed {args.seed}), "
          f"engine {args.engine}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = crosscheck(args.city, n_members=args.members, seed=args.seed, engine=args.engine, local=args.local,
                         local_bandwidth=args.local_bandwidth, local_tau=args.local_tau)
    print("\nHistorical fit (ln CO2 on ln P, ln A; city and year effects):")
    print(res.fits["history"].summary())
    print("\nModel-implied fit, same form, on the model's output:")
    print(res.fits["model"].summary())
    print("\nElasticities of CO2: history vs model (95 % intervals; perturbation: 2.5-97.5 % range)")
    print(f"  {'driver':<17} {'history':>22} {'model fit':>22} {'perturbation':>22}  verdict")

    def cell(v, lo, hi):
        return f"{v:6.2f} [{lo:5.2f}, {hi:5.2f}]" if v == v else f"{'-':>22}"

    def table(verdict):
        for r in verdict.itertuples(index=False):
            print(f"  {r.driver:<17} {cell(r.history, r.history_low, r.history_high):>22} "
                  f"{cell(r.model_fit, r.model_fit_low, r.model_fit_high):>22} "
                  f"{cell(r.perturbation, r.perturbation_low, r.perturbation_high):>22}  {r.verdict}")
            print(f"  {'':<17} {r.note}")

    table(res.verdict)
    if res.verdict_local is not None:
        print(f"\nThe same against the local {args.local.upper()} estimates of {city}'s province, 2013-2017 "
              "(column 'history' = local):")
        table(res.verdict_local)
    print(f"\nCO2 gap, model - STIRPAT, decade means ({display_of(MODEL_VARIABLES['co2']).label}; % of STIRPAT; "
          "share of years inside its interval):")
    for (proj, scen), g in res.gaps.groupby(["projection", "scenario"], sort=False):
        cells = "  ".join(f"{r.decade}: {r.gap_mt:+6.1f} ({r.gap_pct:+5.0f} %, {r.years_inside:.0%})"
                          for r in g.itertuples(index=False))
        print(f"  {proj:<12} {scen:<17} {cells}")
    print(_gap_verdict(res.gaps))
    _print_owid(res.owid)
    print("\nNotes:")
    for n in res.notes:
        print(f"  - {n}")
    out = Path(args.out)
    write_csv_atomic(res.verdict, out / f"{city}_stirpat_verdict.csv")
    if res.verdict_local is not None:
        write_csv_atomic(res.verdict_local, out / f"{city}_stirpat_verdict_{args.local}.csv")
    write_csv_atomic(res.gaps, out / f"{city}_stirpat_gap_per_decade.csv")
    write_csv_atomic(res.paths, out / f"{city}_stirpat_paths.csv")
    write_csv_atomic(res.perturbation, out / f"{city}_stirpat_perturbation.csv")
    write_csv_atomic(res.owid, out / "stirpat_owid_check.csv")
    announce(f"\nwrote {city}_stirpat_verdict.csv, _gap_per_decade.csv, _paths.csv, _perturbation.csv and "
             f"stirpat_owid_check.csv into {out}/")
    if not args.no_figures:
        files = write_crosscheck_figures(res, args.figures)
        announce(f"wrote {', '.join(f.name for f in files)} into {args.figures}/")
    return 0


def _gap_verdict(gaps) -> str:
    """One line that says what the gap table shows, from its own numbers."""
    inside = gaps["years_inside"].mean()
    lo, hi = gaps["gap_pct"].min(), gaps["gap_pct"].max()
    if inside >= 0.5:
        return (f"  levels: consistent; the model's CO2 lies inside the STIRPAT interval in {inside:.0%} of the years "
                f"(decade gaps {lo:+.0f} to {hi:+.0f} %)")
    side = "below" if hi < 0 else "above" if lo > 0 else "on both sides of"
    why = (": the model's CO2 grows less with population and GDP than the STIRPAT elasticities imply (and history "
           "P,A holds technology at its anchor year)") if side == "below" else ""
    return (f"  levels: NOT consistent; the model's CO2 lies {side} the STIRPAT projections (decade gaps {lo:+.0f} "
            f"to {hi:+.0f} %; inside the interval in {inside:.0%} of the years){why}")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``stirpat`` (``fit``, ``crosscheck``, ``literature``) on the main subparsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The object returned by ``parser.add_subparsers(...)`` in
        :func:`megacity_sd.cli.app.build_parser`.

    Returns
    -------
    argparse.ArgumentParser
        The ``stirpat`` parser.
    """
    p = subparsers.add_parser("stirpat", help="STIRPAT regression and the cross-check of the model's CO2")
    sub = p.add_subparsers(dest="stirpat_command", required=True, metavar="{fit,crosscheck,literature}")

    f = sub.add_parser("fit", help="fit ln I = a + b ln P + c ln A + d ln T ... on a table; write stirpat.csv")
    f.add_argument("--data", required=True, help="CSV table, one row per entity and year, or province_panel "
                   "(the shipped provincial panel, 2000-2017)")
    f.add_argument("--dependent", required=True, help="column of the impact, e.g. co2")
    f.add_argument("--drivers", required=True,
                   help="comma-separated driver columns (logs are taken), e.g. population,gdp_per_capita,"
                        "energy_intensity")
    f.add_argument("--entity", help="column naming the entity: entity fixed effects (panel)")
    f.add_argument("--time", default="year", help="column of the year (default: %(default)s)")
    f.add_argument("--time-effects", action="store_true", help="add year fixed effects")
    f.add_argument("--method", choices=(*METHODS, *LOCAL_METHODS), default="ols",
                   help="estimator: ols, ridge, or local (space-time weighted) gtwr and gwr (default: %(default)s)")
    f.add_argument("--ridge-k", type=float, default=None,
                   help="ridge constant (correlation form); default: the Hoerl-Kennard-Baldwin rule")
    f.add_argument("--ekc", nargs="?", const="", default=None, metavar="COLUMN",
                   help="add the squared log of COLUMN (default: the second driver, A)")
    f.add_argument("--cov", choices=COV_TYPES, default="nonrobust",
                   help="covariance of the estimates (default: %(default)s; cluster and hac-panel use --entity)")
    f.add_argument("--out", default="output", help="output folder for stirpat.csv (default: %(default)s)")
    add_gtwr_arguments(f)
    f.set_defaults(func=cmd_stirpat_fit)

    c = sub.add_parser("crosscheck", help="model vs STIRPAT: elasticities with verdicts, CO2 gap per decade")
    c.add_argument("--city", default="shanghai", help="city name or city YAML file (default: %(default)s)")
    c.add_argument("--members", type=int, default=40, help="seeded ensemble members (default: %(default)s)")
    c.add_argument("--seed", type=int, default=1, help="seed of the ensemble (default: %(default)s)")
    add_engine_arg(c)
    c.add_argument("--local", choices=LOCAL_METHODS, help="also compare with the local (space-time weighted) "
                   "estimates of the city's province, 2013-2017, from the provincial panel")
    c.add_argument("--local-bandwidth", type=float, help="with --local: neighbours of the kernel (default: "
                   "searched by AICc, minutes)")
    c.add_argument("--local-tau", type=float, help="with --local gtwr: the space-time scale (default: searched)")
    add_output_args(c)
    c.set_defaults(func=cmd_stirpat_crosscheck)

    lit = sub.add_parser("literature", help="OWID cross-national fit next to published STIRPAT estimates")
    lit.add_argument("--out", default="output", help="output folder (default: %(default)s)")
    lit.set_defaults(func=cmd_stirpat_literature)
    return p
