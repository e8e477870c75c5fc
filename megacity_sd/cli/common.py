"""What the subcommands share: the one-line-error parser, output, figure and engine options, the output-folder check
and the resolution of cities and scenarios before anything runs."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ..io import FIGURES_DIR, OUTPUT_DIR

__all__ = [
    "Parser",
    "add_engine_arg",
    "add_figure_format_args",
    "add_output_args",
    "check_output_folder",
    "check_outputs",
    "cities_of",
    "load_scenarios",
    "not_with",
]


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line on stderr and exit code 2, without the usage block."""

    def error(self, message):  # one line, exit code 2, as argparse does, without the usage block
        sys.stderr.write(f"megacity-sd: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def add_output_args(parser, *, out_help: str = "output folder for the tables", out_default: str = OUTPUT_DIR,
                    figures_help: str = "folder for figures") -> None:
    """Declare ``--out``, ``--figures`` and ``--no-figures``, shared by the subcommands that write files."""
    parser.add_argument("--out", default=out_default, help=f"{out_help} (default: %(default)s)")
    parser.add_argument("--figures", default=FIGURES_DIR, help=f"{figures_help} (default: %(default)s)")
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
    from ..simulate import DEFAULT_ENGINE, ENGINES

    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                        help=f"{what}: fast (default; PySD's translation compiled to one loop, equal to PySD), "
                             "pysd (the reference as installed, about 25x slower) or simlin (pysimlin)")


def cities_of(values: list[str] | None) -> list[str]:
    """The cities of a repeatable ``--city`` (``all``: every shipped city); the same city twice is refused."""
    from ..errors import UserInputError
    from ..scenario import DEFAULT_CITY, list_cities

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
    from ..errors import UserInputError
    from ..scenario import load_scenario

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
    from ..errors import UserInputError

    if not str(path).strip():
        raise UserInputError(f"{option} '{path}': empty; allowed: a folder name (existing or to be created)")
    p = Path(path)
    try:
        exists = p.exists()
    except (OSError, ValueError) as err:  # a name the system refuses: too long, a NUL character
        shown = str(path) if len(str(path)) <= 60 else str(path)[:57] + "..."
        reason = getattr(err, "strerror", None) or str(err)
        raise UserInputError(f"{option} {shown}: not a usable folder name ({reason}); allowed: a folder name the "
                             "system accepts") from None
    if exists and not p.is_dir():
        raise UserInputError(f"{option} {path}: is a file; allowed: a folder (existing or to be created)")
    anc = p if exists else next((a for a in p.absolute().parents if a.exists()), None)
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


def check_outputs(args) -> None:
    """The output folders a subcommand will write, checked before it runs anything."""
    if getattr(args, "out", None) is not None:
        check_output_folder(args.out, "--out")
    if getattr(args, "figures", None) is not None and not getattr(args, "no_figures", False):
        check_output_folder(args.figures, "--figures")


def not_with(args, names, message: str, *, options: dict[str, str] | None = None) -> None:
    """Refuse options given where they do not apply: one line naming the first one given, and ``message``.

    An option counts as given when its value is neither None nor False
    (a ``store_true`` flag left off); ``options`` maps an attribute to its
    option name where they differ (``start`` -> ``from``).
    """
    from ..errors import UserInputError

    for name in names:
        value = getattr(args, name)
        if value is not None and value is not False:
            option = (options or {}).get(name, name.replace("_", "-"))
            raise UserInputError(f"--{option}: {message}")
