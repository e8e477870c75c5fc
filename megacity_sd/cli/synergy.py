"""Command line: ``megacity-sd synergy``, the co-control coordinate system.

Three sources of points, one set of outputs (``synergy.csv``,
``cross_elasticity.csv`` and, where a combined measure and its parts are
known, ``interaction.csv``, plus figures):

* model runs (default): every scenario of a city against the baseline;
* ``--table FILE``: measures that are not in the model (columns ``measure,
  pollutant, before, after``; optional ``city, year, unit``);
* ``--history``: historical periods of the cities in ``history.csv`` (PM2.5 years it lacks from the
  environment bulletins, ``pm25_bulletins.csv``), with
  air-quality *concentrations* on the pollutant axis (``pollutant_basis``).

:func:`add_parser` registers the subcommand; :func:`cmd_synergy` runs it and
raises :class:`~megacity_sd.errors.UserInputError` (one line) for bad input,
before anything is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserInputError
from ..io import announce
from ..model import model_years
from .common import add_engine_arg, add_output_args, not_with

if TYPE_CHECKING:  # annotations only: pandas is imported where the commands run
    import pandas as pd

__all__ = ["add_parser", "cmd_synergy"]

_SINGLES = ("energy_structure", "transport", "buildings")
_COMBINED = "combined"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``synergy`` subcommand on an argparse subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers(...)``.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser (its ``func`` default is :func:`cmd_synergy`).
    """
    from ..synergy import DEFAULT_YEARS

    s = subparsers.add_parser(
        "synergy", help="co-control coordinates: synergy of every measure, pollutant and year",
        description="Co-control coordinate system: x = dP/P of an air pollutant (SO2, NOx, PM2.5 and the "
        "air-pollutant equivalent APE), y = dC/C of CO2, elasticity ET = x/y and quadrant (III = synergistic). "
        "Writes synergy.csv, cross_elasticity.csv, interaction.csv and figures.")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--table", metavar="FILE", help="CSV of measures not in the model: measure, pollutant, "
                     "before, after (CO2 among the pollutants; optional city, year, unit)")
    src.add_argument("--history", action="store_true", help="historical co-control from history.csv and the "
                     "PM2.5 bulletins (pollutant axis = concentrations)")
    s.add_argument("--city", action="append", help="city name or YAML file; repeatable (default: shanghai; "
                   "with --history: every city in history.csv)")
    s.add_argument("--scenario", action="append", help="scenario name or YAML file; repeatable (default: every "
                   "standard scenario)")
    s.add_argument("--baseline", default="baseline", help="reference scenario (default: %(default)s)")
    s.add_argument("--measure", action="append", help="with --table: keep only this measure; repeatable")
    s.add_argument("--year", action="append", metavar="YEAR", help="year or range A-B; repeatable (default: "
                   f"{', '.join(map(str, DEFAULT_YEARS))}; with --table: every year of the table)")
    s.add_argument("--figure-year", type=int, help="year of the labelled points in the figures and the "
                   "printed summary (default: 2035 if selected, else the last selected year)")
    s.add_argument("--periods", default="2012-2015,2014-2017", help="with --history: periods START-END, "
                   "comma-separated (default: %(default)s)")
    s.add_argument("--weights", metavar="FILE", help="pollution-equivalent values: pollutant, kg_per_equivalent, "
                   "source (default: the Environmental Protection Tax Law values shipped with the package)")
    s.add_argument("--combined", help=f"combined measure for the interaction (default: {_COMBINED})")
    s.add_argument("--single", action="append", help="a single measure of the combined one; repeatable "
                   f"(default: {', '.join(_SINGLES)})")
    s.add_argument("--zero-tol", type=float, default=1e-9, help="a relative change within +-this is zero "
                   "(default: %(default)g)")
    add_engine_arg(s)
    s.add_argument("--scope", choices=("1", "2", "total"), default="total",
                   help="CO2 on the y axis of model runs: territorial scope 1, scope 2 of imported electricity, "
                        "or total = scope 1+2 (default: %(default)s, so that imports never pass for cuts)")
    add_output_args(s)
    s.set_defaults(func=cmd_synergy)
    return s


def _parse_years(values: list[str] | None) -> list[int] | None:
    if not values:
        return None
    years: list[int] = []
    for v in values:
        bits = str(v).strip().split("-")
        try:
            nums = [int(b) for b in bits]
        except ValueError:
            nums = []
        if len(nums) == 1:
            years.append(nums[0])
        elif len(nums) == 2 and nums[0] <= nums[1]:
            years.extend(range(nums[0], nums[1] + 1))
        else:
            raise UserInputError(f"--year {v!r}: not allowed; allowed: an integer year or a range A-B (A <= B)")
    return sorted(set(years))


