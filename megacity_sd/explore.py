"""The policy explorer: a local web page where every move of a lever re-runs the model.

``megacity-sd explore`` serves one page (``megacity_sd/web/``: plain HTML, CSS
and JavaScript drawing SVG, nothing loaded from outside) and a small JSON API
on ``127.0.0.1``, with the standard library's ``ThreadingHTTPServer``:

==========================  ====================================================================
``GET /api/meta``           cities, scenario presets, the levers grouped by sector, chart specs
``POST /api/preset``        a preset resolved for a city: lever values, baseline paths, sources,
                            the uncertainty sliders (``scenarios/uncertainty.yaml``)
``POST /api/upload``        a scenario file the user opened in the browser (its text), validated
``POST /api/run``           one run of the "fast" engine: charts, indicators, co-control points,
                            plan targets (met or missed)
``POST /api/export/yaml``   the setting as a scenario file for ``megacity-sd run --scenario FILE``
``POST /api/export/csv``    the setting's results (and the baseline's) as the long table
``POST /api/export/report`` the report of :mod:`megacity_sd.report` for the setting
==========================  ====================================================================

Nothing is listed by hand: the levers are the model's policy constants
(:func:`lever_families`), grouped by the sector their effective value
drives, the presets are the files of ``scenarios/``, the uncertainty sliders
come from ``scenarios/uncertainty.yaml``.

Every request body is JSON of at most :data:`MAX_BODY` bytes
(:data:`MAX_UPLOAD_BODY` for an upload) with known keys only, and its
constants pass the checks of scenario files (:func:`check_constants`: a model
constant, a number, within the model's ``[min,max]``); anything else gets a
4xx answer with one line, and nothing changes. Runs are serialised and
coalesced: a run request that a newer one of the same page has overtaken
while it waited is answered ``superseded`` without running. No path from the
browser reaches the file system: an uploaded file is text, and its
``extends`` may only name shipped scenarios.
"""

from __future__ import annotations

import collections
import json
import math
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from .errors import UserInputError, suggest
from .model import MODEL_PATH, canonical, model_doc
from .scenario import DEFAULT_CITY, Number, Scenario, list_cities, list_scenarios, load_scenario

__all__ = [
    "WEB_DIR",
    "MAX_BODY",
    "MAX_UPLOAD_BODY",
    "CHARTS",
    "TABLE_INDICATORS",
    "Explorer",
    "ExploreServer",
    "RequestError",
    "check_constants",
    "is_lever",
    "lever_families",
    "make_server",
]

WEB_DIR = Path(__file__).resolve().parent / "web"
#: Largest request body, bytes (a setting is a few kB; the model has fewer than 1,000 constants).
MAX_BODY = 64 * 1024
#: Largest body of an upload (the scenario file's text inside JSON), bytes.
MAX_UPLOAD_BODY = 512 * 1024
MAX_CONSTANTS = 2000
_STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/index.html": ("index.html", "text/html; charset=utf-8"),
           "/app.js": ("app.js", "text/javascript; charset=utf-8"), "/app.css": ("app.css", "text/css; charset=utf-8")}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_ROLES = (("target", " target"), ("start", " start year"), ("phase", " phase in time"))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")

