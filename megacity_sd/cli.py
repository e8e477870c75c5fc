"""Command line: ``megacity-sd run | compare | scenarios`` and the subcommands of the ``*_cli`` modules.

Subcommands only parse arguments and call the package's functions. Bad input
is reported as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

from .io import write_csv_atomic, write_workbook

__all__ = ["console_main", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, as argparse does, without the usage block
        sys.stderr.write(f"megacity-sd: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def add_output_args(parser, *, out_help: str = "output folder for the tables", out_default: str = "output",
                    figures_help: str = "folder for figures") -> None:
    """Declare ``--out``, ``--figures`` and ``--no-figures``, shared by the subcommands that write files."""
    parser.add_argument("--out", default=out_default, help=f"{out_help} (default: %(default)s)")
    parser.add_argument("--figures", default="figures", help=f"{figures_help} (default: %(default)s)")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    add_figure_format_args(parser)


def add_figure_format_args(parser) -> None:
    """Declare ``--format`` and ``--dpi`` of the figures a subcommand writes."""
    parser.add_argument("--format", choices=("png", "svg", "pdf"), default="png",
                        help="figure file format (default: %(default)s)")
    parser.add_argument("--dpi", type=_dpi, default=150, help="figure resolution, dots per inch, 50-600 "
                        "(default: %(default)s)")


def _dpi(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; allowed: 50-600") from None
    if not 50 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{value} out of range; allowed: 50-600")
    return value


def add_engine_arg(parser, *, what: str = "simulation engine") -> None:
    """Declare ``--engine``: ``fast`` by default, the accelerated PySD path that equals PySD to 1e-12."""
    from .engines import DEFAULT_ENGINE, ENGINES

    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                        help=f"{what}: fast (default; PySD's translation compiled to one loop, equal to PySD), "
                             "pysd (the reference as installed, about 25x slower) or simlin (pysimlin)")


def _cities(values: list[str] | None) -> list[str]:
    """The cities of a repeatable ``--city`` (``all``: every shipped city); the same city twice is refused."""
    from .errors import UserInputError
    from .scenario import DEFAULT_CITY, list_cities

    cities = []
    for value in values or [DEFAULT_CITY]:
        for city in (list_cities() if value == "all" else [value]):
            if city in cities:
                raise UserInputError(f"--city {city}: given twice; allowed: each city once")
            cities.append(city)
    return cities


def load_scenarios(names: list[str], cities: list[str], *, add_baseline: bool = True) -> list:
    """Resolve every (city, scenario) before anything runs, refusing duplicates.

    Parameters
    ----------
    names : list of str
        Scenario names or YAML files.
    cities : list of str
        City names or YAML files.
    add_baseline : bool
        Put the baseline first for each city when ``names`` lacks it, so that
        every result can be compared with it.

    Raises
    ------
    UserInputError
        Bad files, two scenarios with the same name, two city files of the same city.
    """
    from .errors import UserInputError
    from .scenario import load_scenario

    out, seen_cities = [], {}
    for city in cities:
        scens = [load_scenario(name, city=city) for name in names]
        for i, scen in enumerate(scens):
            first = next(j for j, s in enumerate(scens) if s.name == scen.name)
            if first != i:
                raise UserInputError(f"--scenario {names[i]}: scenario '{scen.name}' is already given "
                                     f"({names[first]}); allowed: each scenario once (a copied file needs its "
                                     "own 'name:')")
        if scens[0].city in seen_cities:
            raise UserInputError(f"--city {city}: city '{scens[0].city}' is already given "
                                 f"({seen_cities[scens[0].city]}); allowed: each city once")
        seen_cities[scens[0].city] = city
        if add_baseline and "baseline" not in {s.name for s in scens}:
            scens.insert(0, load_scenario("baseline", city=city))
        out += scens
    return out


def wide_results(long):
    """The long table as one row per ``city, scenario, variable, unit`` and one column per year (for a workbook)."""
    wide = long.pivot_table(index=["city", "scenario", "variable", "unit"], columns="year", values="value",
                            sort=False)
    wide.columns = [int(c) for c in wide.columns]
    return wide.reset_index()


def cmd_run(args) -> int:
    from .indicators import against_baseline, evaluate, summary
    from .run import run_long
    from .scenario import DEFAULT_SCENARIOS

    names = args.scenario or list(DEFAULT_SCENARIOS)
    # validate everything before running anything, so bad input leaves nothing behind
    scenarios = load_scenarios(names, _cities(args.city))
    cities = list(dict.fromkeys(s.city for s in scenarios))
    added = " (baseline added for comparison)" if len(scenarios) > len(names) * len(cities) else ""
    print(f"megacity-sd: {', '.join(cities)}; {len(scenarios) // len(cities)} scenario(s){added}; "
          f"engine {args.engine}", flush=True)
    long = run_long(scenarios, engine=args.engine, progress=True)
    ev = against_baseline(evaluate(long))
    out = Path(args.out)
    results = write_csv_atomic(long, out / "results.csv")
    write_csv_atomic(ev, out / "indicators.csv")
    print(f"wrote {results} ({len(long)} rows) and {out / 'indicators.csv'} (with the change against baseline)")
    if args.xlsx:
        book = write_workbook({"indicators": ev, "results": wide_results(long)}, out / "results.xlsx")
        print(f"wrote {book} (sheets: indicators; results, one row per variable and one column per year)")
    if not args.no_figures:
        from .plotting import write_run_figures

        files = write_run_figures(long, args.figures)
        print(f"wrote {len(files)} figures into {args.figures}/")
    _print_summary(summary(long))
    return 0


def _pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (wide East Asian characters take two)."""
    import unicodedata

    cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - cols, 0)


