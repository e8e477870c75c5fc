"""Targets as data: conditions on named indicators, read from a YAML file and parsed, never ``eval``-ed.

A target file (``scenarios/targets/<name>.yaml``, or any path)::

    name: shanghai_plan
    title: Shanghai's published targets
    city: shanghai                  # optional: the city the targets belong to
    description: ...
    targets:
      - name: peak by 2030          # optional (default: the condition)
        condition: "CO2 peak year <= 2030"
        source: "..."               # optional in a user's file; every shipped file has one
        note: "..."                 # optional: how the plan's wording was read

A condition is ``INDICATOR OP RIGHT`` with ``OP`` one of ``<``, ``<=``, ``>``,
``>=`` (also ``≤`` and ``≥``) and ``RIGHT`` a number (``25``, ``1e3``; ``50%``
for an indicator in %), another indicator of the same unit, or a multiple of
one: ``30% of CO2 intensity in 2005`` or ``0.3 * CO2 intensity in 2005``.
Year indicators (peak year, first year below a share) take a number only.

Indicators are those of :data:`megacity_sd.indicators.INDICATORS` plus the
families of :data:`FAMILIES`, any year 2005-2060: ``CO2 in 2025``,
``CO2 intensity in 2030`` (scope 1+2 CO2 per GDP), ``energy intensity in
2025`` (primary energy per GDP), ``coal share of primary energy in 2025``,
``PM2.5 in 2025``, ``NEV share of car sales in 2025`` ... (:func:`indicator_names`).

Every condition gives, for each run, whether it is met and a *margin*: a
number that is <= 0 exactly when the condition is met and grows with the
shortfall (relative to the bound), which an optimiser can follow
(:func:`margins`). A missing value (NaN) never meets a condition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserInputError, suggest
from .indicators import INDICATORS, Indicator, indicator_matrix
from .io import read_yaml_mapping
from .model import resource_dir

__all__ = [
    "TARGET_DIR",
    "FAMILIES",
    "DERIVED",
    "Condition",
    "Target",
    "TargetSet",
    "list_targets",
    "load_targets",
    "parse_condition",
    "resolve_indicator",
    "indicator_names",
    "series_variables",
    "derived_series",
]

TARGET_DIR = resource_dir("scenarios") / "targets"
FIRST_YEAR, LAST_YEAR = 2005, 2060
OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "≤": "<=", "≥": ">="}

#: Series computed from two model variables (numerator / denominator), available to indicators by this name.
DERIVED = {
    "primary energy intensity of GDP": ("total primary energy", "GDP"),
    "coal share of primary energy": ("primary coal", "total primary energy"),
}

#: Indicator families ``"<family> in <year>"``: family -> (variable, unit, scale). Shares are in %.
FAMILIES = {
    "CO2": ("CO2 scope 1 and 2", "MtCO2/yr", 1e-6),
    "scope 1 CO2": ("CO2 emissions", "MtCO2/yr", 1e-6),
    "scope 2 CO2": ("scope 2 CO2", "MtCO2/yr", 1e-6),
    "CO2 intensity": ("carbon intensity of GDP", "tCO2/10^4 yuan (2005 prices)", 1e4),
    "energy intensity": ("primary energy intensity of GDP", "tce/10^4 yuan (2005 prices)", 1e4),
    "final energy intensity": ("energy intensity of GDP", "tce/10^4 yuan (2005 prices)", 1e4),
    "coal share of primary energy": ("coal share of primary energy", "%", 100.0),
    "non-fossil share of energy": ("non fossil share of energy", "%", 100.0),
    "PM2.5": ("PM25", "ug/m3", 1.0),
    "NEV share of car sales": ("NEV share of sales", "%", 100.0),
    "air pollutant equivalent": ("air pollutant equivalent", "Meq/yr", 1e-6),
    "population": ("Population", "million", 1e-6),
    "GDP": ("GDP", "trillion yuan/yr (2005 prices)", 1e-12),
}
_FAMILY_RE = re.compile(r"^(?P<family>.+?) in (?P<year>\d{4})$")
_NUMBER = r"[+-]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUM_RE = re.compile(rf"^(?P<num>{_NUMBER})\s*(?P<pct>%)?$")
_MULT_RE = re.compile(rf"^(?P<num>{_NUMBER})\s*(?:(?P<pct>%)\s*of\s+|\*\s*)(?P<rest>\S.*)$", re.I)
_YEAR_REDUCTIONS = ("peak_year", "first_below")


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip()).lower()


def indicator_names() -> list[str]:
    """What a condition may name: the fixed indicators, then the families (``<family> in YEAR``)."""
    return [i.name for i in INDICATORS] + [f"{f} in YEAR" for f in FAMILIES]


def resolve_indicator(name: str) -> Indicator:
    """The :class:`~megacity_sd.indicators.Indicator` a name stands for (case and spacing ignored).

    Raises
    ------
    KeyError
        Not an indicator; the message lists what is allowed.
    """
    key = _norm(name)
    fixed = {_norm(i.name): i for i in INDICATORS}
    if key in fixed:
        return fixed[key]
    m = _FAMILY_RE.match(key)
    families = {_norm(f): f for f in FAMILIES}
    if m and m["family"] in families:
        year = int(m["year"])
        family = families[m["family"]]
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise KeyError(f"indicator '{name.strip()}': year {year} outside the run; allowed: "
                           f"{FIRST_YEAR}-{LAST_YEAR}")
        var, unit, scale = FAMILIES[family]
        return Indicator(f"{family} in {year}", var, "at", unit, scale, year)
    hint = suggest(name.strip(), [i.name for i in INDICATORS] + [f"{f} in 2030" for f in FAMILIES], key=_norm)
    raise KeyError(f"unknown indicator '{name.strip()}'{hint}; allowed: {', '.join(indicator_names())} "
                   f"(YEAR {FIRST_YEAR}-{LAST_YEAR})")


@dataclass(frozen=True)
class Condition:
    """A parsed condition ``left OP factor * right`` (or ``left OP constant``).

    Attributes
    ----------
    text : str
        The condition as written.
    left : Indicator
    op : {"<", "<=", ">", ">="}
    constant : float or None
        The bound when the right side is a number (in the unit of ``left``).
    factor : float
        Multiplier of ``right`` (1 for a bare indicator; 0.3 for ``30% of``).
    right : Indicator or None
        The indicator of a relative bound.
    """

    text: str
    left: Indicator
    op: str
    constant: float | None = None
    factor: float = 1.0
    right: Indicator | None = None

    @property
    def indicators(self) -> list[Indicator]:
        return [self.left] + ([self.right] if self.right is not None else [])

    def describe(self) -> str:
        """The condition in a normal form, with units."""
        sym = {"<=": "≤", ">=": "≥"}.get(self.op, self.op)
        if self.right is None:
            unit = "" if self.left.unit in ("year",) else f" {self.left.unit}"
            return f"{self.left.name} {sym} {self.constant:g}{unit}"
        pre = "" if self.factor == 1 else f"{100 * self.factor:g} % of "
        return f"{self.left.name} {sym} {pre}{self.right.name}"


def _number(text: str, where: str, condition: str) -> float:
    value = float(text.replace("_", ""))
    if not math.isfinite(value):
        raise UserInputError(f"{where}: '{condition}': '{text}' is not a finite number; allowed: a finite number")
    return value


def parse_condition(text: str, where: str = "condition") -> Condition:
    """Parse one condition (see the module docstring); nothing is evaluated.

    Parameters
    ----------
    text : str
        E.g. ``"CO2 in 2060 <= 10% of CO2 in 2019"``.
    where : str
        Prefix of error messages (file and key).

    Raises
    ------
    UserInputError
        Malformed condition, unknown indicator, a bound of the wrong kind
        (a percentage for an indicator not in %, a relative bound of a year),
        indicators of different units.
    """
    form = ("allowed: 'INDICATOR OP NUMBER', 'INDICATOR OP INDICATOR' or 'INDICATOR OP P% of INDICATOR' "
            "with OP one of <, <=, >, >=")
    if not isinstance(text, str) or not text.strip():
        raise UserInputError(f"{where}: empty or not text; {form}")
    parts = re.split(r"(<=|>=|==|!=|=<|=>|≤|≥|<|>|=)", text)
    if len(parts) != 3:
        n_ops = (len(parts) - 1) // 2
        what = "no comparison" if n_ops == 0 else f"{n_ops} comparisons"
        raise UserInputError(f"{where}: '{text}': {what}; {form}")
    left_text, op_text, right_text = (p.strip() for p in parts)
    if op_text not in OPS:
        raise UserInputError(f"{where}: '{text}': operator '{op_text}' not allowed (a simulated value is never "
                             f"exactly equal to a bound); {form}")
    op = OPS[op_text]
    if not left_text or not right_text:
        raise UserInputError(f"{where}: '{text}': a side is empty; {form}")
    try:
        left = resolve_indicator(left_text)
    except KeyError as err:
        raise UserInputError(f"{where}: {err.args[0]}") from None
    is_year = left.reduction in _YEAR_REDUCTIONS
    m = _NUM_RE.match(right_text)
    if m:
        pct = m["pct"] is not None
        if pct and left.unit != "%":
            raise UserInputError(f"{where}: '{text}': '{right_text}' is a percentage but {left.name} is in "
                                 f"{left.unit}; allowed: a number in {left.unit}, or 'P% of INDICATOR'")
        if left.unit == "%" and not pct:
            raise UserInputError(f"{where}: '{text}': {left.name} is a share in %; allowed: write the bound with "
                                 f"'%' (e.g. {100 * float(m['num'].replace('_', '')):g}% for "
                                 f"{m['num']}), so that 0.5 and 50 % cannot be confused")
        return Condition(text, left, op, constant=_number(m["num"], where, text))
    m = _MULT_RE.match(right_text)
    factor, rest = 1.0, right_text
    if m:
        factor = _number(m["num"], where, text) / (100.0 if m["pct"] else 1.0)
        rest = m["rest"]
    try:
        right = resolve_indicator(rest)
    except KeyError as err:
        if m is None and re.search(r"\d", right_text) and not re.search(r"[a-zA-Z]{3}", right_text):
            raise UserInputError(f"{where}: '{text}': '{right_text}' is not a number; {form}") from None
        raise UserInputError(f"{where}: {err.args[0]}") from None
    if is_year or right.reduction in _YEAR_REDUCTIONS:
        raise UserInputError(f"{where}: '{text}': a year indicator is compared with a year; allowed: "
                             f"'{left.name} {op} YEAR'")
    if right.unit != left.unit:
        raise UserInputError(f"{where}: '{text}': compares {left.unit} with {right.unit}; allowed: indicators of "
                             "the same unit")
    if not factor > 0:
        raise UserInputError(f"{where}: '{text}': factor {factor:g}; allowed: a positive multiple")
    return Condition(text, left, op, factor=factor, right=right)


@dataclass(frozen=True)
class Target:
    """One named target: a condition with its source."""

    name: str
    condition: Condition
    source: str = ""
    note: str = ""


@dataclass
class TargetSet:
    """The targets of one file.

    Attributes
    ----------
    name, title, description : str
    city : str or None
        The city the targets belong to (None: any city).
    targets : list of Target
    path : Path or None
    """

    name: str
    title: str
    targets: list[Target]
    city: str | None = None
    description: str = ""
    path: Path | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.targets]

    @property
    def indicators(self) -> list[Indicator]:
        """Every indicator the conditions read, once each."""
        out: dict[str, Indicator] = {}
        for t in self.targets:
            for ind in t.condition.indicators:
                out.setdefault(ind.name, ind)
        return list(out.values())

    def variables(self) -> list[str]:
        """Model variables to simulate (derived series expanded into theirs)."""
        return series_variables(self.indicators)

    def table(self) -> pd.DataFrame:
        """One row per target: name, condition (as written and normal form), unit, source, note."""
        return pd.DataFrame([(t.name, t.condition.text, t.condition.describe(), t.condition.left.unit, t.source,
                              t.note) for t in self.targets],
                            columns=["target", "condition", "reads", "unit", "source", "note"])


# ----------------------------------------------------------------------------- files

_KEYS = "name, title, city, description, targets (a list of: name, condition, source, note)"


def list_targets() -> list[str]:
    """Names of the target files in ``scenarios/targets/`` (the working folder's, then the project's)."""
    from .scenario import list_named

    return list_named("targets")


def _path(ref: str | Path) -> Path:
    ref = str(ref)
    if ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
        return Path(ref)
    from .scenario import find_named

    path = find_named(ref, "targets")
    if path is None:
        names = list_targets()
        raise UserInputError(f"--targets {ref}: unknown target file{suggest(ref, names)}; allowed: "
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
    unknown = sorted(set(data) - {"name", "title", "city", "description", "targets"})
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
                     data.get("description") or "", path)


# ----------------------------------------------------------------------------- evaluation


def series_variables(indicators: Sequence[Indicator]) -> list[str]:
    """The model variables behind indicators (a derived series stands for its two variables)."""
    out: list[str] = []
    for ind in indicators:
        out += list(DERIVED.get(ind.variable, (ind.variable,)))
    return list(dict.fromkeys(out))


def derived_series(series: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``series`` plus every derived series whose variables it holds (ratio, 0 where the denominator is 0)."""
    out = dict(series)
    for name, (num, den) in DERIVED.items():
        if num in out and den in out:
            a, b = np.asarray(out[num], dtype=float), np.asarray(out[den], dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[name] = np.where(b != 0, a / np.where(b != 0, b, 1.0), 0.0)
    return out


def indicator_values(years, series: Mapping[str, np.ndarray], indicators: Sequence[Indicator]) -> np.ndarray:
    """:func:`~megacity_sd.indicators.indicator_matrix` with the derived series: ``(runs, indicators)``."""
    return indicator_matrix(np.asarray(years), derived_series(series), list(indicators))


def _compare(a: np.ndarray, op: str, b) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op] & ~np.isnan(a) & ~np.isnan(b)