#: The charts of the page: model variables, labels and the scale from model units to the chart's unit.
CHARTS = (
    {"id": "co2", "title": "CO2 emissions", "unit": "Mt CO2/yr", "kind": "lines",
     "series": [{"var": "CO2 scope 1 and 2", "label": "total (scope 1+2)", "scale": 1e-6},
                {"var": "CO2 emissions", "label": "scope 1 (territorial)", "scale": 1e-6},
                {"var": "scope 2 CO2", "label": "scope 2 (imported electricity)", "scale": 1e-6}],
     "history": {"table": "history", "variable": "co2", "label": "CEADs inventory (scope 1)", "scale": 1e-6}},
    {"id": "pm25", "title": "PM2.5, annual mean concentration", "unit": "µg/m³", "kind": "lines",
     "series": [{"var": "PM25", "label": "PM2.5", "scale": 1.0}],
     "refs": [{"value": 5.0, "label": "WHO 2021 guideline (5)"},
              {"value": 35.0, "label": "national standard GB 3095-2012 (35)"}],
     "history": {"table": "pm25_bulletins", "variable": "pm25", "label": "environment bulletins", "scale": 1.0}},
    {"id": "energy", "title": "Energy supply by source", "unit": "Mtce/yr", "kind": "stack",
     "series": [{"var": "primary coal", "label": "coal", "scale": 1e-6},
                {"var": "primary oil", "label": "oil", "scale": 1e-6},
                {"var": "primary gas", "label": "gas", "scale": 1e-6},
                {"var": "primary imported electricity", "label": "imported electricity", "scale": 1e-6},
                {"var": "primary PV electricity", "label": "local PV", "scale": 1e-6},
                {"var": "primary green hydrogen electricity", "label": "green-hydrogen power", "scale": 1e-6},
                {"var": "primary clean transport fuels", "label": "clean transport fuels", "scale": 1e-6}]},
    {"id": "fleet", "title": "Car fleet", "unit": "million cars", "kind": "stack",
     "series": [{"var": "ICE cars", "label": "combustion cars", "scale": 1e-6},
                {"var": "NEV cars", "label": "new-energy cars", "scale": 1e-6}]},
    {"id": "floor", "title": "Building floor area", "unit": "million m²", "kind": "stack",
     "series": [{"var": "conventional floor area", "label": "conventional", "scale": 1e-6},
                {"var": "retrofitted floor area", "label": "retrofitted", "scale": 1e-6},
                {"var": "green floor area", "label": "green", "scale": 1e-6}]},
    {"id": "population", "title": "Resident population", "unit": "million", "kind": "lines",
     "series": [{"var": "Population", "label": "population", "scale": 1e-6}],
     "history": {"table": "history", "variable": "population", "label": "statistics", "scale": 1e-6}},
    {"id": "gdp", "title": "GDP (constant 2005 prices)", "unit": "trillion yuan/yr", "kind": "lines",
     "series": [{"var": "GDP", "label": "GDP", "scale": 1e-12}]},
)
#: Indicators of the page's table (all of :data:`megacity_sd.indicators.INDICATORS` are computed and exported).
TABLE_INDICATORS = ("CO2 peak year", "CO2 peak", "CO2 in 2030", "CO2 in 2035", "CO2 in 2060",
                    "year CO2 below 50% of 2019", "cumulative CO2 2021-2060", "PM2.5 in 2035",
                    "air pollutant equivalent in 2035")


class RequestError(Exception):
    """A request the API refuses: an HTTP status and one line saying what is allowed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)


# ----------------------------------------------------------------------------- levers, read from the model


def is_lever(var) -> bool:
    """A scenario lever: a constant of the Policy view that is not a city's baseline path or initial value."""
    return (var.kind == "constant" and var.sector == "Policy"
            and not (" baseline " in var.name or var.name.endswith("initial value")))


def _step(lo: float, hi: float, units: str) -> float:
    """A round slider step giving about 100 positions over ``[lo, hi]`` (whole years for years)."""
    if units.strip().lower() == "year":
        return 1.0
    span = hi - lo
    if not span > 0:
        return 1.0
    raw = span / 100.0
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-12))


def _described(comment: str) -> str:
    """The text in the balanced parentheses after "Scenario lever" in a lever's comment, else ""."""
    start = comment.find("(") if comment.startswith("Scenario lever") else -1
    if start < 0:
        return ""
    depth = 0
    for i in range(start, len(comment)):
        depth += {"(": 1, ")": -1}.get(comment[i], 0)
        if depth == 0:
            return comment[start + 1:i]
    return ""


def _sector_label(sector: str) -> str:
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", sector.replace(".", " ")).split()
    return " ".join([words[0], *(w.lower() for w in words[1:])]) if words else sector


def _users(name: str, eqs: Mapping[str, str]) -> list[str]:
    """Canonical names of the variables whose equation (lower case, one space between words) uses ``name``."""
    words = canonical(name).split("_")
    pat = re.compile(r"(?<![a-z0-9_])(?<![a-z0-9_] )" + r"[ _]".join(map(re.escape, words)) + r"(?![ _]?[a-z0-9_])")
    return [k for k, e in eqs.items() if pat.search(e)]