def _print_summary(table) -> None:
    """The run summary: a few indicators per city and scenario, and CO2 and PM2.5 against baseline."""
    print("\nSummary. CO2: Mt/yr, scope 1+2 (territorial + imported electricity) unless marked s1 or s2;")
    print("peak: the projection's peak year over 2020-2060 (the historical peak is in indicators.csv);")
    print("'<50 %' / '<10 %': first year CO2 is under that share of 2019 (- never); PM2.5: annual mean")
    print("concentration, ug/m3; 'vs base': change against the same city's baseline, %.")
    heads = ["peak", "CO2 2030", "vs base", "CO2 2060", "vs base", "s1 2060", "s2 2060", "<50 %", "<10 %",
             "PM2.5 2035", "vs base"]
    cols = ["CO2 peak year", "CO2 in 2030", None, "CO2 in 2060", None, "scope 1 CO2 in 2060",
            "scope 2 CO2 in 2060", "year CO2 below 50% of 2019", "year CO2 below 10% of 2019", "PM2.5 in 2035", None]
    years = {"CO2 peak year", "year CO2 below 50% of 2019", "year CO2 below 10% of 2019"}
    width = [6, 9, 8, 9, 8, 8, 8, 6, 6, 11, 8]
    print(f"{'city':<10} {'scenario':<18}" + "".join(f"{h:>{w}}" for h, w in zip(heads, width, strict=True)))
    for (city, scen), row in table.iterrows():
        base = table.loc[(city, "baseline")] if (city, "baseline") in table.index else None
        vals, last = [], None
        for col, w in zip(cols, width, strict=True):
            if col is None:  # change of the previous column against baseline
                v = float("nan") if base is None or not base[last] else 100.0 * (row[last] / base[last] - 1.0)
                vals.append(f"{'-':>{w}}" if v != v else f"{v:>+{w}.0f}")
                continue
            last, v = col, row[col]
            vals.append(f"{'-':>{w}}" if v != v else (f"{v:>{w}.0f}" if col in years else f"{v:>{w}.1f}"))
        print(f"{_pad(city, 10)} {_pad(scen, 18)}" + "".join(vals))