def _bound(cond: Condition, values: Mapping[str, np.ndarray]) -> np.ndarray:
    if cond.right is None:
        return np.full(len(values[cond.left.name]), float(cond.constant))
    return cond.factor * values[cond.right.name]


def evaluate(targets: TargetSet, years, series: Mapping[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Indicator values and which targets each run meets.

    Parameters
    ----------
    targets : TargetSet
    years : array of int
    series : mapping of str to array
        ``(runs, years)`` for each of :meth:`TargetSet.variables`.

    Returns
    -------
    values : pandas.DataFrame
        ``(runs, indicators)``, in the indicators' units.
    met : pandas.DataFrame
        ``(runs, targets)`` of bool, plus the column ``all targets``.
    """
    inds = targets.indicators
    vals = indicator_values(years, series, inds)
    values = pd.DataFrame(vals, columns=[i.name for i in inds])
    met = pd.DataFrame({t.name: _compare(values[t.condition.left.name].to_numpy(), t.condition.op,
                                         _bound(t.condition, values)) for t in targets.targets})
    met["all targets"] = met.all(axis=1)
    return values, met


def margins(targets: TargetSet, years, series: Mapping[str, np.ndarray]) -> np.ndarray:
    """How far each run is from each target: ``(runs, targets)``, <= 0 where met, > 0 where not.

    For a value compared with a bound B: ``(value - B) / |B|`` for ``<``/``<=``
    and ``(B - value) / |B|`` for ``>``/``>=`` (a relative shortfall). For
    ``peak year <= Y``: the peak after Y less the peak in ``start``-Y, over
    the latter (the first maximum is at or before Y exactly when this is <= 0).
    For ``first year below f of ref <= Y``: the lowest value in ``start``-Y
    less ``f * ref``, over ``ref``. Other year conditions: -1 met, +1 not. A
    strict comparison met only by equality, and NaN, give a small positive
    margin, so that a margin <= 0 always means met (:func:`evaluate`).
    """
    years = np.asarray(years)
    all_series = derived_series(series)
    values, met = evaluate(targets, years, series)
    out = np.empty((len(values), len(targets.targets)))
    for j, t in enumerate(targets.targets):
        c = t.condition
        ind = c.left
        if ind.reduction in _YEAR_REDUCTIONS:
            col = _year_margin(ind, c, years, np.asarray(all_series[ind.variable], dtype=float))
        else:
            v = values[ind.name].to_numpy()
            b = _bound(c, values)
            scale = np.where(np.abs(b) > 0, np.abs(b), 1.0)
            col = (v - b) / scale if c.op in ("<", "<=") else (b - v) / scale
        ok = met[t.name].to_numpy()
        col = np.where(np.isnan(col), 1e3, col)
        col = np.where(ok, np.minimum(col, 0.0), np.maximum(col, 1e-12))  # the sign always agrees with `met`
        out[:, j] = col
    return out


def _year_margin(ind: Indicator, c: Condition, years: np.ndarray, a: np.ndarray) -> np.ndarray:
    a = a if a.ndim == 2 else a[None, :]
    bound = float(c.constant)
    last = math.floor(bound) if c.op == "<=" else math.ceil(bound) - 1  # the last year allowed
    start = ind.start if ind.start is not None else int(years.min())
    end = ind.end if ind.end is not None else int(years.max())
    step = np.ones(a.shape[0])
    if c.op not in ("<", "<="):
        return step  # sign fixed by the caller from `met`
    if last < start:
        return step
    if ind.reduction == "peak_year":
        if last >= end:
            return -step
        before = a[:, (years >= start) & (years <= last)].max(axis=1)
        after = a[:, (years > last) & (years <= end)].max(axis=1)
        return (after - before) / np.where(np.abs(before) > 0, np.abs(before), 1.0)
    ref = a[:, int(np.flatnonzero(years == ind.ref)[0])] * ind.fraction
    low = a[:, (years >= start) & (years <= min(last, end))].min(axis=1)
    return (low - ref) / np.where(np.abs(ref) > 0, np.abs(ref) / ind.fraction, 1.0)
