"""Command line: ``megacity-sd run | scenarios``.

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


def _file_mode() -> int:
    """The mode an ordinary new file gets here (0666 less the umask); mkstemp would make it 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_csv_atomic(df, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        df.to_csv(tmp, index=False)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def cmd_run(args) -> int:
    from .indicators import evaluate, summary
    from .run import run_long
    from .scenario import DEFAULT_SCENARIOS, load_scenario

    names = args.scenario or list(DEFAULT_SCENARIOS)
    # validate everything before running anything, so bad input leaves nothing behind
    scenarios = [load_scenario(name, city=args.city) for name in names]
    print(f"megacity-sd: {scenarios[0].city}, {len(scenarios)} scenario(s), engine {args.engine}", flush=True)
    long = run_long(scenarios, engine=args.engine, progress=True)
    out = Path(args.out)
    results = _write_csv_atomic(long, out / "results.csv")
    _write_csv_atomic(evaluate(long), out / "indicators.csv")
    print(f"wrote {results} ({len(long)} rows) and {out / 'indicators.csv'}")
    if not args.no_figures:
        from .plotting import write_run_figures

        files = write_run_figures(long, args.figures)
        print(f"wrote {len(files)} figures into {args.figures}/")
    table = summary(long).reset_index()
    print("\nSummary. CO2 in Mt/yr, scope 1+2 (territorial + imported electricity) unless marked s1 or s2;")
    print("peak year over 2020-2060; 'below 50 %' / 'below 10 %': first year under that share of 2019 (- never);")
    print("PM2.5: annual mean concentration, ug/m3.")
    heads = ["peak year", "CO2 2030", "CO2 2060", "s1 2060", "s2 2060", "below 50 %", "below 10 %", "PM2.5 2035"]
    print(f"{'city':<10} {'scenario':<18}" + "".join(f"{h:>11}" for h in heads))
    for row in table.itertuples(index=False):
        vals = []
        for i, v in enumerate(row[2:]):
            if v != v:
                vals.append(f"{'-':>11}")
            elif i in (0, 5, 6):
                vals.append(f"{v:>11.0f}")
            else:
                vals.append(f"{v:>11.1f}")
        print(f"{row[0]:<10} {row[1]:<18}" + "".join(vals))
    return 0


def cmd_scenarios(args) -> int:
    from .model import model_doc
    from .scenario import CITY_DIR, SCENARIO_DIR, _read, list_cities, list_scenarios

    print("Scenarios (scenarios/*.yaml):")
    for name in list_scenarios():
        spec = _read(SCENARIO_DIR / f"{name}.yaml")
        ext = spec.extends if spec.extends else "-"
        print(f"  {name:<18} {spec.title or '':<52} extends: {ext}; overrides {len(spec.constants)} constant(s)")
    print("\nCities (scenarios/cities/*.yaml):")
    for name in list_cities():
        spec = _read(CITY_DIR / f"{name}.yaml")
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
    r.add_argument("--city", default=DEFAULT_CITY, help="city name or city YAML file (default: %(default)s)")
    r.add_argument("--scenario", action="append", help="scenario name or YAML file; repeatable "
                   "(default: the eight standard scenarios)")
    add_output_args(r, out_help="output folder for results.csv")
    r.add_argument("--engine", choices=("pysd", "simlin"), default="pysd",
                   help="simulation engine (default: %(default)s, the reference)")
    r.set_defaults(func=cmd_run)
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
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``megacity-sd`` console script."""
    from .errors import UserInputError

    args = build_parser().parse_args(argv)
    try:
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
    if hasattr(signal, "SIGPIPE"):  # `megacity-sd scenarios | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return main()


if __name__ == "__main__":
    raise SystemExit(console_main())