@lru_cache(maxsize=4)
def lever_families(mdl_path: str | Path = MODEL_PATH) -> tuple[dict, ...]:
    """The model's levers, grouped into families and sectors.

    A family is the levers that share a stem (``NEV sales`` for ``NEV sales
    target``, ``... start year``, ``... phase in time``). Its sector is the
    sector of the variables that its effective value (the auxiliary that
    reads its target) drives, followed through the Policy view, the most
    frequent first.

    Returns
    -------
    tuple of dict
        One per family, in model order: ``family``, ``description`` (from the
        lever's comment), ``effective`` (the variable it sets), ``sector``,
        ``sector_label`` and ``levers``: one dict per lever with ``name,
        role`` (target, start, phase or value), ``units, min, max, step,
        default, comment``.
    """
    doc = model_doc(Path(mdl_path))
    eqs = {k: re.sub(r"\s+", " ", v.equation.lower()) for k, v in doc.items()}
    fams: dict[str, dict] = {}
    for var in doc.values():
        if not is_lever(var):
            continue
        family, role = var.name, "value"
        for r, suffix in _ROLES:
            if var.name.endswith(suffix):
                family, role = var.name[: -len(suffix)], r
                break
        lo, hi = var.limits if var.limits else (min(0.0, var.value or 0.0), max(1.0, var.value or 0.0))
        fam = fams.setdefault(family, {"family": family, "description": "", "levers": []})
        fam["levers"].append({"name": var.name, "role": role, "units": var.units, "min": lo, "max": hi,
                              "step": _step(lo, hi, var.units), "default": var.value, "comment": var.comment})
        if role in ("target", "value") and not fam["description"]:
            fam["description"] = _described(var.comment)
    out = []
    for fam in fams.values():
        own = {canonical(lv["name"]) for lv in fam["levers"]}
        head = next((lv for lv in fam["levers"] if lv["role"] in ("target", "value")), fam["levers"][0])
        effective = [k for k in _users(head["name"], eqs) if k not in own]
        sector, frontier, seen = "Policy", effective, set(own)
        for _ in range(8):
            sectors = [doc[k].sector for k in frontier if doc[k].sector not in ("Policy", "Control")]
            if sectors:
                sector = collections.Counter(sectors).most_common(1)[0][0]
                break
            seen |= set(frontier)
            frontier = list(dict.fromkeys(u for k in frontier for u in _users(doc[k].name, eqs) if u not in seen))
            if not frontier:
                break
        fam["effective"] = doc[effective[0]].name if effective else ""
        fam["sector"] = sector
        fam["sector_label"] = _sector_label(sector)
        out.append(fam)
    return tuple(out)


def _path_names(family: str) -> dict[str, str]:
    """The constants of a family's baseline path (the city's policies in force)."""
    return {"initial": f"{family} initial value", "target": f"{family} baseline target",
            "start": f"{family} baseline start year", "phase": f"{family} baseline phase in time"}


# ----------------------------------------------------------------------------- validation


