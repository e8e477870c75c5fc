"""Command line: ``megacity-sd decompose``, LMDI decomposition of emission changes.

Three questions, one set of outputs:

* history (no ``--scenario``): ``--city C --from Y0 --to Y1`` decomposes the
  CEADs CO2 change of Beijing, Shanghai or Tianjin, chained year by year;
* a model run over time: ``--scenario S --from Y0 --to Y1``;
* a scenario against another in one year: ``--scenario S --against baseline
  --year Y`` decomposes S(Y) - baseline(Y) in one LMDI step (why S ends where
  it does against the baseline).

Writes ``decomposition.csv`` (``city, scenario, pollutant, period, factor,
effect, unit``; the row ``total`` is the observed change that the factor rows
sum to, or the ratio they multiply to), ``decomposition_terms.csv`` (additive
effects by sector and fuel), ``decomposition_notes.csv`` (what could not be
separated, caveats) and a waterfall figure per pollutant,
``<city>_<scenario>_decomposition_<pollutant>.png``.

:func:`add_parser` registers the subcommand; :func:`cmd_decompose` runs it and
raises :class:`~megacity_sd.errors.UserInputError` (one line) for bad input,
before anything is run or written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserInputError
from ..io import announce
from .common import add_engine_arg, add_output_args, not_with

__all__ = ["add_parser", "cmd_decompose"]

_NOTE_COLUMNS = ["city", "scenario", "pollutant", "period", "note"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``decompose`` subcommand on an argparse subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers(...)``.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser (its ``func`` default is :func:`cmd_decompose`).
    """
    from ..decompose import POLLUTANTS
    from ..scenario import DEFAULT_CITY

    s = subparsers.add_parser(
        "decompose", help="LMDI decomposition: which drivers changed CO2 and air pollutants",
        description="LMDI-I decomposition (Ang 2004, 2005), exact, zeros by the limit of the small-value strategy "
        "(Ang & Liu 2007). History: --city C --from Y0 --to Y1 (CEADs CO2, chained yearly). Model: --scenario S "
        "--from Y0 --to Y1 (chained yearly), or --scenario S --against B --year Y (S against B in year Y). "
        "Writes decomposition.csv, decomposition_terms.csv, decomposition_notes.csv and a waterfall per pollutant.")
    s.add_argument("--city", default=DEFAULT_CITY, help="city name (history: beijing, shanghai, tianjin) or, for "
                   "model runs, a city YAML file (default: %(default)s)")
    s.add_argument("--scenario", help="decompose a model run of this scenario (name or YAML file); without it, "
                   "history")
    s.add_argument("--against", metavar="SCENARIO", help="with --scenario and --year: the reference scenario, "
                   "e.g. baseline")
    s.add_argument("--year", type=int, help="with --against: the year in which the two runs are compared")
    s.add_argument("--from", dest="start", type=int, metavar="Y0", help="first year of the period")
    s.add_argument("--to", dest="end", type=int, metavar="Y1", help="last year of the period")
    s.add_argument("--form", choices=("additive", "multiplicative"), default="additive",
                   help="additive effects (sum to the change) or multiplicative (multiply to the ratio) "
                        "(default: %(default)s)")
    s.add_argument("--pollutant", action="append", choices=tuple(POLLUTANTS), help="repeatable (default: CO2 on "
                   f"history, all of {', '.join(POLLUTANTS)} for model runs)")
    s.add_argument("--breakdown", choices=("sector", "fuel", "full"), help="history: sector (default) or fuel; "
                   "model: full (sectors x fuels, default) or sector (CO2 only, the identity history supports)")
    s.add_argument("--scope", choices=("1", "total"), help="CO2 of model runs: total = scope 1+2 with imported "
                   "electricity at the grid factor (default, as run, synergy and the report count it) or 1 = "
                   "territorial scope 1 (as CEADs; history is always scope 1)")
    add_engine_arg(s, what="simulation engine for model runs")
    add_output_args(s)
    s.set_defaults(func=cmd_decompose)
    return s


_OPTIONS = {"start": "from", "end": "to"}