def cmd_compare(args) -> int:
    """``megacity-sd compare``: cities side by side, totals, per capita and per GDP, one figure."""
    from .compare import compare_series, compare_table, plot_compare
    from .run import run_long

    scenarios = load_scenarios(args.scenario or ["baseline"], _cities(args.city or ["all"]), add_baseline=False)
    cities = list(dict.fromkeys(s.city for s in scenarios))
    if len(cities) < 2:
        from .errors import UserInputError

        raise UserInputError("--city: compare needs two cities or more; allowed: --city NAME repeated, or --city all")
    names = list(dict.fromkeys(s.name for s in scenarios))
    print(f"megacity-sd compare: {', '.join(cities)}; {', '.join(names)}; engine {args.engine}", flush=True)
    long = run_long(scenarios, engine=args.engine)
    table = compare_table(long)
    out = Path(args.out)
    write_csv_atomic(table, out / "compare.csv")
    write_csv_atomic(compare_series(long), out / "compare_series.csv")
    print(f"wrote {out / 'compare.csv'} and {out / 'compare_series.csv'}")
    if not args.no_figures:
        import matplotlib.pyplot as plt

        from .plotting import STYLE, savefig_atomic

        with plt.rc_context(STYLE):
            fig = plot_compare(long, title="Cities side by side: CO2 scope 1+2, per capita, per GDP; PM2.5")
            path = savefig_atomic(fig, Path(args.figures) / "compare_cities.png")
        print(f"wrote {path}")
    for scen in names:
        t = table[table["scenario"] == scen]
        print(f"\n{scen}: value (rank among the cities, 1 = lowest)")
        print(f"{'indicator':<44}" + "".join(f"{c:>14}" for c in cities))
        for (ind, unit, year), g in t.groupby(["indicator", "unit", "year"], sort=False):
            by = g.set_index("city")
            cells = [f"{by.at[c, 'value']:>9.2f} ({by.at[c, 'rank']})" if c in by.index else f"{'-':>14}"
                     for c in cities]
            print(f"{f'{ind} {year} ({unit})':<44}" + "".join(f"{x:>14}" for x in cells))
    return 0


