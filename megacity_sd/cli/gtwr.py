"""Command line for the local STIRPAT fits: ``megacity-sd stirpat fit --method gtwr | gwr``.

:func:`add_gtwr_arguments` adds the options of the local fits to the existing
``stirpat fit`` parser; :func:`cmd_fit_local` runs when ``args.method`` is
``gtwr`` or ``gwr``. Bad input raises
:class:`~megacity_sd.errors.UserInputError` (one line, exit code 2, nothing
written): every check runs before any file is written.

``--data province_panel`` (not a file name) uses the provincial panel shipped
with the package (``megacity_sd/data/province_panel.csv``, 2000-2017, flagged
rows left out) with the coordinates of the provincial capitals.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..io import FIGURES_DIR, announce

__all__ = ["LOCAL_METHODS", "BUILTIN_PANEL", "add_gtwr_arguments", "cmd_fit_local", "read_data"]

#: Written here so that building the parser does not import the fitting packages.
LOCAL_METHODS = ("gtwr", "gwr")
CRITERIA = ("AICc", "CV")
KERNELS = ("bisquare", "gaussian", "exponential")
BUILTIN_PANEL = "province_panel"
BUILTIN_COORDS = "capitals"


def _years(text: str) -> tuple[int, int]:
    import argparse

    parts = text.replace(":", "-").split("-")
    try:
        a, b = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (None, None)
    except ValueError:
        a = b = None
    if a is None or a > b:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: a year or a range FIRST-LAST, e.g. 2013-2017")
    return a, b


def _range(text: str) -> tuple[float, float]:
    import argparse

    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: MIN,MAX, e.g. 20,300") from None
    return a, b


def add_gtwr_arguments(fit_parser) -> None:
    """Add the options of ``--method gtwr`` and ``--method gwr`` to the ``stirpat fit`` parser.

    Adds ``--lon``, ``--lat``, ``--coords``, ``--bandwidth-criterion``,
    ``--kernel``, ``--fixed-bandwidth``, ``--bandwidth``, ``--bandwidth-range``,
    ``--tau``, ``--tau-max``, ``--years``, ``--permutations``, ``--seed``,
    ``--reselect``, ``--highlight``, ``--megacity-years``; and ``--figures``,
    ``--no-figures``, ``--format``, ``--dpi`` where the parser does not have
    them yet.
    """
    g = fit_parser.add_argument_group("local fits (--method gtwr or gwr)")
    g.add_argument("--lon", default="lon", help="column of longitude, degrees east (default: %(default)s)")
    g.add_argument("--lat", default="lat", help="column of latitude, degrees north (default: %(default)s)")
    g.add_argument("--coords", metavar="FILE",
                   help="CSV with the --entity column, lon and lat, merged into --data; 'capitals' = the provincial "
                        "capitals shipped with the package")
    g.add_argument("--bandwidth-criterion", choices=CRITERIA, default="AICc",
                   help="bandwidth selection (default: %(default)s; CV = leave-one-out cross-validation)")
    g.add_argument("--kernel", choices=KERNELS, default="bisquare", help="kernel (default: %(default)s)")
    g.add_argument("--fixed-bandwidth", action="store_true",
                   help="bandwidth as a distance (100 km) instead of a number of nearest neighbours")
    g.add_argument("--bandwidth", type=float, default=None, help="use this bandwidth instead of searching")
    g.add_argument("--bandwidth-range", type=_range, default=None, metavar="MIN,MAX",
                   help="search range of the bandwidth (default: the package's, 40+2k to n neighbours)")
    g.add_argument("--tau", type=float, default=None,
                   help="GTWR space-time scale (one year = sqrt(tau) x 100 km) instead of searching")
    g.add_argument("--tau-max", type=float, default=25.0, help="upper end of the tau search (default: %(default)s)")
    g.add_argument("--years", type=_years, default=None, metavar="FIRST-LAST", help="fit only these years")
    g.add_argument("--permutations", type=int, default=99,
                   help="Monte Carlo permutations of the test of local variation (default: %(default)s; 0 skips it)")
    g.add_argument("--seed", type=int, default=1, help="seed of the permutations (default: %(default)s)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars of the search and the permutations")
    g.add_argument("--reselect", action="store_true",
                   help="gwr: use mgwr's own test, re-selecting the bandwidth in every permutation (slow)")
    g.add_argument("--highlight", default=None,
                   help="comma-separated entities drawn in the figure (default: the megacities' provinces)")
    g.add_argument("--megacity-years", type=_years, default=None, metavar="FIRST-LAST",
                   help="years averaged in the megacity table (default: the last five fitted)")
    have = set(getattr(fit_parser, "_option_string_actions", {}))
    if "--figures" not in have:
        g.add_argument("--figures", default=FIGURES_DIR, help="folder for figures (default: %(default)s)")
    if "--no-figures" not in have:
        g.add_argument("--no-figures", action="store_true", help="skip the figures")
    if "--format" not in have:
        g.add_argument("--format", choices=("png", "svg", "pdf"), default="png",
                       help="figure file format (default: %(default)s)")
    if "--dpi" not in have:
        g.add_argument("--dpi", type=int, default=150, help="figure resolution, dots per inch (default: %(default)s)")


def _columns(text: str) -> list[str]:
    return [c.strip() for c in str(text).split(",") if c.strip()]


def _is_builtin(path) -> bool:
    return str(path) == BUILTIN_PANEL and not Path(path).exists()


def read_data(path):
    """A user's CSV table, or the shipped provincial panel (2000-2017) for ``--data province_panel``."""
    from ..io import read_csv_table

    if _is_builtin(path):
        from ..stirpat import load_province_panel

        return load_province_panel(years=(2000, 2017))
    return read_csv_table(path)