def _plan_history(args) -> dict:
    from ..decompose import history_cities, history_years
    from ..scenario import list_cities

    not_with(args, ("against", "year"), "needs --scenario (history is decomposed with --from and --to)",
             options=_OPTIONS)
    if args.scope not in (None, "1"):
        raise UserInputError(f"--scope {args.scope}: only for model runs; history is CEADs territorial scope 1")
    cities = history_cities()
    if args.city not in cities:
        what = "no CO2 inventory by sector and fuel on file for" if args.city in list_cities() else "unknown city"
        raise UserInputError(f"--city {args.city}: {what} {args.city!r} on history; allowed: {', '.join(cities)}")
    years = history_years(args.city)
    _check_period(args, years, f"the {args.city} inventory")
    pollutants = args.pollutant or ["CO2"]
    if any(p != "CO2" for p in pollutants):
        bad = next(p for p in pollutants if p != "CO2")
        raise UserInputError(f"--pollutant {bad}: no {bad} emission inventory on file for history (history.csv "
                             "has SO2 and NO2 concentrations only); allowed on history: CO2")
    breakdown = args.breakdown or "sector"
    if breakdown not in ("sector", "fuel"):
        raise UserInputError(f"--breakdown {breakdown}: not on history (no energy use by sector or fuel on file); "
                             "allowed: sector, fuel")
    return {"mode": "history", "pollutants": ["CO2"], "breakdown": breakdown}


def _check_period(args, years: list[int], what: str) -> None:
    for name, y in (("from", args.start), ("to", args.end)):
        if y is None:
            raise UserInputError(f"--{name}: required; allowed: a year in {years[0]}-{years[-1]}")
        if y not in years:
            raise UserInputError(f"--{name} {y}: not a year of {what}; allowed: {years[0]}-{years[-1]}")
    if args.start >= args.end:
        raise UserInputError(f"--from {args.start} --to {args.end}: the first year must be before the last")


def _plan_model(args) -> dict:
    from ..model import model_doc
    from ..scenario import load_scenario

    doc = model_doc()
    years = list(range(int(doc["initial_time"].value), int(doc["final_time"].value) + 1))
    scen = load_scenario(args.scenario, city=args.city)
    plan = {"mode": "model", "scenario": scen}
    if args.against is not None:
        not_with(args, ("start", "end"), "not with --against (a comparison is in one --year)", options=_OPTIONS)
        if args.year is None:
            raise UserInputError(f"--year: required with --against; allowed: a year in {years[0]}-{years[-1]}")
        if args.year not in years:
            raise UserInputError(f"--year {args.year}: not a year of the model; allowed: {years[0]}-{years[-1]}")
        plan["base"] = load_scenario(args.against, city=args.city)
        if plan["base"].name == scen.name:
            raise UserInputError(f"--against {args.against}: the same scenario as --scenario; allowed: another one")
    else:
        not_with(args, ("year",), "needs --against (a period of one run takes --from and --to)", options=_OPTIONS)
        _check_period(args, years, "the model")
    breakdown = args.breakdown or "full"
    if breakdown not in ("full", "sector"):
        raise UserInputError(f"--breakdown {breakdown}: not for model runs; allowed: full, sector")
    from ..decompose import POLLUTANTS

    pollutants = args.pollutant or (["CO2"] if breakdown == "sector" else list(POLLUTANTS))
    if breakdown == "sector" and any(p != "CO2" for p in pollutants):
        raise UserInputError("--breakdown sector: CO2 only (the model books air pollutants by fuel, not by CEADs "
                             "sector); allowed: --pollutant CO2, or --breakdown full")
    plan.update(pollutants=list(dict.fromkeys(pollutants)), breakdown=breakdown)
    return plan