def check_constants(values: Mapping, *, where: str = "request", prefix: str = "constants",
                    mdl_path: str | Path = MODEL_PATH) -> dict[str, float]:
    """Check constant overrides as a scenario file's ``constants`` are checked.

    Each name and value goes through :func:`megacity_sd.model.check_constant`,
    the rule scenario files follow (a model constant outside the time
    settings, any case or spacing, the value within its Vensim
    ``[min,max]``), with the same messages; this adds what a JSON body needs
    and a YAML file gets from its schema: every value a number (not a
    boolean, text or null), finite, and each constant once.

    Parameters
    ----------
    values : mapping
        Constant name -> value.
    where : str
        What the values come from, for the message (``request``, a file name).
    prefix : str
        The key that holds them, for the message.
    mdl_path : str or Path
        The model whose names and ranges apply.

    Returns
    -------
    dict of str to float
        The values keyed by the model's own names.

    Raises
    ------
    UserInputError
        One line: the key, what is wrong and what is allowed.
    """
    from .model import check_constant

    if not isinstance(values, Mapping):
        raise UserInputError(f"{where}: key '{prefix}': a mapping of constant names to numbers is required")
    if len(values) > MAX_CONSTANTS:
        raise UserInputError(f"{where}: key '{prefix}': {len(values)} entries; allowed: at most {MAX_CONSTANTS}")
    out: dict[str, float] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise UserInputError(f"{where}: key '{prefix}': names must be text, got {key!r}")
        at = f"{where}: key '{prefix}.{key}'"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserInputError(f"{at}: a number is required (got {_short(value)})")
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        name = check_constant(key, value, where=at, mdl_path=mdl_path).name
        if not math.isfinite(value):
            raise UserInputError(f"{at}: {value} is not allowed; allowed: a finite number")
        if name in out:
            raise UserInputError(f"{at}: '{name}' is given twice; allowed: once")
        out[name] = value
    return out