def _load(args):
    """The data table with coordinates, and the name used in messages."""
    from ..errors import UserInputError
    from ..io import read_csv_table

    data = read_data(args.data)
    name = "megacity_sd/data/province_panel.csv" if _is_builtin(args.data) else args.data
    coords = getattr(args, "coords", None)
    if coords:
        if str(coords) == BUILTIN_COORDS and not Path(coords).exists():
            from ..stirpat import load_capitals

            cap = load_capitals()[["province", "code", "lon", "lat"]]
            key = args.entity if args.entity in ("province", "code") else "province"
            cap = cap.rename(columns={key: args.entity}) if key != args.entity else cap
            cap = cap[[args.entity, "lon", "lat"]]
            cname = "megacity_sd/data/province_capitals.csv"
        else:
            cap = read_csv_table(coords)
            cname = coords
            missing = [c for c in (args.entity, "lon", "lat") if c not in cap.columns]
            if missing:
                raise UserInputError(f"{cname}: column(s) {', '.join(repr(c) for c in missing)} not found; allowed: "
                                     f"a table with columns '{args.entity}', lon, lat (degrees)")
            cap = cap[[args.entity, "lon", "lat"]]
        if args.entity not in data.columns:
            raise UserInputError(f"{name}: column '{args.entity}' not found; allowed: "
                                 f"{', '.join(map(str, data.columns))}")
        if cap[args.entity].duplicated().any():
            dup = cap.loc[cap[args.entity].duplicated(), args.entity].iloc[0]
            raise UserInputError(f"{cname}: '{dup}' appears twice in column '{args.entity}'; allowed: one row each")
        unknown = sorted(set(data[args.entity].astype(str)) - set(cap[args.entity].astype(str)))
        if unknown:
            raise UserInputError(f"{cname}: no coordinates for {args.entity} {', '.join(unknown[:5])}"
                                 f"{' ...' if len(unknown) > 5 else ''}; allowed: one row per {args.entity} of "
                                 f"{name}")
        data = data.drop(columns=[c for c in ("lon", "lat") if c in data.columns])
        cap = cap.rename(columns={"lon": args.lon, "lat": args.lat})
        data = data.assign(**{args.entity: data[args.entity].astype(str)}).merge(
            cap.assign(**{args.entity: cap[args.entity].astype(str)}), on=args.entity, how="left")
    years = getattr(args, "years", None)
    if years is not None:
        if args.time not in data.columns:
            raise UserInputError(f"{name}: column '{args.time}' not found; allowed: "
                                 f"{', '.join(map(str, data.columns))}")
        import pandas as pd

        t = pd.to_numeric(data[args.time], errors="coerce")
        data = data[(t >= years[0]) & (t <= years[1])]
        if data.empty:
            raise UserInputError(f"{name}: no row with {args.time} in {years[0]}-{years[1]}")
    return data, name


def _refuse_global_options(args, name: str) -> None:
    from ..errors import UserInputError

    bad = []
    if getattr(args, "time_effects", False):
        bad.append("--time-effects (the temporal kernel replaces year effects)")
    if getattr(args, "ekc", None) is not None:
        bad.append("--ekc")
    if getattr(args, "ridge_k", None) is not None:
        bad.append("--ridge-k")
    if getattr(args, "cov", "nonrobust") not in (None, "nonrobust"):
        bad.append(f"--cov {args.cov}")
    if bad:
        raise UserInputError(f"{name}: {', '.join(bad)} not allowed with --method {args.method}; allowed with "
                             "--method ols or ridge")
    if not args.entity:
        raise UserInputError(f"{name}: --method {args.method} needs --entity COLUMN (the province or city column)")
    perms = getattr(args, "permutations", 99)
    if perms != 0 and perms < 19:
        raise UserInputError(f"--permutations {perms}: not allowed; allowed: 0 (skip the test) or an integer >= 19")
    if getattr(args, "reselect", False) and args.method != "gwr":
        raise UserInputError("--reselect: allowed only with --method gwr")


