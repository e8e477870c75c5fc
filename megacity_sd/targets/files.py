"""Target files: read, checked key by key, and the plan a city is held to."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserInputError, suggest
from ..io import read_yaml_mapping
from ..model import resource_dir
from .conditions import NotChecked, Target, TargetSet, parse_condition

TARGET_DIR = resource_dir("scenarios") / "targets"

# ----------------------------------------------------------------------------- files

_KEYS = ("name, title, city, description, targets (a list of: name, condition, source, note), not_checked (a list "
         "of: name, reason, source)")


def list_targets() -> list[str]:
    """Names of the target files in ``scenarios/targets/`` (the working folder's, then the project's)."""
    from ..scenario import list_named

    return list_named("targets")


def _path(ref: str | Path) -> Path:
    ref = str(ref)
    if ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
        return Path(ref)
    from ..scenario import find_named

    path = find_named(ref, "targets")
    if path is None:
        names = list_targets()
        raise UserInputError(f"targets {ref!r}: unknown target file{suggest(ref, names)}; allowed: "
                             f"{', '.join(names)} (or the path of a YAML file)")
    return path


def load_targets(ref: str | Path, *, city: str | None = None) -> TargetSet:
    """Read and parse a target file.

    Parameters
    ----------
    ref : str or Path
        A name in ``scenarios/targets/`` or the path of a YAML file.
    city : str, optional
        The city the targets are to be applied to; a file that declares
        another ``city:`` is refused.

    Returns
    -------
    TargetSet

    Raises
    ------
    UserInputError
        Missing or malformed file, unknown or missing key, a malformed
        condition or unknown indicator, two targets of the same name, a file
        for another city.
    """
    path = _path(ref)
    data = read_yaml_mapping(path, f"with keys {_KEYS}")
    unknown = sorted(set(data) - {"name", "title", "city", "description", "targets", "not_checked"})
    if unknown:
        raise UserInputError(f"{path}: key '{unknown[0]}': not allowed; allowed keys: {_KEYS}")
    for key in ("name", "targets"):
        if key not in data:
            raise UserInputError(f"{path}: key '{key}': required; allowed keys: {_KEYS}")
    for key in ("name", "title", "city", "description"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise UserInputError(f"{path}: key '{key}': text required (got {data[key]!r})")
    items = data["targets"]
    if not isinstance(items, list) or not items:
        raise UserInputError(f"{path}: key 'targets': a non-empty list of targets required (each with a "
                             "'condition')")
    file_city = data.get("city")
    if file_city is not None and city is not None and file_city.lower() != str(city).lower():
        raise UserInputError(f"{path}: key 'city': the targets are {file_city}'s, not {city}'s; allowed: "
                             f"--city {file_city}, or a target file without 'city:'")
    targets, seen = [], set()
    for i, item in enumerate(items):
        where = f"{path}: key 'targets.{i}"
        if isinstance(item, str):
            item = {"condition": item}
        if not isinstance(item, dict):
            raise UserInputError(f"{where}': a mapping (name, condition, source, note) or a condition text "
                                 f"required (got {item!r})")
        bad = sorted(set(item) - {"name", "condition", "source", "note"})
        if bad:
            raise UserInputError(f"{where}.{bad[0]}': not allowed; allowed: name, condition, source, note")
        if "condition" not in item:
            raise UserInputError(f"{where}.condition': required, e.g. 'CO2 peak year <= 2030'")
        for key in ("name", "source", "note"):
            if key in item and not isinstance(item[key], str):
                raise UserInputError(f"{where}.{key}': text required (got {item[key]!r})")
        cond = parse_condition(item["condition"], f"{where}.condition'")
        name = item.get("name") or cond.text.strip()
        if name in seen:
            raise UserInputError(f"{where}.name': '{name}' given twice; allowed: each target once")
        seen.add(name)
        targets.append(Target(name, cond, item.get("source", ""), item.get("note", "")))
    return TargetSet(data["name"], data.get("title") or data["name"], targets, file_city,
                     data.get("description") or "", path, not_checked=_not_checked(path, data.get("not_checked")))


def _not_checked(path: Path, items) -> list[NotChecked]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise UserInputError(f"{path}: key 'not_checked': a list required (each with name, reason, source)")
    out = []
    for i, item in enumerate(items):
        where = f"{path}: key 'not_checked.{i}"
        if not isinstance(item, dict):
            raise UserInputError(f"{where}': a mapping (name, reason, source) required (got {item!r})")
        bad = sorted(set(item) - {"name", "reason", "source"})
        if bad:
            raise UserInputError(f"{where}.{bad[0]}': not allowed; allowed: name, reason, source")
        for key in ("name", "reason"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise UserInputError(f"{where}.{key}': text required")
        if not isinstance(item.get("source", ""), str):
            raise UserInputError(f"{where}.source': text required (got {item['source']!r})")
        out.append(NotChecked(item["name"], item["reason"], item.get("source", "")))
    return out


def plan_targets(city: str) -> TargetSet:
    """The published plan a city is held to: ``<city>_plan``, or ``national`` where the city has none.

    Parameters
    ----------
    city : str
        City id (``shanghai``...).

    Returns
    -------
    TargetSet
        Read by :func:`load_targets` from ``scenarios/targets/`` (the working
        folder's, then the project's).
    """
    name = f"{str(city).lower()}_plan"
    return load_targets(name if name in list_targets() else "national", city=city)