def _interaction_spec(args, measures: list[str], *, default: bool) -> tuple[str, tuple[str, ...]] | None:
    """The combined measure and its singles, or None when the defaults are not all present."""
    combined = args.combined or (_COMBINED if default else None)
    singles = tuple(args.single) if args.single else (_SINGLES if default else ())
    explicit = args.combined is not None or args.single is not None
    if combined is None:
        if explicit:
            raise UserInputError("--single: needs --combined; allowed: --combined NAME --single A --single B ...")
        return None
    missing = [m for m in (combined, *singles) if m not in measures]
    if missing or len(singles) < 2:
        if not explicit:
            return None
        what = f"measure {missing[0]!r} not among the measures" if missing else "fewer than two --single measures"
        raise UserInputError(f"--combined/--single: {what}; allowed: {', '.join(measures)}")
    return combined, singles


def _check_years(years, allowed: list[int], what: str, option: str = "--year") -> None:
    for y in years:
        if y not in allowed:
            rng = f"{allowed[0]}-{allowed[-1]}" if allowed == list(range(allowed[0], allowed[-1] + 1)) \
                else ", ".join(map(str, allowed))
            raise UserInputError(f"{option} {y}: not a year of {what}; allowed: {rng}")


def _fmt(v: float, pct: bool = True) -> str:
    import numpy as np

    if v is None or not np.isfinite(v):
        return "-"
    return f"{v * 100:+.1f}%" if pct else f"{v:.2f}"


def _print_points(table: pd.DataFrame, year) -> None:
    import pandas as pd

    sel = table if year is None else table[table["year"] == year]
    if sel.empty:
        return
    print(f"\nCo-control points{'' if year is None else f' in {year}'} (dP/P, dC/C; ET = (dP/P)/(dC/C)); "
          "pollutants as emissions (emis.: SO2, NOx, primary PM2.5; APE their equivalent sum) or as annual mean "
          "concentrations (conc.):")
    print(f"  {'city':<10} {'measure':<18} {'pollutant':<13} {'dP/P':>8} {'dC/C':>8} {'ET':>7}  quadrant")
    for r in sel.itertuples(index=False):
        quad = "-" if pd.isna(r.quadrant) else r.quadrant
        label = f"{r.pollutant} {'conc.' if r.pollutant_basis == 'concentration' else 'emis.'}"
        print(f"  {str(r.city):<10} {str(r.measure):<18} {label:<13} {_fmt(r.rel_change_pollutant):>8} "
              f"{_fmt(r.rel_change_co2):>8} {_fmt(r.elasticity, False):>7}  {quad}"
              + (f"  ({r.note})" if r.note else ""))


def _print_interaction(inter: pd.DataFrame, year) -> None:
    sel = inter if year is None else inter[inter["year"] == year]
    if sel.empty:
        return
    r0 = sel.iloc[0]
    print(f"\nInteraction{'' if year is None else f' in {year}'}: {r0['measure']} against {r0['singles']} "
          "(changes in % of the baseline):")
    print(f"  {'city':<10} {'pollutant':<9} {'combined':>9} {'sum single':>10} {'interaction':>11}  effect")
    for r in sel.itertuples(index=False):
        print(f"  {str(r.city):<10} {r.pollutant:<9} {_fmt(r.rel_delta_combined):>9} "
              f"{_fmt(r.rel_sum_delta_single):>10} {_fmt_pp(r.rel_interaction):>11}  {r.effect}")


def _fmt_pp(v: float) -> str:
    import numpy as np

    return "-" if not np.isfinite(v) else f"{v * 100:+.2f} pp"


