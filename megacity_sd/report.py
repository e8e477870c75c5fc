"""The report a planner emails: one self-contained HTML file per city.

:func:`build_report` runs a city's scenarios and returns one HTML page with
the scenario definitions, the indicators (with the change against the
baseline), the plan targets the city has published (met or missed), the
standard figures and the co-control coordinates (embedded as base64 PNG), the
co-control table and every model constant used, with its units, range and
source. The page loads nothing: no script, no style sheet, no font and no
image comes from outside it, and it links to nothing outside itself (sources
that cite a web page are quoted as text).

Plan targets are the city's target file (:func:`megacity_sd.targets.plan_targets`),
evaluated by :func:`megacity_sd.targets.check`, as in the explorer and ``discover``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .io import write_text_atomic
from .model import MODEL_PATH, canonical, model_doc
from .scenario import Scenario

__all__ = [
    "scenario_settings",
    "parameter_table",
    "build_report",
    "write_report",
]

WHO_PM25 = 5.0  # microgram/m3, WHO 2021 air quality guideline, annual mean
NATIONAL_PM25 = 35.0  # microgram/m3, GB 3095-2012 Grade II, annual mean


# ----------------------------------------------------------------------------- tables


def scenario_settings(scen: Scenario, base: Scenario, mdl_path: str | Path = MODEL_PATH) -> pd.DataFrame:
    """What a scenario changes against the same city's baseline.

    Returns
    -------
    pandas.DataFrame
        ``constant, units, range, baseline, value, source``, one row per
        constant whose value differs from the baseline's.
    """
    doc = model_doc(Path(mdl_path))
    rows = []
    for name, value in scen.constants.items():
        var = doc[canonical(name)]
        before = base.constants.get(var.name, var.value)
        if before == value:
            continue
        rows.append({"constant": var.name, "units": var.units, "range": _range(var.limits), "baseline": before,
                     "value": value, "source": scen.sources.get(var.name, "")})
    return pd.DataFrame(rows, columns=["constant", "units", "range", "baseline", "value", "source"])


def _range(limits) -> str:
    return "" if limits is None else f"[{limits[0]:g}, {limits[1]:g}]"


def parameter_table(scenarios: Sequence[Scenario], mdl_path: str | Path = MODEL_PATH) -> pd.DataFrame:
    """Every model constant used by the runs, with its value in each scenario, units, range and source.

    Returns
    -------
    pandas.DataFrame
        ``constant, sector, units, range``, one column per scenario (the value
        used) and ``source`` (the file that set it, else the model's own
        source comment; where scenarios set different values, each
        scenario's source).
    """
    doc = model_doc(Path(mdl_path))
    rows = []
    for var in doc.values():
        if var.kind != "constant" or var.sector == "Control":
            continue
        vals = [s.constants.get(var.name, var.value) for s in scenarios]
        srcs = [s.sources.get(var.name) for s in scenarios]
        model_src = f"model default: {var.comment}" if var.comment else "model default"
        distinct = list(dict.fromkeys(src or model_src for src in srcs))
        if len(distinct) == 1:
            source = distinct[0]
        else:
            source = " | ".join(f"{s.name}: {src or model_src}" for s, src in zip(scenarios, srcs, strict=True))
        row = {"constant": var.name, "sector": var.sector, "units": var.units, "range": _range(var.limits)}
        row.update({s.name: v for s, v in zip(scenarios, vals, strict=True)})
        row["source"] = source
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- HTML


_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:13px;color:#222;margin:24px auto;max-width:1180px;
padding:0 16px;line-height:1.4}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:30px;border-bottom:1px solid #ccc}
h3{font-size:14px;margin-bottom:4px}
table{border-collapse:collapse;margin:6px 0 14px 0;font-size:12px}
th,td{border:1px solid #ccc;padding:2px 6px;vertical-align:top;overflow-wrap:anywhere}
th{background:#f0f0f0;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.met{color:#1a7f37;font-weight:bold}.missed{color:#b42318;font-weight:bold}.nc{color:#777}
.meta{color:#555}.src{color:#555;font-size:11px;min-width:220px;max-width:520px}td.m{min-width:170px}
figure{margin:10px 0 20px 0}
figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:12px}
nav a{margin-right:12px}.tw{overflow-x:auto;max-width:100%}
"""


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _num(v, digits: int = 4) -> str:
    """A number for a table: whole numbers as they are (years, counts), others to ``digits`` significant digits."""
    if isinstance(v, str):
        return _e(v)
    if v is None or not np.isfinite(float(v)):
        return "-"
    v = float(v)
    if v.is_integer() and abs(v) < 1e7:
        return str(int(v))
    return f"{v:.{digits}g}"


def _table(df: pd.DataFrame, *, numeric: Sequence[str] = (), classes: Mapping[str, Callable] | None = None,
           small: Sequence[str] = (), digits: int = 4) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for col, v in zip(df.columns, row, strict=True):
            cls = []
            if col in numeric:
                cls.append("n")
                text = _num(v, digits)
            else:
                text = _e(v) if not (isinstance(v, float) and np.isnan(v)) else "-"
            if classes and col in classes:
                cls.append(classes[col](v))
            if col in small:
                cls.append("src")
            attr = f' class="{" ".join(c for c in cls if c)}"' if any(cls) else ""
            cells.append(f"<td{attr}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='tw'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _figures(long: pd.DataFrame, syn: pd.DataFrame, workdir: Path, year: int) -> list[tuple[str, str]]:
    """Standard run figures and the co-control coordinates, as (caption, data URI)."""
    import matplotlib.pyplot as plt

    from .io import unstaged
    from .plotting import STYLE, figure_format, savefig_atomic, write_run_figures
    from .synergy import PATH_YEARS, plot_coordinates

    captions = {"emissions": "Emissions by scenario: CO2 scope 1+2, scope 1 (with the CEADs inventory), scope 2, "
                "SO2, NOx and primary PM2.5",
                "energy_mix": "Energy supply by source (electricity at calorific value)",
                "co2_by_sector": "CO2 by sector (scope 1, CEADs sectors) and scope 2",
                "fleet": "Vehicle fleet by technology", "floor_area": "Building floor area by class",
                "pm25": f"Annual mean PM2.5 against the WHO guideline ({WHO_PM25:g}) and the national standard "
                        f"({NATIONAL_PM25:g}), with the environment bulletins",
                "population_gdp": "Resident population and GDP (constant 2005 prices)"}
    out = []
    with figure_format("png", 110), unstaged():  # scratch figures, read back at once
        files = write_run_figures(long, workdir)
        for f in files:
            key = f.stem.split("_", 1)[1] if "_" in f.stem else f.stem
            out.append((captions.get(key, f.stem), _png(f)))
        defined = syn[["rel_change_pollutant", "rel_change_co2"]].notna().all(axis=1)
        pols = [p for p in pd.unique(syn["pollutant"]) if defined[syn["pollutant"] == p].any()]
        if pols:
            with plt.rc_context(STYLE):
                cols = 2 if len(pols) > 1 else 1
                rows = (len(pols) + cols - 1) // cols
                fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 4.6 * rows), squeeze=False)
                for ax, pol in zip(axes.flat, pols, strict=False):
                    plot_coordinates(syn, ax, pollutant=pol, year=year, path_years=PATH_YEARS)
                for ax in list(axes.flat)[len(pols):]:
                    ax.set_visible(False)
                fig.tight_layout()
                path = savefig_atomic(fig, workdir / "cocontrol.png")
            out.append((f"Co-control coordinates: x = relative change of the pollutant, y = relative change of CO2 "
                        f"(scope 1+2), against the baseline; points {year}, paths {PATH_YEARS[0]}-{PATH_YEARS[1]}; "
                        "quadrant III: both fall", _png(path)))
    return out


