"""The explorer's state and answers: presets, runs (coalesced), charts against baseline and history, the co-control
plane, indicators and plan targets, exports."""

from __future__ import annotations

import collections
import math
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import numpy as np

from ..errors import UserInputError, suggest
from ..levers import lever_families, path_names, slider_step
from ..model import MODEL_PATH, canonical, model_doc, model_years
from ..scenario import DEFAULT_CITY, Scenario, list_cities, list_scenarios, load_scenario
from ..units import display_of
from .levers import check_constants
from .requests import (
    _NAME,
    MAX_BODY,
    MAX_UPLOAD_BODY,
    _ExportRequest,
    _finite,
    _num,
    _parse,
    _PresetRequest,
    _RunRequest,
    _Setting,
    _UploadRequest,
)

__all__ = [
    "CHARTS",
    "TABLE_INDICATORS",
    "Explorer",
]


def _chart(id_: str, title: str, kind: str, series: dict[str, str], *, history: dict | None = None,
           refs: list | None = None) -> dict:
    """A chart of the page: its series (variable -> label) in the display unit of the first
    (:func:`megacity_sd.units.display_of`), each with its scale from model units; the history, in model units
    too, takes the chart's scale."""
    first = display_of(next(iter(series)))
    chart = {"id": id_, "title": title, "unit": first.label, "kind": kind,
             "series": [{"var": var, "label": label, "scale": display_of(var).scale} for var, label in series.items()]}
    if refs is not None:
        chart["refs"] = refs
    if history is not None:
        chart["history"] = {**history, "scale": first.scale}
    return chart


#: The charts of the page: model variables, labels and the scale from model units to the chart's unit.
CHARTS = (
    _chart("co2", "CO2 emissions", "lines",
           {"CO2 scope 1 and 2": "total (scope 1+2)", "CO2 emissions": "scope 1 (territorial)",
            "scope 2 CO2": "scope 2 (imported electricity)"},
           history={"table": "history", "variable": "co2", "label": "CEADs inventory (scope 1)"}),
    _chart("pm25", "PM2.5, annual mean concentration", "lines", {"PM25": "PM2.5"},
           refs=[{"value": 5.0, "label": "WHO 2021 guideline (5)"},
                 {"value": 35.0, "label": "national standard GB 3095-2012 (35)"}],
           history={"table": "pm25_bulletins", "variable": "pm25", "label": "environment bulletins"}),
    _chart("energy", "Energy supply by source", "stack",
           {"primary coal": "coal", "primary oil": "oil", "primary gas": "gas",
            "primary imported electricity": "imported electricity", "primary PV electricity": "local PV",
            "primary green hydrogen electricity": "green-hydrogen power",
            "primary clean transport fuels": "clean transport fuels"}),
    _chart("fleet", "Car fleet", "stack", {"ICE cars": "combustion cars", "NEV cars": "new-energy cars"}),
    _chart("floor", "Building floor area", "stack",
           {"conventional floor area": "conventional", "retrofitted floor area": "retrofitted",
            "green floor area": "green"}),
    _chart("population", "Resident population", "lines", {"Population": "population"},
           history={"table": "history", "variable": "population", "label": "statistics"}),
    _chart("gdp", "GDP (constant 2005 prices)", "lines", {"GDP": "GDP"}),
)


#: Indicators of the page's table (all of :data:`megacity_sd.indicators.INDICATORS` are computed and exported).
TABLE_INDICATORS = ("CO2 peak year", "CO2 peak", "CO2 in 2030", "CO2 in 2035", "CO2 in 2060",
                    "year CO2 below 50% of 2019", "cumulative CO2 2021-2060", "PM2.5 in 2035",
                    "air pollutant equivalent in 2035")