def cmd_scenarios(args) -> int:
    from .model import model_doc
    from .scenario import CITY_DIR, SCENARIO_DIR, list_cities, list_scenarios, read_scenario_file

    print("Scenarios (scenarios/*.yaml):")
    for name in list_scenarios():
        spec = read_scenario_file(SCENARIO_DIR / f"{name}.yaml")
        ext = spec.extends if spec.extends else "-"
        print(f"  {name:<18} {spec.title or '':<52} extends: {ext}; overrides {len(spec.constants)} constant(s)")
    print("\nCities (scenarios/cities/*.yaml):")
    for name in list_cities():
        spec = read_scenario_file(CITY_DIR / f"{name}.yaml")
        print(f"  {name:<18} overrides {len(spec.constants)} constant(s)")
    doc = model_doc()
    if args.all:
        rows = [v for v in doc.values() if v.kind == "constant" and v.sector != "Control"]
        print(f"\nAll {len(rows)} model constants (name | units | [min, max] | default | sector):")
    else:
        rows = [v for v in doc.values() if v.kind == "constant" and v.sector == "Policy"
                and not (" baseline " in v.name or v.name.endswith("initial value"))]
        print("\nScenario levers (name | units | [min, max] | default); each lever has a target, "
              "a start year and a phase-in time. --all lists every constant, with the city baseline paths:")
    for v in rows:
        lo, hi = v.limits if v.limits else (float("nan"), float("nan"))
        extra = f" | {v.sector}" if args.all else ""
        print(f"  {v.name:<44} {v.units:<10} [{lo:g}, {hi:g}]  default {v.value:g}{extra}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .scenario import DEFAULT_CITY

    p = _Parser(prog="megacity-sd", description="Pollution and carbon co-reduction in megacities: "
                "a system-dynamics model, its scenarios and analyses.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="project a city under scenarios; write results.csv and figures")
    r.add_argument("--city", action="append", help=f"city name or city YAML file; repeatable; 'all' for every "
                   f"city (default: {DEFAULT_CITY})")
    r.add_argument("--scenario", action="append", help="scenario name or YAML file; repeatable "
                   "(default: the eight standard scenarios; the baseline is added when missing)")
    add_output_args(r, out_help="output folder for results.csv")
    r.add_argument("--xlsx", action="store_true", help="also write results.xlsx (indicators; results by year)")
    add_engine_arg(r)
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("compare", help="cities side by side: CO2, CO2 per capita and per GDP, PM2.5; one figure")
    c.add_argument("--city", action="append", help="city name or YAML file; repeatable (default: all)")
    c.add_argument("--scenario", action="append", help="scenario name or YAML file; repeatable (default: baseline)")
    add_output_args(c, out_help="output folder for compare.csv")
    add_engine_arg(c)
    c.set_defaults(func=cmd_compare)
    s = sub.add_parser("scenarios", help="list scenarios, cities and levers with units, ranges, defaults")
    s.add_argument("--all", action="store_true", help="list every model constant, not only the levers")
    s.set_defaults(func=cmd_scenarios)
    from .synergy_cli import add_parser as add_synergy_parser

    add_synergy_parser(sub)
    from .stirpat_cli import add_parser as add_stirpat_parser

    add_stirpat_parser(sub)
    from .loops_cli import add_parser as add_loops_parser

    add_loops_parser(sub)
    from .calibrate_cli import add_parser as add_calibrate_parser

    add_calibrate_parser(sub)
    from .sensitivity_cli import add_parser as add_sensitivity_parser

    add_sensitivity_parser(sub)
    from .decompose_cli import add_parser as add_decompose_parser

    add_decompose_parser(sub)
    from .explore_cli import add_parser as add_explore_parser

    add_explore_parser(sub)
    from .discover_cli import add_parser as add_discover_parser

    add_discover_parser(sub)
    return p


def check_output_folder(path: str | Path, option: str) -> None:
    """Check, before any run, that a folder can receive outputs; create nothing.

    The folder must exist and be writable, or be creatable: its nearest
    existing ancestor must be a writable folder. Writability is probed by
    creating and removing a temporary file (permission bits say nothing for
    root or on a read-only file system).

    Raises
    ------
    UserInputError
        A file where a folder is needed, or a folder that cannot be written.
    """
    from .errors import UserInputError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserInputError(f"{option} {path}: is a file; allowed: a folder (existing or to be created)")
    anc = p if p.exists() else next((a for a in p.absolute().parents if a.exists()), None)
    if anc is None or not anc.is_dir():
        raise UserInputError(f"{option} {path}: cannot be created ({anc} is a file); allowed: a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".megacity-sd-probe.", dir=anc)
    except OSError as err:
        what = "folder" if anc == p else f"folder {anc}, where it would be created,"
        raise UserInputError(f"{option} {path}: {what} is not writable ({err.strerror}); "
                             "allowed: a folder you can write to") from None
    os.close(fd)
    os.remove(probe)


def _check_outputs(args) -> None:
    """The output folders a subcommand will write, checked before it runs anything."""
    if getattr(args, "out", None):
        check_output_folder(args.out, "--out")
    if getattr(args, "figures", None) and not getattr(args, "no_figures", False):
        check_output_folder(args.figures, "--figures")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``megacity-sd`` console script.

    Returns the exit code: 0 done, 2 bad input (one line on stderr, nothing
    written). Ctrl-C propagates as :class:`KeyboardInterrupt` (the console
    script turns it into one line and exit code 130).
    """
    from .errors import UserInputError

    args = build_parser().parse_args(argv)
    try:
        _check_outputs(args)
        if hasattr(args, "format"):
            from .plotting import figure_format

            with figure_format(args.format, args.dpi):
                return args.func(args)
        return args.func(args)
    except UserInputError as err:
        sys.stderr.write(f"megacity-sd: {err}\n")
        return 2


def console_main() -> int:
    """The ``megacity-sd`` console script: :func:`main`, ending quietly on a closed pipe.

    Restoring the default SIGPIPE action is process-wide, so it is done here, in
    the program's own process, and not in :func:`main`, which tests and other
    Python code call in theirs.
    """
    from .errors import Interrupted

    if hasattr(signal, "SIGPIPE"):  # `megacity-sd scenarios | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return main()
    except KeyboardInterrupt as err:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean exit short
        if isinstance(err, Interrupted):
            sys.stderr.write(f"megacity-sd: interrupted; {err}\n")
        else:
            sys.stderr.write("megacity-sd: interrupted; every file is written whole or not at all, "
                             "so none is half-written\n")
    # Every `finally` has run while the interrupt unwound the stack. Leave now, with 130: CPython kills
    # itself with SIGINT at exit when a KeyboardInterrupt went unhandled anywhere (e.g. raised in a
    # destructor while the pool shut down), which would hide this exit code from the shell.
    sys.stdout.flush()
    sys.stderr.flush()
    _exit_now(130)
    return 130


def _exit_now(code: int) -> None:
    """End the process at once with ``code`` (``os._exit``; tests replace it)."""
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(console_main())