def _short(value, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Setting(_Body):
    city: StrictStr = Field(DEFAULT_CITY, max_length=64)
    preset: StrictStr = Field("baseline", max_length=64)
    constants: dict[str, Number] = {}
    year: StrictInt = 2035


class _PresetRequest(_Body):
    city: StrictStr = Field(DEFAULT_CITY, max_length=64)
    preset: StrictStr = Field("baseline", max_length=64)


class _RunRequest(_Setting):
    client: StrictStr = Field("", max_length=64)
    seq: StrictInt = 0


class _ExportRequest(_Setting):
    name: StrictStr = Field("my_setting", max_length=40)
    title: StrictStr = Field("", max_length=200)
    sources: dict[str, StrictStr] = {}


class _UploadRequest(_Body):
    city: StrictStr = Field(DEFAULT_CITY, max_length=64)
    text: StrictStr
    filename: StrictStr = Field("upload.yaml", max_length=200)


_MEMBERS = {"float", "int", "str", "constrained-str", "function-after[...]"}
_MESSAGES = {"extra_forbidden": "unknown key; allowed: {keys}", "float_type": "a number is required",
             "int_type": "a whole number is required", "missing": "this key is required",
             "string_type": "text is required", "string_too_long": "too long; allowed: at most {max} characters",
             "dict_type": "a mapping is required", "int_from_float": "a whole number is required"}


def _parse(model: type[_Body], data) -> _Body:
    """Validate a decoded JSON body against one of the request schemas."""
    if not isinstance(data, dict):
        raise UserInputError(f"request: a JSON object is required (got {type(data).__name__})")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"] if str(p) not in _MEMBERS)
        keys = ", ".join(model.model_fields)
        max_len = (first.get("ctx") or {}).get("max_length", "")
        msg = _MESSAGES.get(first["type"], first["msg"]).format(keys=keys, max=max_len)
        got = "" if first["type"] in ("missing", "extra_forbidden", "string_too_long") else \
            f" (got {_short(first['input'])})"
        raise UserInputError(f"request: key '{loc}': {msg}{got}") from None


# ----------------------------------------------------------------------------- the explorer


def _finite(values, digits: int | None = 7) -> list:
    """A JSON-safe list: NaN and infinity become None; ``digits`` significant digits (None: all)."""
    out = []
    for v in np.asarray(values, dtype=float).tolist():
        if not math.isfinite(v):
            out.append(None)
        elif digits is None or v == 0:
            out.append(v)
        else:
            out.append(float(f"{v:.{digits}g}"))
    return out


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


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
        from .indicators import INDICATORS
        from .report import PLAN_METRICS
        from .synergy import MODEL_VARIABLES, load_weights

        self.mdl_path = Path(mdl_path)
        self.doc = model_doc(self.mdl_path)
        self.families = lever_families(self.mdl_path)
        self.levers = [lv["name"] for f in self.families for lv in f["levers"]]
        self.charts = [self._chart_spec(c) for c in CHARTS]
        wanted = [s["var"] for c in self.charts for s in c["series"]]
        wanted += [i.variable for i in INDICATORS] + list(MODEL_VARIABLES.values())
        wanted += [v for m in PLAN_METRICS.values() for v in m.variables]
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
        if not 2006 <= req.year <= 2060:
            raise UserInputError(f"request: key 'year': {req.year} out of range; allowed: 2006-2060")
        return city, preset, overrides, {**preset.constants, **overrides}

    # -- model runs
    def _simulate(self, constants: Mapping[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One run of the fast engine (:func:`megacity_sd.engines.run_one`) for the explorer's variables."""
        from .engines import run_one

        df = run_one("fast", constants, self.columns, mdl_path=self.mdl_path)
        self.stats["runs"] += 1
        return df.index.to_numpy(dtype=int), {c: df[c].to_numpy(dtype=float) for c in self.columns}

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
        from .io import read_yaml_mapping
        from .scenario import CITY_DIR, SCENARIO_DIR

        def title_of(path: Path) -> tuple[str, str]:
            try:
                data = read_yaml_mapping(path, "")
                return str(data.get("title") or path.stem), str(data.get("description") or "").strip()
            except UserInputError:
                return path.stem, ""

        presets = []
        for name in list_scenarios():
            title, desc = title_of(SCENARIO_DIR / f"{name}.yaml")
            presets.append({"name": name, "title": title, "description": desc})
        cities = [{"name": c, "title": title_of(CITY_DIR / f"{c}.yaml")[0]} for c in list_cities()]
        order = list(dict.fromkeys(v.sector for v in self.doc.values()))
        sectors: dict[str, dict] = {}
        for fam in sorted(self.families, key=lambda f: order.index(f["sector"]) if f["sector"] in order else 99):
            sec = sectors.setdefault(fam["sector"], {"sector": fam["sector"], "label": fam["sector_label"],
                                                     "families": []})
            sec["families"].append(fam)
        self._meta = {
            "cities": cities, "default_city": DEFAULT_CITY, "presets": presets,
            "sectors": list(sectors.values()), "charts": self.charts,
            "table_indicators": list(TABLE_INDICATORS),
            "limits": {"max_body": MAX_BODY, "max_upload_body": MAX_UPLOAD_BODY},
            "lever_rule": "effective = baseline path + max(0, target - baseline path) x phase-in: a target below "
                          "the city's baseline path changes nothing",
        }
        return self._meta

    def _uncertainty(self, scen: Scenario) -> tuple[list[dict], str]:
        from .sensitivity import load_uncertainty

        try:
            unc = load_uncertainty(scenario=scen, mdl_path=self.mdl_path)
        except UserInputError as err:
            return [], f"uncertainty sliders off: {err}"
        rows = []
        for p in unc.parameters:
            rows.append({"name": p.name, "lower": p.lower, "upper": p.upper, "nominal": p.nominal,
                         "units": p.units, "source": p.source, "distribution": p.distribution,
                         "step": _step(p.lower, p.upper, p.units) if p.upper > p.lower else 1.0,
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
            names = _path_names(fam["family"])
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
        from .io import read_yaml_mapping

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
        from .indicators import INDICATORS, indicator_matrix
        from .report import check_plan_targets

        fixed = self._base_results(city, years, base)
        charts = {}
        for c in self.charts:
            charts[c["id"]] = {"series": [_finite(series[s["var"]] * s["scale"]) for s in c["series"]],
                               "baseline": fixed["charts"][c["id"]]}
        now = indicator_matrix(years, series, INDICATORS)[0]
        indicators = [{"name": i.name, "unit": i.unit, "value": _num(a), "baseline": b}
                      for i, a, b in zip(INDICATORS, now, fixed["indicators"], strict=True)]
        targets = check_plan_targets(series, years, city)
        for t, b in zip(targets, fixed["targets"], strict=True):
            t["model"], t["baseline"], t["baseline_status"] = _num(t["model"]), _num(b["model"]), b["status"]
        return {"years": [int(y) for y in years], "charts": charts, "history": self._history(city),
                "indicators": indicators, "cocontrol": self._cocontrol(city, years, series, base, year),
                "targets": targets}

    def _base_results(self, city: str, years, base) -> dict:
        """What the page shows of the city's baseline run (cached per city)."""
        from .indicators import INDICATORS, indicator_matrix
        from .report import check_plan_targets

        with self._lock:
            hit = self._base_out.get(city)
        if hit is None:
            hit = {"charts": {c["id"]: [_finite(base[s["var"]] * s["scale"]) for s in c["series"]]
                              for c in self.charts},
                   "indicators": [_num(v) for v in indicator_matrix(years, base, INDICATORS)[0]],
                   "targets": check_plan_targets(base, years, city)}
            with self._lock:
                self._base_out[city] = hit
        return hit

    def _history(self, city: str) -> dict:
        """The observations drawn on the charts (cached per city)."""
        from .data import table

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
        from .synergy import CO2, MODEL_VARIABLES, PATH_YEARS, elasticity, quadrant, relative_change

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
        if not _NAME.match(req.name) or req.name in list_scenarios() or req.name in list_cities():
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

        from .run import run, to_long

        req, city, preset, changed, current = self._export_setting(body)
        base = self._preset(city, "baseline")
        frames = [to_long(run(base, "fast", mdl_path=self.mdl_path), city=city, scenario="baseline",
                          mdl_path=self.mdl_path),
                  to_long(run(current, "fast", mdl_path=self.mdl_path), city=city, scenario=req.name,
                          mdl_path=self.mdl_path)]
        return f"{req.name}_results.csv", pd.concat(frames, ignore_index=True).to_csv(index=False)

    def export_report(self, body: dict) -> tuple[str, str]:
        """The report (:func:`megacity_sd.report.build_report`) of the baseline, the preset and the setting."""
        from .report import build_report

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


# ----------------------------------------------------------------------------- HTTP


_SECURITY = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
             "'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
             "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
_POST = {"/api/preset": ("preset", "json"), "/api/upload": ("upload", "json"), "/api/run": ("run", "json"),
         "/api/export/yaml": ("export_yaml", "application/x-yaml; charset=utf-8"),
         "/api/export/csv": ("export_csv", "text/csv; charset=utf-8"),
         "/api/export/report": ("export_report", "text/html; charset=utf-8")}


class _Handler(BaseHTTPRequestHandler):
    server_version = "megacity-sd-explore"
    protocol_version = "HTTP/1.1"
    server: ExploreServer

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str, extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**_SECURITY, **(extra or {})}.items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, allow_nan=False, separators=(",", ":")).encode("utf-8"),
                   "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": " ".join(str(message).split())})

    def _host_ok(self) -> bool:
        if not self.server.loopback_only:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0] if ":" in host else host
        return name in _LOOPBACK

    def do_GET(self):  # noqa: N802 - the base class's name
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "this server answers requests to 127.0.0.1 or localhost only")
        if path in _STATIC:
            name, ctype = _STATIC[path]
            return self._send(HTTPStatus.OK, (WEB_DIR / name).read_bytes(), ctype)
        if path == "/api/meta":
            return self._json(HTTPStatus.OK, self.server.explorer.meta())
        if path == "/favicon.ico":
            return self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
        if path in _POST:
            return self._send(HTTPStatus.METHOD_NOT_ALLOWED, json.dumps({"error": f"{path}: use POST"}).encode(),
                              "application/json; charset=utf-8", {"Allow": "POST"})
        return self._error(HTTPStatus.NOT_FOUND, f"{path[:100]}: not found; allowed: /, /api/meta and the "
                                                 f"POST endpoints {', '.join(_POST)}")

    do_HEAD = do_GET

    def _refuse_method(self):
        self.close_connection = True
        self._send(HTTPStatus.METHOD_NOT_ALLOWED,
                   json.dumps({"error": f"method {self.command} not allowed; allowed: GET, POST"}).encode(),
                   "application/json; charset=utf-8", {"Allow": "GET, HEAD, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _read_json(self, limit: int):
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "request: chunked bodies are not accepted; "
                                                           "allowed: a body with Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "request: Content-Length is required")
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"request: Content-Length {length[:20]!r} is not a "
                                                       "byte count") from None
        if n > limit:
            self.close_connection = True
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request: body of {n} bytes; allowed: at most "
                                                                     f"{limit} bytes")
        raw = self.rfile.read(n)
        if self.headers.get_content_type() != "application/json":
            raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"request: Content-Type "
                                                                  f"{self.headers.get_content_type()!r}; "
                                                                  "allowed: application/json")

        def refuse(word):
            raise ValueError(f"{word} is not allowed; allowed: finite numbers")

        try:
            return json.loads(raw.decode("utf-8"), parse_constant=refuse)
        except UnicodeDecodeError:
            raise RequestError(HTTPStatus.BAD_REQUEST, "request: body is not UTF-8; allowed: JSON text") from None
        except json.JSONDecodeError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"request: malformed JSON at line {err.lineno}, column "
                                                       f"{err.colno}: {err.msg}") from None
        except (ValueError, RecursionError) as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"request: malformed JSON: {err}") from None

    def do_POST(self):  # noqa: N802 - the base class's name
        path = self.path.split("?", 1)[0]
        try:
            if not self._host_ok():
                self.close_connection = True
                raise RequestError(HTTPStatus.FORBIDDEN, "this server answers requests to 127.0.0.1 or localhost "
                                                         "only")
            if path not in _POST:
                self.close_connection = True
                raise RequestError(HTTPStatus.NOT_FOUND, f"{path[:100]}: not found; allowed: "
                                                         f"{', '.join(_POST)}")
            method, kind = _POST[path]
            body = self._read_json(MAX_UPLOAD_BODY if path == "/api/upload" else MAX_BODY)
            try:
                result = getattr(self.server.explorer, method)(body)
            except (UserInputError, RequestError):
                raise
            except Exception as err:  # noqa: BLE001 - a failed run is reported on the page, in one line
                first = (str(err).strip().splitlines() or [""])[0][:300]
                raise RequestError(HTTPStatus.INTERNAL_SERVER_ERROR,
                                   f"run failed: {type(err).__name__}{': ' + first if first else ''}") from None
        except RequestError as err:
            return self._error(err.status, str(err))
        except UserInputError as err:
            return self._error(HTTPStatus.BAD_REQUEST, str(err))
        if kind == "json":
            return self._json(HTTPStatus.OK, result)
        filename, text = result
        self._send(HTTPStatus.OK, text.encode("utf-8"), kind,
                   {"Content-Disposition": f'attachment; filename="{filename}"'})