def _compute(args, plan) -> list:
    from ..decompose import decompose_against, decompose_history, decompose_run

    if plan["mode"] == "history":
        return [decompose_history(args.city, args.start, args.end, breakdown=plan["breakdown"], form=args.form)
                for _ in plan["pollutants"]]
    from ..simulate import run

    scen = plan["scenario"]
    print(f"megacity-sd decompose: running {scen.city} / {scen.name}"
          + (f" and {plan['base'].name}" if "base" in plan else "") + f" ({args.engine})", flush=True)
    wide = run(scen, args.engine)
    base_wide = run(plan["base"], args.engine) if "base" in plan else None
    out = []
    for pol in plan["pollutants"]:
        scope = (args.scope or "total") if pol == "CO2" else "1"
        common = {"pollutant": pol, "breakdown": plan["breakdown"], "scope": scope, "form": args.form}
        if base_wide is not None:
            out.append(decompose_against(base_wide, wide, args.year, city=scen.city, scenario=scen.name,
                                         baseline=plan["base"].name, base_constants=plan["base"].constants,
                                         constants=scen.constants, **common))
        else:
            out.append(decompose_run(wide, args.start, args.end, city=scen.city, scenario=scen.name,
                                     constants=scen.constants, **common))
    return out


def _scale(pollutant: str) -> tuple[float, str]:
    """Scale and label of a pollutant's emissions (:mod:`megacity_sd.units`: Mt CO2/yr, kt/yr)."""
    from ..decompose import POLLUTANTS
    from ..units import display

    return display(POLLUTANTS[pollutant][1])


def _print(decs, co2_scope: str) -> None:
    for d in decs:
        scale, unit = _scale(d.pollutant)
        what = d.pollutant + (f" scope {co2_scope}" if d.pollutant == "CO2" else "")
        print(f"\n{d.city}, {d.scenario}, {what} {d.period} (LMDI-I {d.form}"
              + (f", {unit})" if d.form == "additive" else ", ratios; levels in " + unit + ")"))
        print(f"  {'start':<22} {d.start * scale:>12.3f}")
        for factor, v in d.effects.items():
            print(f"  {factor:<22} " + (f"{v * scale:>+12.3f}" if d.form == "additive" else f"{v:>12.4f}"))
        print(f"  {'total':<22} " + (f"{d.total * scale:>+12.3f}" if d.form == "additive" else f"{d.total:>12.4f}"))
        print(f"  {'end':<22} {d.end * scale:>12.3f}")


def cmd_decompose(args) -> int:
    """Run ``megacity-sd decompose``: validate everything, compute, then write.

    Returns
    -------
    int
        0 on success.

    Raises
    ------
    UserInputError
        Bad input (city, scenario, year, option), with one line naming it and
        what is allowed; nothing is run or written.
    """
    import pandas as pd

    from ..io import write_csv_atomic

    plan = _plan_model(args) if args.scenario is not None else _plan_history(args)
    decs = _compute(args, plan)
    table = pd.concat([d.table() for d in decs], ignore_index=True)
    notes = pd.DataFrame([(d.city, d.scenario, d.pollutant, d.period, n) for d in decs for n in d.notes],
                         columns=_NOTE_COLUMNS)
    if plan["mode"] == "history" and args.pollutant is None:
        d = decs[0]
        notes.loc[len(notes)] = (d.city, d.scenario, "SO2, NOx, PM25", d.period,
                                 "not decomposed on history: no emission inventory of air pollutants on file "
                                 "(history.csv has annual mean SO2 and NO2 concentrations 2008-2017 only)")
    out = Path(args.out)
    written = [write_csv_atomic(table, out / "decomposition.csv")]
    if args.form == "additive":
        terms = pd.concat([d.terms_table() for d in decs], ignore_index=True)
        written.append(write_csv_atomic(terms, out / "decomposition_terms.csv"))
    written.append(write_csv_atomic(notes, out / "decomposition_notes.csv"))
    _print(decs, "1" if plan["mode"] == "history" or args.scope == "1" else "1+2")
    print("\nNotes:")
    for n in dict.fromkeys(notes["note"]):
        print(f"  - {n}")
    announce(f"\nwrote {', '.join(str(p) for p in written)}")
    if not args.no_figures:
        from ..decompose import write_figures

        files = write_figures(decs, Path(args.figures))
        announce(f"wrote {len(files)} figure(s) into {args.figures}/: {', '.join(p.name for p in files)}")
    return 0
