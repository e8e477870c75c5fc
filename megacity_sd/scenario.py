"""Scenario and city files: YAML, validated by pydantic and against the model.

A scenario file overrides model constants (usually policy levers); a city file
overrides the constants that describe a city (initial values, structure, the
policies it already had) and cites a source for each value. Both use the same
schema::

    name: transport
    title: Transport emission reduction
    description: ...
    extends: baseline            # optional: a name, a path, or a list of them
    constants:
      NEV sales target: 1.0                        # a number, or
      initial population: {value: 1.538e7, source: "NBS ..."}
    cities:                      # optional, scenarios only: settings for one city
      shanghai:                  # (applied after the constants above, when run for that city)
        NEV sales target: {value: 0.5, source: "Shanghai Clean Air Action Plan 2023-2025"}

Files are read as UTF-8 with a YAML safe loader (``1e7`` is a number); unknown keys are rejected; every
constant must exist in the model, be a constant there, and lie within its
Vensim ``[min,max]`` range. Constants resolve as: model defaults, then the
city file, then the scenario and the files it extends (parents first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, ValidationError, field_validator

from .errors import UserInputError, suggest
from .io import read_yaml_mapping, validation_error
from .model import MODEL_PATH, check_constant, resource_dir

__all__ = [
    "SCENARIO_DIR",
    "CITY_DIR",
    "CALIBRATED_DIR",
    "USER_SCENARIO_DIR",
    "scenario_folders",
    "find_named",
    "list_named",
    "DEFAULT_CITY",
    "DEFAULT_SCENARIOS",
    "Scenario",
    "list_scenarios",
    "list_cities",
    "load_scenario",
    "read_scenario_file",
    "ScenarioFile",
]

SCENARIO_DIR = resource_dir("scenarios")
CITY_DIR = SCENARIO_DIR / "cities"
CALIBRATED_DIR = SCENARIO_DIR / "calibrated"
DEFAULT_CITY = "shanghai"
DEFAULT_SCENARIOS = ("baseline", "energy_structure", "transport", "buildings", "combined", "end_of_pipe", "neutrality",
                     "city_plans")
# YAML files in scenarios/ that are not scenarios: the calibration and uncertainty declarations
NOT_SCENARIOS = frozenset({"calibration", "uncertainty"})

Number = StrictFloat | StrictInt


class SourcedValue(BaseModel):
    """A constant's value with the source it comes from.

    ``ci`` is an optional confidence interval ``[low, high]`` (calibrated
    parameter sets write it; the sensitivity analysis may use it as a range).
    """

    model_config = ConfigDict(extra="forbid")
    value: Number
    source: str
    ci: tuple[Number, Number] | None = None


NAME_RULE = ("letters (any script), digits, spaces and _ - . ( ) +, starting with a letter or digit, at most 64 "
             "characters (names become parts of file names)")
_NAME = re.compile(r"^[^\W_][\w .()+-]{0,63}\Z")


def check_name(name: str) -> str:
    """A scenario or city name that is safe as part of a file name (no ``/``, ``\\``, ``..``); else ValueError."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValueError(f"{name[:60]!r} is not allowed as a name; allowed: {NAME_RULE}")
    return name


class ScenarioFile(BaseModel):
    """Schema of a scenario or city YAML file."""

    model_config = ConfigDict(extra="forbid")
    name: str

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value)
    title: str | None = None
    description: str = ""
    extends: str | list[str] | None = None
    constants: dict[str, Number | SourcedValue] = {}
    cities: dict[str, dict[str, Number | SourcedValue]] = {}


@dataclass
class Scenario:
    """A resolved scenario for one city.

    Attributes
    ----------
    name : str
        Scenario name.
    city : str
        City name.
    constants : dict of str to float
        Overrides of model constants, keyed by the model's own names.
    sources : dict of str to str
        Source of each override, where its file gives one.
    files : list of Path
        Files that contributed, in the order applied.
    title : str
        Human-readable title.
    intervals : dict of str to tuple of float
        Confidence intervals of calibrated constants, where a file gives them.
    """

    name: str
    city: str
    constants: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    title: str = ""
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


USER_SCENARIO_DIR = Path("scenarios")
"""The user's scenario folder, relative to the working folder: named files are looked up there first."""