def cmd_fit_local(args) -> int:
    """``stirpat fit --method gtwr | gwr``: local STIRPAT elasticities, their test, the megacity table and figure.

    Writes into ``--out``: ``stirpat_<method>_local.csv`` (local estimates
    with standard errors and intervals per entity, year and term),
    ``stirpat_<method>_info.csv`` (bandwidths, fit, notes),
    ``stirpat_<method>_global.csv`` (the pooled OLS fit),
    ``stirpat_<method>_variability.csv`` (the Monte Carlo test) and
    ``stirpat_<method>_megacities.csv`` (megacities, local against global);
    into ``--figures``: ``stirpat_<method>_elasticities.png``.

    Returns
    -------
    int
        0 on success.
    """
    from ..errors import UserInputError
    from ..io import write_csv_atomic
    from ..plotting import figure_format
    from ..stirpat import fit_local, megacity_table, variability_test, write_local_figure

    if args.method not in LOCAL_METHODS:
        raise UserInputError(f"--method {args.method}: not a local method; allowed: {', '.join(LOCAL_METHODS)}")
    drivers = _columns(args.drivers)
    if not drivers:
        raise UserInputError(f"{args.data}: --drivers is empty; allowed: comma-separated column names")
    data, name = _load(args)
    _refuse_global_options(args, name)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out}: is a file; allowed: a folder")
    figures = Path(getattr(args, "figures", FIGURES_DIR))
    no_figures = getattr(args, "no_figures", False)
    if not no_figures and figures.exists() and not figures.is_dir():
        raise UserInputError(f"--figures {figures}: is a file; allowed: a folder")
    given = args.bandwidth is not None and (args.method == "gwr" or args.tau is not None)
    print(f"megacity-sd: {args.method.upper()} STIRPAT on {name} (bandwidth "
          f"{'given' if given else 'by ' + args.bandwidth_criterion}); the search and the permutations take "
          "minutes on a few hundred rows", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_local(data, args.dependent, drivers, entity=args.entity, time=args.time, lon=args.lon, lat=args.lat,
                        method=args.method, criterion=args.bandwidth_criterion, kernel=args.kernel,
                        fixed=args.fixed_bandwidth, bandwidth=args.bandwidth, tau=args.tau,
                        bandwidth_range=args.bandwidth_range, tau_max=args.tau_max, source=name,
                        progress=not args.no_progress)
        if args.permutations:
            variability_test(fit, args.permutations, seed=args.seed, reselect=args.reselect,
                             progress=not args.no_progress)
        mega = megacity_table(fit, args.megacity_years)
    print(fit.summary())
    if not mega.empty:
        print(f"\nMegacities: local elasticities ({mega['years'].iloc[0]} mean) against the global fit "
              f"({100 * (1 - fit.alpha):.0f} % intervals)")
        print(f"  {'city':<10} {'province':<10} {'term':<20} {'local':>24} {'global (pooled OLS)':>24}")
        for r in mega.itertuples(index=False):
            print(f"  {r.city:<10} {r.province:<10} {r.term:<20} "
                  f"{f'{r.local:.3f} [{r.local_low:.3f}, {r.local_high:.3f}]':>24} "
                  f"{f'{r[7]:.3f} [{r.global_low:.3f}, {r.global_high:.3f}]':>24}")
    m = args.method
    write_csv_atomic(fit.estimates(), out / f"stirpat_{m}_local.csv")
    write_csv_atomic(fit.info(), out / f"stirpat_{m}_info.csv")
    write_csv_atomic(fit.global_fit.table(), out / f"stirpat_{m}_global.csv")
    written = [f"stirpat_{m}_local.csv", f"stirpat_{m}_info.csv", f"stirpat_{m}_global.csv"]
    if fit.variability is not None:
        write_csv_atomic(fit.variability, out / f"stirpat_{m}_variability.csv")
        written.append(f"stirpat_{m}_variability.csv")
    if not mega.empty:
        write_csv_atomic(mega, out / f"stirpat_{m}_megacities.csv")
        written.append(f"stirpat_{m}_megacities.csv")
    announce(f"\nwrote {', '.join(written)} into {out}/")
    if not no_figures:
        highlight = _columns(args.highlight) if getattr(args, "highlight", None) else None
        with figure_format(getattr(args, "format", "png"), getattr(args, "dpi", 150)):
            path = write_local_figure(fit, figures, highlight)
        announce(f"wrote {path.name} into {figures}/")
    return 0