def _targets_html(long: pd.DataFrame, scenarios: Sequence[Scenario], city: str) -> str:
    """The plan targets table: one row per target, the model's value and met/missed per scenario."""
    from .targets import check, plan_targets

    plan = plan_targets(city)
    checks = {}
    for s in scenarios:
        sub = long[long["scenario"] == s.name].pivot_table(index="year", columns="variable", values="value")
        checks[s.name] = check(plan, sub.index.to_numpy(), {c: sub[c].to_numpy() for c in sub.columns})
    first = next(iter(checks.values()), [])
    head = ["target", "year", "condition", "unit"] + [s.name for s in scenarios] + ["note", "source"]
    rows = []
    for i, t in enumerate(first):
        cells = [f"<td>{_e(t['name'])}</td>", f"<td>{'' if t['year'] is None else t['year']}</td>",
                 f"<td class='m'>{_e(t['reads'])}</td>", f"<td>{_e(t['unit'])}</td>"]
        for s in scenarios:
            c = checks[s.name][i]
            cls = {"met": "met", "missed": "missed"}.get(c["status"], "nc")
            bound = f" (bound {_num(c['bound'])})" if c["relative"] and np.isfinite(c["bound"]) else ""
            cells.append(f"<td class='n'>{_num(c['model'])}{bound} <span class='{cls}'>{_e(c['status'])}</span></td>")
        cells += [f"<td class='src'>{_e(t['note'])}</td>", f"<td class='src'>{_e(t['source'])}</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<p class='meta'>{_e(plan.title)} (target file <code>{_e(plan.name)}</code>, the same that "
            "<code>discover</code>, <code>seek</code> and <code>robust</code> read), against the model's value; "
            "the published targets the model cannot read on the plan's definition are listed as not checked, "
            "with the reason. Figures typed from the plans: megacity_sd/data/plan_targets.csv.</p>"
            "<div class='tw'><table><thead><tr>"
            + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></div>")


def build_report(scenarios: Sequence[Scenario], *, engine: str = "fast", title: str | None = None,
                 descriptions: Mapping[str, str] | None = None, year: int = 2035,
                 mdl_path: str | Path = MODEL_PATH) -> str:
    """Run a city's scenarios and return the report as one self-contained HTML page.

    Parameters
    ----------
    scenarios : sequence of Scenario
        Resolved scenarios of one city, with unique names; the city's
        baseline is added first when none is named ``baseline``.
    engine : str
        Simulation engine (:func:`megacity_sd.simulate.run`).
    title : str, optional
        Page title (default: the city and the scenario names).
    descriptions : mapping of str to str, optional
        A description per scenario name (default: the ``description`` of the
        scenario's own file, where it has one).
    year : int
        Year of the co-control points (the table also gives 2030 and 2060).
    mdl_path : str or Path
        The model file.

    Returns
    -------
    str
        The HTML text.
    """
    from . import __version__
    from .indicators import INDICATORS, against_baseline, evaluate
    from .io import read_yaml_mapping
    from .scenario import load_scenario
    from .simulate import run_long
    from .synergy import DEFAULT_YEARS, PATH_YEARS, model_changes, synergy_table

    scenarios = list(scenarios)
    cities = {s.city for s in scenarios}
    if len(cities) != 1:
        raise ValueError(f"a report is for one city; got {sorted(cities)}")
    city = cities.pop()
    if "baseline" not in {s.name for s in scenarios}:
        scenarios.insert(0, load_scenario("baseline", city=city, mdl_path=mdl_path))
    base = next(s for s in scenarios if s.name == "baseline")
    long = run_long(scenarios, engine=engine, mdl_path=mdl_path)
    ev = against_baseline(evaluate(long))
    syn = synergy_table(model_changes(long))
    syn_years = sorted({*DEFAULT_YEARS, year})
    syn_paths = syn[(syn["year"] >= PATH_YEARS[0]) & (syn["year"] <= PATH_YEARS[1])]
    descriptions = dict(descriptions or {})
    for s in scenarios:
        if s.name not in descriptions and s.files:
            try:
                descriptions[s.name] = str(read_yaml_mapping(s.files[-1], "").get("description") or "").strip()
            except Exception:  # noqa: BLE001 - a description is optional
                descriptions[s.name] = ""
    names = [s.name for s in scenarios]
    title = title or f"megacity-sd report: {city}, {', '.join(names)}"
    mdl = Path(mdl_path)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    digest = hashlib.sha256(mdl.read_bytes()).hexdigest()[:12]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{_e(title)}</h1>",
             f"<p class='meta'>City {_e(city)}; scenarios {_e(', '.join(names))}; engine {_e(engine)}; "
             f"megacity-sd {_e(__version__)}; model {_e(mdl.name)} (sha256 {digest}); written {stamp}. "
             "CO2 is scope 1+2 (territorial plus imported electricity) unless marked scope 1 or 2. "
             "This file is self-contained: it loads and links to nothing outside itself.</p>",
             "<nav><a href='#scenarios'>Scenarios</a><a href='#indicators'>Indicators</a>"
             "<a href='#targets'>Plan targets</a><a href='#figures'>Figures</a><a href='#cocontrol'>Co-control</a>"
             "<a href='#parameters'>Parameters</a></nav>"]
    # scenarios
    parts.append("<h2 id='scenarios'>Scenarios</h2>")
    for s in scenarios:
        settings = scenario_settings(s, base, mdl_path)
        files = ", ".join(f"{p.parent.name}/{p.name}" for p in s.files)
        parts.append(f"<h3>{_e(s.name)}: {_e(s.title)}</h3><p>{_e(descriptions.get(s.name, ''))}</p>"
                     f"<p class='meta'>files applied: {_e(files) or 'none (set in the explorer)'}</p>")
        if settings.empty:
            parts.append("<p class='meta'>No constant differs from the baseline.</p>")
        else:
            parts.append(_table(settings, numeric=("baseline", "value"), small=("source",)))
    # indicators
    parts.append("<h2 id='indicators'>Indicators</h2><p class='meta'>Value, and the change against the same "
                 "city's baseline (% for quantities, years for years).</p>")
    wide = ev.pivot_table(index="indicator", columns="scenario", values="value", sort=False, dropna=False)
    chg = ev.pivot_table(index="indicator", columns="scenario", values="change_pct", sort=False, dropna=False)
    dyr = ev.pivot_table(index="indicator", columns="scenario", values="change", sort=False, dropna=False)
    units = dict(zip(ev["indicator"], ev["unit"], strict=False))
    rows = []
    for ind in INDICATORS:
        row = {"indicator": ind.name, "unit": units.get(ind.name, ind.unit)}
        for n in names:
            v = wide.at[ind.name, n] if ind.name in wide.index and n in wide.columns else np.nan
            row[n] = _num(v)
            if n != "baseline":
                c = chg.at[ind.name, n] if ind.unit != "year" else dyr.at[ind.name, n]
                row[f"{n} vs base"] = "-" if not np.isfinite(c) else (f"{c:+.1f} %" if ind.unit != "year"
                                                                       else f"{c:+.0f} yr")
        rows.append(row)
    parts.append(_table(pd.DataFrame(rows), numeric=[c for c in rows[0] if c not in ("indicator", "unit")]))
    # plan targets
    parts.append("<h2 id='targets'>Plan targets</h2>")
    parts.append(_targets_html(long, scenarios, city))
    # figures
    parts.append("<h2 id='figures'>Figures</h2>")
    with tempfile.TemporaryDirectory(prefix="megacity-sd-report-") as tmp:
        for caption, uri in _figures(long, syn_paths, Path(tmp), year):
            parts.append(f"<figure><img alt='{_e(caption)}' src='{uri}'><figcaption>{_e(caption)}</figcaption>"
                         "</figure>")
    # co-control
    parts.append("<h2 id='cocontrol'>Co-control</h2><p class='meta'>Against the baseline: x = dP/P (relative change "
                 "of the pollutant's emissions), y = dC/C (relative change of CO2 scope 1+2); elasticity "
                 "ET = x / y; quadrant III: both fall (synergy), II: pollutant falls and CO2 rises, IV: CO2 falls "
                 "and the pollutant rises. APE: air-pollutant equivalent (Environmental Protection Tax Law "
                 "weights).</p>")
    st = syn[syn["year"].isin(syn_years)][["measure", "pollutant", "year", "rel_change_pollutant",
                                          "rel_change_co2", "elasticity", "quadrant", "note"]].copy()
    st["rel_change_pollutant"] = [f"{100 * v:+.2f} %" if np.isfinite(v) else "-" for v in st["rel_change_pollutant"]]
    st["rel_change_co2"] = [f"{100 * v:+.2f} %" if np.isfinite(v) else "-" for v in st["rel_change_co2"]]
    st = st.rename(columns={"measure": "scenario", "rel_change_pollutant": "dP/P", "rel_change_co2": "dC/C",
                            "elasticity": "ET"})
    if st["note"].nunique() <= 1:  # the same for every row (the CO2 scope): said above the table
        st = st.drop(columns="note")
    parts.append(_table(st, numeric=("year", "dP/P", "dC/C", "ET"), small=("note",)) if len(st) else
                 "<p class='meta'>Only the baseline: no co-control coordinates.</p>")
    # parameters
    params = parameter_table(scenarios, mdl_path)
    parts.append(f"<h2 id='parameters'>Parameters</h2><p class='meta'>Every model constant used ({len(params)}), "
                 "with the value of each scenario, its units, the model's [min, max] and the source of the value "
                 "(the city, calibration or scenario file that set it, else the model's own source).</p>")
    parts.append(_table(params, numeric=names, small=("source",), digits=8))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(scenarios: Sequence[Scenario], path: str | Path, **kwargs) -> Path:
    """Build the report (:func:`build_report`) and write it atomically to ``path``."""
    return write_text_atomic(build_report(scenarios, **kwargs), path)