def scenario_folders(sub: str = "") -> list[Path]:
    """Where named files are looked up, in order: ``./scenarios/<sub>`` in the working folder, then the installed one.

    A user's copies (a clone's ``scenarios/`` after ``pip install .``, or a folder of their own) come before
    the package's; the two are one when the working folder is the source checkout.
    """
    out: list[Path] = []
    for folder in (Path.cwd() / USER_SCENARIO_DIR / sub, SCENARIO_DIR / sub):
        if folder.is_dir() and all(folder.resolve() != f.resolve() for f in out):
            out.append(folder)
    return out


def find_named(name: str, sub: str = "") -> Path | None:
    """The file ``<name>.yaml`` in the first of :func:`scenario_folders` that has it, or None."""
    for folder in scenario_folders(sub):
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def list_named(sub: str = "") -> list[str]:
    """Names of the YAML files in ``scenarios/<sub>`` over every one of :func:`scenario_folders`, sorted."""
    return sorted({p.stem for folder in scenario_folders(sub) for p in folder.glob("*.yaml")})


def list_scenarios() -> list[str]:
    """Names of the scenario files (the working folder's ``scenarios/`` and the project's)."""
    return [n for n in list_named() if n not in NOT_SCENARIOS]


def list_cities() -> list[str]:
    """Names of the city files (the working folder's ``scenarios/cities/`` and the project's)."""
    return list_named("cities")


def read_scenario_file(path: str | Path) -> ScenarioFile:
    """Read and validate one scenario or city file (schema only; constants are checked when applied)."""
    data = read_yaml_mapping(path, "with keys name, title, description, extends, constants")
    try:
        return ScenarioFile.model_validate(data)
    except ValidationError as err:
        raise validation_error(path, err, "allowed keys: name, title, description, extends, constants, cities "
                                          "(and value, source, ci inside a constant)") from None


def _resolve_path(ref: str, base_dir: Path, kind: str) -> Path:
    if ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
        p = Path(ref)
        return p if p.is_absolute() else (base_dir / p)
    path = find_named(ref, "cities" if kind == "city" else "")
    if path is None or (kind == "scenario" and ref in NOT_SCENARIOS):
        names = list_cities() if kind == "city" else list_scenarios()
        other, option = ("scenario", "--scenario") if kind == "city" else ("city", "--city")
        if ref in (list_scenarios() if kind == "city" else list_cities()):
            plural = "cities" if kind == "city" else "scenarios"
            raise UserInputError(f"'{ref}' is a {other}, not a {kind}: give it with {option}; "
                                 f"allowed {plural}: {', '.join(names)}")
        raise UserInputError(f"unknown {kind} '{ref}'{suggest(ref, names)}; allowed: {', '.join(names)} "
                             "(or the path of a YAML file)")
    return path


def _check_kind(path: Path, spec: ScenarioFile, kind: str) -> None:
    """Refuse a city file given as a scenario and a scenario file given as a city."""
    city_dirs = [f.resolve() for f in scenario_folders("cities")]
    scenario_dirs = [f.resolve() for f in scenario_folders()]
    city_like = path.resolve().parent in city_dirs or (spec.name in list_cities() and
                                                       spec.name not in list_scenarios())
    if kind == "scenario" and city_like:
        raise UserInputError(f"{path}: a city file (name: {spec.name}), not a scenario; give it as the city "
                             "(--city, city=)")
    scenario_like = path.resolve().parent in scenario_dirs or spec.extends is not None or bool(spec.cities) \
        or (spec.name in list_scenarios() and spec.name not in list_cities())
    if kind == "city" and scenario_like:
        raise UserInputError(f"{path}: a scenario file (name: {spec.name}), not a city; give it as the scenario "
                             "(--scenario, scenario=)")