def cmd_synergy(args) -> int:
    """Run ``megacity-sd synergy``: validate everything, compute, then write.

    Returns
    -------
    int
        0 on success.

    Raises
    ------
    UserInputError
        Bad input (file, column, option or value), with one line naming it
        and what is allowed; nothing is written.
    """
    import numpy as np
    import pandas as pd

    from ..io import write_csv_atomic
    from ..synergy import (
        DEFAULT_YEARS,
        POLLUTANTS,
        analyse,
        history_changes,
        load_weights,
        model_changes,
        parse_periods,
        read_measures,
    )

    if not (np.isfinite(args.zero_tol) and args.zero_tol >= 0):  # here too, to name the option and fail early
        raise UserInputError(f"--zero-tol {args.zero_tol!r}: not allowed; allowed: a number >= 0")
    weights = load_weights(args.weights)
    years = _parse_years(args.year)
    fig_year = args.figure_year
    spec = None

    if args.table:
        not_with(args, ("city", "scenario"), "not allowed with --table (a table gives its own cities and measures)")
        changes = read_measures(args.table, weights)
        measures = list(pd.unique(changes["measure"]))
        if args.measure:
            for m in args.measure:
                if m not in measures:
                    raise UserInputError(f"{args.table}: column 'measure': no measure {m!r}; "
                                         f"allowed: {', '.join(measures)}")
            changes = changes[changes["measure"].isin(args.measure)]
            measures = list(args.measure)
        table_years = sorted(int(y) for y in changes["year"].dropna().unique())
        if (years or fig_year is not None) and not table_years:
            raise UserInputError(f"{args.table}: column 'year' missing or empty; allowed: --year and "
                                 "--figure-year only for a table with years")
        if years:
            _check_years(years, table_years, str(args.table))
        if fig_year is not None:
            _check_years([fig_year], table_years, str(args.table), "--figure-year")
        elif table_years:
            fig_year = (years or table_years)[-1]
        spec = _interaction_spec(args, measures, default=False)
        groups = {f"{Path(args.table).stem}_synergy": changes}
        label = f"{args.table}"
    elif args.history:
        not_with(args, ("scenario", "measure", "year", "figure_year", "combined", "single"),
                  "not allowed with --history; allowed: --city, --periods")
        periods = parse_periods(args.periods, name="--periods")
        changes = history_changes(periods, cities=args.city)
        years = None
        cities = list(pd.unique(changes["city"]))
        stem = f"{cities[0]}_synergy_history" if len(cities) == 1 else "history_synergy"
        groups = {stem: changes}
        label = "history.csv and pm25_bulletins.csv (pollutant axis: concentrations)"
        for start, end in periods:
            got = changes[(changes["measure"] == f"{start}-{end}") & (changes["pollutant"] != "CO2")]
            if not (got["before"].notna() & got["after"].notna()).any():
                print(f"note: period {start}-{end}: no pollutant series in the project's data has values for both "
                      f"{start} and {end}; its rows are empty (see the 'note' column)")
    else:
        not_with(args, ("measure",), "allowed only with --table")
        from ..scenario import DEFAULT_CITY, DEFAULT_SCENARIOS, load_scenario
        from ..simulate import run_long

        extra = sorted(set(weights["pollutant"]) - set(POLLUTANTS))
        if extra:
            raise UserInputError(f"{args.weights}: column 'pollutant': {extra[0]!r} is not a model pollutant; "
                                 f"allowed: {', '.join(POLLUTANTS)}")
        first, last = model_years()
        allowed = list(range(first, last + 1))
        years = years or list(DEFAULT_YEARS)
        _check_years(years, allowed, "the model")
        if fig_year is None:
            fig_year = 2035 if 2035 in years else years[-1]
        _check_years([fig_year], allowed, "the model", "--figure-year")
        names = args.scenario or [n for n in DEFAULT_SCENARIOS if n != args.baseline]
        scenarios = []
        for city in args.city or [DEFAULT_CITY]:
            base = load_scenario(args.baseline, city=city)
            scenarios.append(base)
            scenarios.extend(s for s in (load_scenario(n, city=city) for n in names) if s.name != base.name)
        measures = list(dict.fromkeys(s.name for s in scenarios if s.name != scenarios[0].name))
        if not measures:
            raise UserInputError("--scenario: only the baseline given; allowed: at least one other scenario")
        spec = _interaction_spec(args, measures, default=True)
        print(f"megacity-sd synergy: {len(scenarios)} run(s), engine {args.engine}", flush=True)
        long = run_long(scenarios, engine=args.engine, progress=True)
        changes = model_changes(long, baseline=scenarios[0].name, weights=weights, scope=args.scope)
        tag = "" if args.scope == "total" else f"_scope{args.scope}"  # distinct names for distinct outputs
        groups = {f"{c}_synergy{tag}": changes[changes["city"] == c] for c in pd.unique(changes["city"])}
        label = f"model runs against the baseline; CO2 scope {args.scope}" + \
            (" (territorial + imported electricity)" if args.scope == "total" else "")

    # compute everything before writing anything
    res = analyse(changes, years=years, combined=spec[0] if spec else None, singles=spec[1] if spec else (),
                  zero_tol=args.zero_tol)
    inter_full = res.interaction

    out = Path(args.out)
    tag = "" if args.table or args.history or args.scope == "total" else f"_scope{args.scope}"
    written = [write_csv_atomic(res.table, out / f"synergy{tag}.csv"),
               write_csv_atomic(res.cross, out / f"cross_elasticity{tag}.csv")]
    if inter_full is not None:
        written.append(write_csv_atomic(res.selected(inter_full), out / f"interaction{tag}.csv"))
    announce(f"wrote {', '.join(str(p) for p in written)} ({label})")
    _print_points(res.table if fig_year is None else res.points, fig_year)
    if inter_full is not None:
        _print_interaction(inter_full, fig_year)
    if not args.no_figures:
        from ..synergy import write_figures

        files = []
        for stem, ch in groups.items():
            files += write_figures(ch, args.figures, stem, figure_year=fig_year,
                                   combined=spec[0] if spec else None, singles=spec[1] if spec else (),
                                   history=bool(args.history), scope=getattr(args, "scope", "total"),
                                   zero_tol=args.zero_tol)
        announce(f"\nwrote {len(files)} figure(s) into {args.figures}/: {', '.join(p.name for p in files)}")
    return 0