class Explorer:
    """The explorer's state and computations, independent of HTTP.

    Parameters
    ----------
    mdl_path : str or Path
        The model file.

    Attributes
    ----------
    stats : dict
        ``runs`` (model runs made, baselines included) and ``superseded``
        (run requests answered without running because a newer one of the
        same page was waiting).
    """

    def __init__(self, mdl_path: str | Path = MODEL_PATH):
        from ..indicators import INDICATORS
        from ..synergy import MODEL_VARIABLES, load_weights
        from ..targets import plan_targets

        self.mdl_path = Path(mdl_path)
        self.doc = model_doc(self.mdl_path)
        self.families = lever_families(self.mdl_path)
        self.levers = [lv["name"] for f in self.families for lv in f["levers"]]
        self.charts = [self._chart_spec(c) for c in CHARTS]
        wanted = [s["var"] for c in self.charts for s in c["series"]]
        wanted += [i.variable for i in INDICATORS] + list(MODEL_VARIABLES.values())
        self._plans = {c: plan_targets(c) for c in list_cities()}
        wanted += [v for plan in self._plans.values() for v in plan.variables()]
        self.columns = [self.doc[canonical(v)].name for v in dict.fromkeys(wanted) if canonical(v) in self.doc]
        self.weights = load_weights()
        self.stats = {"runs": 0, "superseded": 0}
        self._run_lock = threading.Lock()
        self._lock = threading.Lock()
        self._latest: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._presets: dict[tuple[str, str], Scenario] = {}
        self._baselines: dict[str, tuple[np.ndarray, dict]] = {}
        self._meta: dict | None = None
        self._hist: dict[str, dict] = {}
        self._base_out: dict[str, dict] = {}

    def _chart_spec(self, chart: dict) -> dict:
        """A chart of :data:`CHARTS` without the series whose variable the model lacks."""
        series = [s for s in chart["series"] if canonical(s["var"]) in self.doc]
        return {**chart, "series": series}

    # -- look-ups, validated
    def _city(self, city: str) -> str:
        cities = list_cities()
        if city not in cities:
            raise UserInputError(f"request: key 'city': unknown city {city!r}{suggest(city, cities)}; "
                                 f"allowed: {', '.join(cities)}")
        return city

    def _preset(self, city: str, name: str) -> Scenario:
        names = list_scenarios()
        if name not in names:
            raise UserInputError(f"request: key 'preset': unknown scenario {name!r}{suggest(name, names)}; "
                                 f"allowed: {', '.join(names)} (open another file with 'Open scenario file')")
        key = (city, name)
        with self._lock:
            scen = self._presets.get(key)
        if scen is None:
            scen = load_scenario(name, city=city, mdl_path=self.mdl_path)
            with self._lock:
                self._presets[key] = scen
        return scen

    def _setting(self, req: _Setting) -> tuple[str, Scenario, dict[str, float], dict[str, float]]:
        """Validate a setting: (city, preset, overrides, resolved constants)."""
        city = self._city(req.city)
        preset = self._preset(city, req.preset)
        overrides = check_constants(req.constants, mdl_path=self.mdl_path)
        first, last = model_years(self.mdl_path)
        if not first < req.year <= last:
            raise UserInputError(f"request: key 'year': {req.year} out of range; allowed: {first + 1}-{last}")
        return city, preset, overrides, {**preset.constants, **overrides}

    # -- model runs
    def _simulate(self, constants: Mapping[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One run of the fast engine (:func:`megacity_sd.engines.run_series`) for the explorer's variables."""
        from ..simulate import run_series

        years, series = run_series("fast", constants, self.columns, mdl_path=self.mdl_path)
        self.stats["runs"] += 1
        return years.astype(int), series

    def _baseline(self, city: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The city's baseline run (cached; call with the run lock held)."""
        if city not in self._baselines:
            self._baselines[city] = self._simulate(self._preset(city, "baseline").constants)
        return self._baselines[city]

    # -- API
    def meta(self) -> dict:
        """Cities, presets, levers by sector, uncertainty file, charts and indicators."""
        if self._meta is not None:
            return self._meta
        from ..io import read_yaml_mapping
        from ..scenario import find_named

        def title_of(path: Path) -> tuple[str, str]:
            try:
                data = read_yaml_mapping(path, "")
                return str(data.get("title") or path.stem), str(data.get("description") or "").strip()
            except UserInputError:
                return path.stem, ""

        presets = []
        for name in list_scenarios():
            title, desc = title_of(find_named(name))
            presets.append({"name": name, "title": title, "description": desc})
        cities = [{"name": c, "title": title_of(find_named(c, "cities"))[0]} for c in list_cities()]
        order = list(dict.fromkeys(v.sector for v in self.doc.values()))
        sectors: dict[str, dict] = {}
        for fam in sorted(self.families, key=lambda f: order.index(f["sector"]) if f["sector"] in order else 99):
            sec = sectors.setdefault(fam["sector"], {"sector": fam["sector"], "label": fam["sector_label"],
                                                     "families": []})
            sec["families"].append(fam)
        self._meta = {
            "cities": cities, "default_city": DEFAULT_CITY, "presets": presets,
            "last_year": model_years(self.mdl_path)[1],
            "sectors": list(sectors.values()), "charts": self.charts,
            "table_indicators": list(TABLE_INDICATORS),
            "limits": {"max_body": MAX_BODY, "max_upload_body": MAX_UPLOAD_BODY},
            "lever_rule": "effective = baseline path + max(0, target - baseline path) x phase-in: a target below "
                          "the city's baseline path changes nothing",
        }
        return self._meta

    def _uncertainty(self, scen: Scenario) -> tuple[list[dict], str]:
        from ..sensitivity import load_uncertainty

        try:
            unc = load_uncertainty(scenario=scen, mdl_path=self.mdl_path)
        except UserInputError as err:
            return [], f"uncertainty sliders off: {err}"
        rows = []
        for p in unc.parameters:
            rows.append({"name": p.name, "lower": p.lower, "upper": p.upper, "nominal": p.nominal,
                         "units": p.units, "source": p.source, "distribution": p.distribution,
                         "step": slider_step(p.lower, p.upper, p.units) if p.upper > p.lower else 1.0,
                         "comment": self.doc[canonical(p.name)].comment})
        return rows, ""

    def _preset_body(self, city: str, scen: Scenario, *, name: str, title: str, description: str,
                     preset: str) -> dict:
        base = self._preset(city, "baseline")
        unc, warning = self._uncertainty(base)
        unc_names = {u["name"] for u in unc}
        default = {v.name: v.value for v in self.doc.values() if v.kind == "constant"}
        values = {n: scen.constants.get(n, default[n]) for n in self.levers}
        for u in unc:
            values[u["name"]] = scen.constants.get(u["name"], u["nominal"])
        extra = {k: v for k, v in scen.constants.items()
                 if k not in values and k not in unc_names and base.constants.get(k, default.get(k)) != v}
        paths = {}
        for fam in self.families:
            names = path_names(fam["family"])
            if all(canonical(n) in self.doc for n in names.values()):
                vals = {r: scen.constants.get(self.doc[canonical(n)].name, default[self.doc[canonical(n)].name])
                        for r, n in names.items()}
                tgt = self.doc[canonical(names["target"])].name
                vals["source"] = scen.sources.get(tgt) or f"model default: {self.doc[canonical(tgt)].comment}"
                paths[fam["family"]] = vals
        sources = {k: scen.sources[k] for k in (*values, *extra) if k in scen.sources}
        city_title = next((c["title"] for c in self.meta()["cities"] if c["name"] == city), city)
        return {"city": city, "city_title": city_title, "preset": preset, "name": name, "title": title,
                "description": description, "values": values, "extra": extra, "sources": sources,
                "paths": paths, "uncertainty": unc, "warning": warning}

    def preset(self, body: dict) -> dict:
        """A preset resolved for a city: slider values, baseline paths, sources, uncertainty sliders."""
        req = _parse(_PresetRequest, body)
        city = self._city(req.city)
        scen = self._preset(city, req.preset)
        meta = next(p for p in self.meta()["presets"] if p["name"] == req.preset)
        return self._preset_body(city, scen, name=scen.name, title=meta["title"],
                                 description=meta["description"], preset=req.preset)

    def upload(self, body: dict) -> dict:
        """Validate a scenario file opened in the browser (its text) and resolve it for a city.

        The text is checked exactly as ``megacity-sd run --scenario FILE``
        checks a file; ``extends`` may only name shipped scenarios (the
        browser's files are not on this machine). The file name is a label.
        """
        from ..io import read_yaml_mapping

        req = _parse(_UploadRequest, body)
        city = self._city(req.city)
        label = re.sub(r"[^\w.\- ]", "_", req.filename.replace("\\", "/").rsplit("/", 1)[-1])[:80] or "upload"
        with tempfile.TemporaryDirectory(prefix="megacity-sd-upload-") as tmp:
            path = Path(tmp) / "upload.yaml"
            path.write_bytes(req.text.encode("utf-8"))
            try:
                data = read_yaml_mapping(path, "with keys name, title, description, extends, constants, cities")
                ext = data.get("extends")
                for ref in [ext] if isinstance(ext, str) else ext if isinstance(ext, list) else []:
                    if isinstance(ref, str) and ref not in list_scenarios():
                        raise UserInputError(f"{path}: key 'extends': {ref!r} is not allowed in a file opened in the "
                                             f"browser; allowed: the shipped scenarios {', '.join(list_scenarios())}")
                scen = load_scenario(str(path), city=city, mdl_path=self.mdl_path)
            except UserInputError as err:
                text = str(err)
                for p in {str(path.resolve()), str(path)}:
                    text = text.replace(p, f"file '{label}'")
                raise UserInputError(text) from None
        scen.sources = {k: v.replace(f"({path.name})", f"({label})") for k, v in scen.sources.items()}
        desc = str(data.get("description") or "").strip()
        return {**self._preset_body(city, scen, name=scen.name, title=scen.title or scen.name, description=desc,
                                    preset="baseline"), "uploaded": label}

    def run(self, body: dict) -> dict:
        """Run a setting and return what the page draws.

        A request whose ``client`` has sent a newer ``seq`` by the time the
        model is free is answered ``{"superseded": true}`` without a run.
        """
        req = _parse(_RunRequest, body)
        city, preset, overrides, constants = self._setting(req)
        t_start = time.perf_counter()
        if req.client:
            with self._lock:
                if req.seq > self._latest.get(req.client, -math.inf):
                    self._latest[req.client] = req.seq
                self._latest.move_to_end(req.client)
                while len(self._latest) > 1000:
                    self._latest.popitem(last=False)
        with self._run_lock:
            if req.client and self._latest.get(req.client, req.seq) > req.seq:
                self.stats["superseded"] += 1
                return {"seq": req.seq, "superseded": True}
            base_years, base = self._baseline(city)
            t0 = time.perf_counter()
            years, series = self._simulate(constants)
            ms_model = 1000 * (time.perf_counter() - t0)
        out = self._results(city, years, series, base, req.year)
        out.update(seq=req.seq, superseded=False, city=city, preset=preset.name, ms_model=round(ms_model, 2),
                   ms_server=round(1000 * (time.perf_counter() - t_start), 2), changed=len(overrides))
        return out

    def _results(self, city: str, years, series, base, year: int) -> dict:
        from ..indicators import INDICATORS, indicator_matrix
        from ..targets import check

        fixed = self._base_results(city, years, base)
        charts = {}
        for c in self.charts:
            charts[c["id"]] = {"series": [_finite(series[s["var"]] * s["scale"]) for s in c["series"]],
                               "baseline": fixed["charts"][c["id"]]}
        now = indicator_matrix(years, series, INDICATORS)[0]
        indicators = [{"name": i.name, "unit": i.unit, "value": _num(a), "baseline": b}
                      for i, a, b in zip(INDICATORS, now, fixed["indicators"], strict=True)]
        targets = check(self._plan(city), years, series)
        for t, b in zip(targets, fixed["targets"], strict=True):
            t.update(model=_num(t["model"]), bound=_num(t["bound"]), margin=_num(t["margin"]),
                     baseline=_num(b["model"]), baseline_bound=_num(b["bound"]), baseline_status=b["status"])
        return {"years": [int(y) for y in years], "charts": charts, "history": self._history(city),
                "indicators": indicators, "cocontrol": self._cocontrol(city, years, series, base, year),
                "targets": targets, "plan": f"{self._plan(city).title} (target file {self._plan(city).name})"}

    def _base_results(self, city: str, years, base) -> dict:
        """What the page shows of the city's baseline run (cached per city)."""
        from ..indicators import INDICATORS, indicator_matrix
        from ..targets import check

        with self._lock:
            hit = self._base_out.get(city)
        if hit is None:
            hit = {"charts": {c["id"]: [_finite(base[s["var"]] * s["scale"]) for s in c["series"]]
                              for c in self.charts},
                   "indicators": [_num(v) for v in indicator_matrix(years, base, INDICATORS)[0]],
                   "targets": check(self._plan(city), years, base)}
            with self._lock:
                self._base_out[city] = hit
        return hit

    def _plan(self, city: str):
        """The city's plan targets (:func:`megacity_sd.targets.plan_targets`), read once."""
        from ..targets import plan_targets

        if city not in self._plans:
            self._plans[city] = plan_targets(city)
        return self._plans[city]

    def _history(self, city: str) -> dict:
        """The observations drawn on the charts (cached per city)."""
        from ..data import table

        if city in self._hist:
            return self._hist[city]
        out = {}
        for c in self.charts:
            h = c.get("history")
            if not h:
                continue
            df = table(h["table"], city, h["variable"]).sort_values("year")
            if len(df):
                out[c["id"]] = {"label": h["label"], "years": [int(y) for y in df["year"]],
                                "values": _finite(df["value"].to_numpy(float) * h["scale"])}
        self._hist[city] = out
        return out

    def _cocontrol(self, city: str, years, series, base, year: int) -> dict:
        """Co-control coordinates of the setting against the baseline, every year of the path.

        The coordinates, elasticities and quadrants are those of
        :mod:`megacity_sd.synergy` (:func:`~megacity_sd.synergy.relative_change`,
        :func:`~megacity_sd.synergy.elasticity`, :func:`~megacity_sd.synergy.quadrant`),
        on whole arrays of years; ``APE`` sums the pollutants divided by their
        pollution-equivalent weights, as :func:`~megacity_sd.synergy.add_equivalent`
        does (the tests check both against :func:`~megacity_sd.synergy.synergy_table`).
        """
        from ..synergy import CO2, MODEL_VARIABLES, PATH_YEARS, elasticity, quadrant, relative_change

        sel = (years >= min(PATH_YEARS[0], year)) & (years <= PATH_YEARS[1])
        yrs = years[sel]
        levels = {p: (base[v][sel], series[v][sel]) for p, v in MODEL_VARIABLES.items()}
        kg = {"t/year": 1000.0, "kg/year": 1.0}
        weights = dict(zip(self.weights["pollutant"], self.weights["kg_per_equivalent"], strict=True))
        units = {p: self.doc[canonical(v)].units.lower() for p, v in MODEL_VARIABLES.items()}
        if all(p in levels and units[p] in kg for p in weights):
            levels["APE"] = tuple(sum(levels[p][i] * kg[units[p]] / w for p, w in weights.items()) for i in (0, 1))
        y = relative_change(*levels[CO2])
        points, paths = [], {}
        on_path = (yrs >= PATH_YEARS[0]) & (yrs <= PATH_YEARS[1])
        at = np.flatnonzero(yrs == year)
        for pol, (before, after) in levels.items():
            if pol == CO2:
                continue
            x = relative_change(before, after)
            if at.size:
                i = int(at[0])
                points.append({"pollutant": pol, "x": _num(x[i]), "y": _num(y[i]),
                               "et": _num(elasticity(x[i], y[i])), "quadrant": quadrant(x[i], y[i])})
            paths[pol] = [[_num(a), _num(b)] for a, b in zip(x[on_path], y[on_path], strict=True)]
        return {"year": year, "points": points, "paths": paths, "path_years": list(PATH_YEARS),
                "co2": "CO2 scope 1+2"}

    # -- exports
    def _export_setting(self, body: dict) -> tuple[_ExportRequest, str, Scenario, dict, Scenario]:
        req = _parse(_ExportRequest, body)
        city, preset, overrides, constants = self._setting(req)
        if not _NAME.fullmatch(req.name) or req.name in list_scenarios() or req.name in list_cities():
            raise UserInputError(f"request: key 'name': {req.name!r} is not allowed; allowed: 1-40 letters, digits, "
                                 "'_' or '-', not the name of a shipped scenario or city")
        unknown = sorted(set(req.sources) - set(req.constants))
        if unknown:
            raise UserInputError(f"request: key 'sources.{unknown[0]}': not among the constants of the request; "
                                 "allowed: a source for a constant the request sets")
        src_of = {self.doc[canonical(k)].name: v.strip()[:500] for k, v in req.sources.items() if v.strip()}
        stamp = date.today().isoformat()
        changed = {k: v for k, v in overrides.items()
                   if preset.constants.get(k, self.doc[canonical(k)].value) != v}
        sources = dict(preset.sources)
        for k in changed:
            sources[k] = src_of.get(k) or f"set in megacity-sd explore ({city}, from preset {preset.name}, {stamp})"
        title = req.title.strip() or (f"{preset.title} with {len(changed)} change(s)" if changed else preset.title)
        current = Scenario(name=req.name, city=city, constants=constants, sources=sources, files=list(preset.files),
                           title=title)
        return req, city, preset, changed, current

    def export_yaml(self, body: dict) -> tuple[str, str]:
        """The setting as a scenario file: ``extends`` the preset, with the changed levers and their sources.

        Returns
        -------
        (str, str)
            File name and YAML text.
        """
        import yaml

        req, city, preset, changed, current = self._export_setting(body)
        data = {"name": req.name, "title": current.title,
                "description": f"Set in megacity-sd explore for {city} on {date.today().isoformat()}, from the "
                               f"preset {preset.name}: {len(changed)} constant(s) changed.",
                "extends": preset.name,
                "constants": {k: {"value": v, "source": current.sources[k]} for k, v in changed.items()}}
        head = (f"# Written by megacity-sd explore. Run it with:\n"
                f"#   megacity-sd run --city {city} --scenario {req.name}.yaml\n")
        text = head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
        return f"{req.name}.yaml", text

    def export_csv(self, body: dict) -> tuple[str, str]:
        """The setting's results and the baseline's, as the long table of ``results.csv``."""
        import pandas as pd

        from ..simulate import run, to_long

        req, city, preset, changed, current = self._export_setting(body)
        base = self._preset(city, "baseline")
        frames = [to_long(run(base, "fast", mdl_path=self.mdl_path), city=city, scenario="baseline",
                          mdl_path=self.mdl_path),
                  to_long(run(current, "fast", mdl_path=self.mdl_path), city=city, scenario=req.name,
                          mdl_path=self.mdl_path)]
        return f"{req.name}_results.csv", pd.concat(frames, ignore_index=True).to_csv(index=False)

    def export_report(self, body: dict) -> tuple[str, str]:
        """The report (:func:`megacity_sd.report.build_report`) of the baseline, the preset and the setting."""
        from ..report import build_report

        req, city, preset, changed, current = self._export_setting(body)
        scens = [self._preset(city, "baseline")]
        if preset.name != "baseline":
            scens.append(preset)
        descriptions = {}
        if changed or preset.name == "baseline":
            scens.append(current)
            lines = ", ".join(f"{k} = {v:g}" for k, v in changed.items()) or "no change"
            descriptions[req.name] = f"Set in megacity-sd explore from the preset {preset.name}: {lines}."
        text = build_report(scens, descriptions=descriptions, year=req.year, mdl_path=self.mdl_path,
                            title=f"megacity-sd report: {city}, {req.name}")
        return f"{req.name}_report.html", text
