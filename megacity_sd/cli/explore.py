"""Command line: ``megacity-sd explore`` (the policy explorer) and ``megacity-sd report`` (one HTML file).

``explore`` serves the page of :mod:`megacity_sd.explore` on 127.0.0.1 and
opens it in the default browser; Ctrl-C stops it. ``report`` runs a city's
scenarios and writes the self-contained report of :mod:`megacity_sd.report`.

:func:`add_parser` registers both subcommands. Bad input raises
:class:`~megacity_sd.errors.UserInputError` (one line, exit code 2) before
anything is run or written.
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
from pathlib import Path

from ..errors import UserInputError
from ..io import announce

__all__ = ["add_parser", "cmd_explore", "cmd_report"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; allowed: 0-65535 (0: any free port)") \
            from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} out of range; allowed: 0-65535 (0: any free port)")
    return value


def add_parser(subparsers) -> None:
    """Register the ``explore`` and ``report`` subcommands on an argparse subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers(...)``.
    """
    from ..scenario import DEFAULT_CITY
    from .common import add_engine_arg

    e = subparsers.add_parser(
        "explore", help="the policy explorer: a local web page, a slider per lever, charts that follow every move",
        description="Serve the policy explorer on this machine (127.0.0.1) and open it in the browser: the city and "
        "the scenario presets, a slider for every policy lever (grouped by sector) and for the uncertain "
        "parameters, charts of CO2, PM2.5, energy, fleet, floor area, population and GDP that update on every "
        "move, the co-control plane, the indicators and the city's plan targets; pin runs, export the setting as "
        "a scenario file, the results as CSV and the report. Ctrl-C stops it.")
    e.add_argument("--city", default=DEFAULT_CITY, help="the city shown first (default: %(default)s)")
    e.add_argument("--port", type=_port, default=8765, help="TCP port (default: %(default)s; 0: any free port)")
    e.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine "
                   "only; anything else exposes the model to the network)")
    e.add_argument("--no-browser", action="store_true", help="do not open the page in the browser")
    e.add_argument("--verbose", action="store_true", help="log every request on stderr")
    e.set_defaults(func=cmd_explore)

    r = subparsers.add_parser(
        "report", help="one self-contained HTML report of a city's scenarios (figures embedded)",
        description="Run a city's scenarios and write one HTML file that loads nothing from outside: the scenario "
        "definitions, the indicators against the baseline, the city's published plan targets (met or missed), "
        "the figures, the co-control table and every parameter value used with its units and source.")
    r.add_argument("--city", default=DEFAULT_CITY, help="city name or city YAML file (default: %(default)s)")
    r.add_argument("--scenario", action="append", help="scenario name or YAML file; repeatable (default: the eight "
                   "standard scenarios; the baseline is added when missing)")
    r.add_argument("--out", dest="report_out", required=True, metavar="FILE.html", help="the report to write")
    r.add_argument("--year", type=int, default=2035, help="year of the co-control points (default: %(default)s)")
    add_engine_arg(r)
    r.set_defaults(func=cmd_report)


def cmd_explore(args) -> int:
    """``megacity-sd explore``: serve the explorer until Ctrl-C."""
    from ..explore import make_server
    from ..scenario import list_cities

    if args.city not in list_cities():
        from ..errors import suggest

        raise UserInputError(f"--city {args.city}: unknown city{suggest(args.city, list_cities())}; allowed: "
                             f"{', '.join(list_cities())}")
    if hasattr(signal, "SIGPIPE"):  # a closed tab must end its connection, not the server (console_main set SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    print("megacity-sd explore: loading the model...", flush=True)
    try:
        server = make_server(args.host, args.port, city=args.city, verbose=args.verbose)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise UserInputError(f"--port {args.port}: already in use; allowed: a free port, or 0 for any free "
                                 "one") from None
        raise UserInputError(f"--host {args.host} --port {args.port}: cannot listen ({err.strerror}); allowed: "
                             "an address of this machine, such as 127.0.0.1") from None
    url = server.url + (f"?city={args.city}" if args.city else "")
    if not server.loopback_only:
        sys.stderr.write(f"megacity-sd explore: listening on {args.host}: anyone who can reach this machine can "
                         "use the explorer\n")
    print(f"megacity-sd explore: open {url} (Ctrl-C stops)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nmegacity-sd explore: stopped", flush=True)
    finally:
        server.server_close()
    return 0


def cmd_report(args) -> int:
    """``megacity-sd report``: write the self-contained HTML report."""
    from ..io import write_text_atomic
    from ..model import model_years
    from ..report import build_report
    from ..scenario import DEFAULT_SCENARIOS
    from .common import check_output_folder, load_scenarios

    out = Path(args.report_out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserInputError(f"--out {args.report_out}: allowed: a file name ending in .html")
    if out.is_dir():
        raise UserInputError(f"--out {args.report_out}: is a folder; allowed: a file name ending in .html")
    check_output_folder(out.parent if str(out.parent) else Path("."), "--out (its folder)")
    first, last = model_years()
    if not first < args.year <= last:
        raise UserInputError(f"--year {args.year}: out of range; allowed: {first + 1}-{last}")
    scenarios = load_scenarios(args.scenario or list(DEFAULT_SCENARIOS), [args.city])
    names = [s.name for s in scenarios]
    print(f"megacity-sd report: {scenarios[0].city}; {', '.join(names)}; engine {args.engine}", flush=True)
    html = build_report(scenarios, engine=args.engine, year=args.year)
    path = write_text_atomic(html, out)  # lands when the command ends (staged_outputs)
    size = len(html.encode("utf-8")) / 1e6
    announce(f"wrote {path} ({size:.1f} MB, self-contained: open it in any browser, or email it)")
    return 0