class ExploreServer(ThreadingHTTPServer):
    """The explorer's HTTP server: one thread per connection, a deep listen queue, an :class:`Explorer`."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, explorer: Explorer, *, verbose: bool = False):
        self.explorer = explorer
        self.verbose = verbose
        self.loopback_only = address[0] in _LOOPBACK or address[0].startswith("127.")
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
        return f"http://{f'[{host}]' if ':' in host and not host.startswith('[') else host}:{port}/"


def make_server(host: str = "127.0.0.1", port: int = 0, *, explorer: Explorer | None = None, city: str | None = None,
                verbose: bool = False) -> ExploreServer:
    """Create the explorer's server (not yet serving) and warm it up.

    Parameters
    ----------
    host : str
        Address to bind (loopback by default: the page is for this machine).
    port : int
        TCP port; 0 picks a free one (``server.url`` tells which).
    explorer : Explorer, optional
        A ready explorer (default: a new one on the project's model).
    city : str, optional
        A city whose baseline is run before serving, so the first move is fast.
    verbose : bool
        Log every request on stderr.

    Returns
    -------
    ExploreServer
        Call ``serve_forever()`` (and ``shutdown()`` from another thread).
    """
    explorer = explorer or Explorer()
    server = ExploreServer((host, port), explorer, verbose=verbose)  # bind first: a busy port fails at once
    try:
        explorer.meta()
        if city is not None:
            explorer.preset({"city": city})
            with explorer._run_lock:
                explorer._baseline(explorer._city(city))
    except BaseException:
        server.server_close()
        raise
    return server
