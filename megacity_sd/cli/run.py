"""``megacity-sd run | compare | scenarios``: project cities under scenarios, compare cities, list what can be set."""

from __future__ import annotations

from pathlib import Path

from ..io import announce, write_csv_atomic, write_workbook
from .common import add_engine_arg, add_output_args, cities_of, load_scenarios

__all__ = ["add_parser", "cmd_compare", "cmd_run", "cmd_scenarios", "wide_results"]


def add_parser(sub) -> None:
    """Register ``run``, ``compare`` and ``scenarios`` on an argparse subparsers object."""
    from ..scenario import DEFAULT_CITY

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


def wide_results(long):
    """The long table as one row per ``city, scenario, variable, unit`` and one column per year (for a workbook)."""
    wide = long.pivot_table(index=["city", "scenario", "variable", "unit"], columns="year", values="value",
                            sort=False)
    wide.columns = [int(c) for c in wide.columns]
    return wide.reset_index()


def cmd_run(args) -> int:
    from ..indicators import against_baseline, evaluate, summary
    from ..scenario import DEFAULT_SCENARIOS
    from ..simulate import run_long

    names = args.scenario or list(DEFAULT_SCENARIOS)
    # validate everything before running anything, so bad input leaves nothing behind
    scenarios = load_scenarios(names, cities_of(args.city))
    cities = list(dict.fromkeys(s.city for s in scenarios))
    added = " (baseline added for comparison)" if len(scenarios) > len(names) * len(cities) else ""
    print(f"megacity-sd: {', '.join(cities)}; {len(scenarios) // len(cities)} scenario(s){added}; "
          f"engine {args.engine}", flush=True)
    long = run_long(scenarios, engine=args.engine, progress=True)
    ev = against_baseline(evaluate(long))
    out = Path(args.out)
    results = write_csv_atomic(long, out / "results.csv")
    write_csv_atomic(ev, out / "indicators.csv")
    announce(f"wrote {results} ({len(long)} rows) and {out / 'indicators.csv'} (with the change against baseline)")
    if args.xlsx:
        book = write_workbook({"indicators": ev, "results": wide_results(long)}, out / "results.xlsx")
        announce(f"wrote {book} (sheets: indicators; results, one row per variable and one column per year)")
    if not args.no_figures:
        from ..plotting import write_run_figures

        files = write_run_figures(long, args.figures)
        announce(f"wrote {len(files)} figures into {args.figures}/")
    _print_summary(summary(long))
    return 0


def _pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (wide East Asian characters take two)."""
    import unicodedata

    cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - cols, 0)


def _print_summary(table) -> None:
    """The run summary: a few indicators per city and scenario, and CO2 and PM2.5 against baseline."""
    from ..indicators import by_name

    co2, pm25 = (i.unit for i in by_name(["CO2 in 2030", "PM2.5 in 2035"]))
    print(f"\nSummary. CO2: {co2}, scope 1+2 (territorial + imported electricity) unless marked s1 or s2;")
    print("peak: the projection's peak year over 2020-2060 (the historical peak is in indicators.csv);")
    print("'<50 %' / '<10 %': first year CO2 is under that share of 2019 (- never); PM2.5: annual mean")
    print(f"concentration, {pm25}; 'vs base': change against the same city's baseline, %.")
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
    from ..compare import compare_series, compare_table, plot_compare
    from ..simulate import run_long

    scenarios = load_scenarios(args.scenario or ["baseline"], cities_of(args.city or ["all"]), add_baseline=False)
    cities = list(dict.fromkeys(s.city for s in scenarios))
    if len(cities) < 2:
        from ..errors import UserInputError

        raise UserInputError("--city: compare needs two cities or more; allowed: --city NAME repeated, or --city all")
    names = list(dict.fromkeys(s.name for s in scenarios))
    print(f"megacity-sd compare: {', '.join(cities)}; {', '.join(names)}; engine {args.engine}", flush=True)
    long = run_long(scenarios, engine=args.engine)
    table = compare_table(long)
    out = Path(args.out)
    write_csv_atomic(table, out / "compare.csv")
    write_csv_atomic(compare_series(long), out / "compare_series.csv")
    announce(f"wrote {out / 'compare.csv'} and {out / 'compare_series.csv'}")
    if not args.no_figures:
        import matplotlib.pyplot as plt

        from ..plotting import STYLE, savefig_atomic

        with plt.rc_context(STYLE):
            fig = plot_compare(long, title="Cities side by side: CO2 scope 1+2, per capita, per GDP; PM2.5")
            path = savefig_atomic(fig, Path(args.figures) / "compare_cities.png")
        announce(f"wrote {path}")
    width = max([44] + [len(f"{ind} {year} ({unit})") + 1 for ind, unit, year in
                        table[["indicator", "unit", "year"]].itertuples(index=False)])
    for scen in names:
        t = table[table["scenario"] == scen]
        print(f"\n{scen}: value (rank among the cities, 1 = lowest)")
        print(f"{'indicator':<{width}}" + "".join(f"{c:>14}" for c in cities))
        for (ind, unit, year), g in t.groupby(["indicator", "unit", "year"], sort=False):
            by = g.set_index("city")
            cells = [f"{by.at[c, 'value']:>9.2f} ({by.at[c, 'rank']})" if c in by.index else f"{'-':>14}"
                     for c in cities]
            print(f"{f'{ind} {year} ({unit})':<{width}}" + "".join(f"{x:>14}" for x in cells))
    return 0


def cmd_scenarios(args) -> int:
    from ..levers import is_lever
    from ..model import model_doc
    from ..scenario import find_named, list_cities, list_scenarios, read_scenario_file

    print("Scenarios (scenarios/*.yaml):")
    for name in list_scenarios():
        spec = read_scenario_file(find_named(name))
        ext = spec.extends if spec.extends else "-"
        print(f"  {name:<18} {spec.title or '':<52} extends: {ext}; overrides {len(spec.constants)} constant(s)")
    print("\nCities (scenarios/cities/*.yaml):")
    for name in list_cities():
        spec = read_scenario_file(find_named(name, "cities"))
        print(f"  {name:<18} overrides {len(spec.constants)} constant(s)")
    doc = model_doc()
    if args.all:
        rows = [v for v in doc.values() if v.kind == "constant" and v.sector != "Control"]
        print(f"\nAll {len(rows)} model constants (name | units | [min, max] | default | sector):")
    else:
        rows = [v for v in doc.values() if is_lever(v)]
        print("\nScenario levers (name | units | [min, max] | default); each lever has a target, "
              "a start year and a phase-in time. --all lists every constant, with the city baseline paths:")
    for v in rows:
        lo, hi = v.limits if v.limits else (float("nan"), float("nan"))
        extra = f" | {v.sector}" if args.all else ""
        print(f"  {v.name:<44} {v.units:<10} [{lo:g}, {hi:g}]  default {v.value:g}{extra}")
    return 0