def _apply_constants(path: Path, constants: dict, scen: Scenario, mdl_path: Path, spec_name: str,
                     prefix: str = "constants") -> None:
    given: dict[str, str] = {}  # model name -> the key that set it in this mapping
    for key, raw in constants.items():
        value = float(raw.value if isinstance(raw, SourcedValue) else raw)
        name = check_constant(key, value, where=f"{path}: key '{prefix}.{key}'", mdl_path=mdl_path).name
        if name in given:  # the same constant spelt twice ('NEV sales target', 'nev_sales_TARGET'): last-wins hides one
            raise UserInputError(f"{path}: key '{prefix}.{key}': the same constant as '{given[name]}'; "
                                 "allowed: each constant once")
        given[name] = key
        scen.constants[name] = value
        if isinstance(raw, SourcedValue):
            scen.sources[name] = raw.source
            if raw.ci is not None:
                scen.intervals[name] = (float(raw.ci[0]), float(raw.ci[1]))
        else:
            scen.sources[name] = f"scenario {spec_name} ({path.name})"  # this file set the value


def _apply(path: Path, kind: str, scen: Scenario, mdl_path: Path, seen: tuple[Path, ...],
           city: str | None = None) -> ScenarioFile:
    try:
        path = path.resolve()
    except (OSError, RuntimeError, ValueError) as err:  # a symbolic-link loop, a NUL in the name
        raise UserInputError(f"{str(path)!r}: cannot be opened ({err}); allowed: a YAML file") from None
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise UserInputError(f"{path}: key 'extends': circular inheritance ({chain})")
    spec = read_scenario_file(path)
    if kind == "city" and spec.cities:
        raise UserInputError(f"{path}: key 'cities': only scenario files have settings per city; "
                             "allowed in a city file: name, title, description, constants")
    if not seen:
        _check_kind(path, spec, kind)
    unknown = sorted(set(spec.cities) - set(list_cities()))
    if unknown:
        raise UserInputError(f"{path}: key 'cities.{unknown[0]}': unknown city{suggest(unknown[0], list_cities())}; "
                             f"allowed: {', '.join(list_cities())}")
    parents = [spec.extends] if isinstance(spec.extends, str) else list(spec.extends or [])
    for ref in parents:
        _apply(_resolve_path(ref, path.parent, kind), kind, scen, mdl_path, (*seen, path), city)
    _apply_constants(path, spec.constants, scen, mdl_path, spec.name)
    if city is not None and city in spec.cities:
        _apply_constants(path, spec.cities[city], scen, mdl_path, spec.name, f"cities.{city}")
    scen.files.append(path)
    return spec


def load_scenario(scenario: str = "baseline", city: str = DEFAULT_CITY,
                  mdl_path: str | Path = MODEL_PATH, *, calibrated: bool = True) -> Scenario:
    """Resolve a scenario for a city into model constant overrides.

    Parameters
    ----------
    scenario : str
        A scenario name (file in ``scenarios/``) or the path of a YAML file.
    city : str
        A city name (file in ``scenarios/cities/``) or the path of a YAML file.
    mdl_path : str or Path
        The model whose names and ranges the overrides are checked against.
    calibrated : bool
        Apply the city's calibrated parameter set
        (``scenarios/calibrated/<city>.yaml``, written by ``megacity-sd
        calibrate``) after the city file, where it exists.

    Returns
    -------
    Scenario

    Raises
    ------
    UserInputError
        Unknown city or scenario, missing or malformed file, unknown key,
        unknown constant, value of the wrong type or out of range.
    """
    for key, value in (("scenario", scenario), ("city", city)):
        if not isinstance(value, (str, Path)):
            raise UserInputError(f"{key} {value!r}: a {type(value).__name__}; allowed: a name or the path of a "
                                 "YAML file")
    scenario, city = str(scenario), str(city)
    mdl_path = Path(mdl_path)
    city_path = _resolve_path(city, Path.cwd(), "city")
    scen_path = _resolve_path(scenario, Path.cwd(), "scenario")
    out = Scenario(name="", city="")
    city_spec = _apply(city_path, "city", out, mdl_path, ())
    for name in out.constants:
        if name not in out.sources or out.sources[name].startswith("scenario "):
            raise UserInputError(f"{city_path}: key 'constants.{name}': a city value needs a source: "
                                 "write {value: ..., source: ...}")
    cal_path = find_named(city_spec.name, "calibrated")
    if calibrated and cal_path is not None:
        _apply(cal_path, "city", out, mdl_path, ())
    spec = _apply(scen_path, "scenario", out, mdl_path, (), city_spec.name)
    out.name = spec.name
    out.city = city_spec.name
    out.title = spec.title or spec.name
    return out
