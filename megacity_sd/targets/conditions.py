"""Conditions on named indicators, parsed (never ``eval``-ed), and the target sets that hold them."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import UserInputError, suggest
from ..indicators import INDICATORS, Indicator
from ..model import model_years
from ..units import display_of

OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "≤": "<=", "≥": ">="}

#: Series computed from two model variables (numerator / denominator), available to indicators by this name.
DERIVED = {
    "primary energy intensity of GDP": ("total primary energy", "GDP"),
    "coal share of primary energy": ("primary coal", "total primary energy"),
}

#: Indicator families ``"<family> in <year>"``: family -> variable, shown in its display unit
#: (:func:`megacity_sd.units.display_of`; shares in %).
FAMILIES = {
    "CO2": "CO2 scope 1 and 2",
    "scope 1 CO2": "CO2 emissions",
    "scope 2 CO2": "scope 2 CO2",
    "CO2 intensity": "carbon intensity of GDP",
    "energy intensity": "primary energy intensity of GDP",
    "final energy intensity": "energy intensity of GDP",
    "coal share of primary energy": "coal share of primary energy",
    "non-fossil share of energy": "non fossil share of energy",
    "PM2.5": "PM25",
    "NEV share of car sales": "NEV share of sales",
    "air pollutant equivalent": "air pollutant equivalent",
    "population": "Population",
    "GDP": "GDP",
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
        first, last = model_years()
        if not first <= year <= last:
            raise KeyError(f"indicator '{name.strip()}': year {year} outside the run; allowed: {first}-{last}")
        var = FAMILIES[family]
        scale, unit = display_of(var)
        return Indicator(f"{family} in {year}", var, "at", unit, scale, year)
    hint = suggest(name.strip(), [i.name for i in INDICATORS] + [f"{f} in 2030" for f in FAMILIES], key=_norm)
    first, last = model_years()
    raise KeyError(f"unknown indicator '{name.strip()}'{hint}; allowed: {', '.join(indicator_names())} "
                   f"(YEAR {first}-{last})")


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


@dataclass(frozen=True)
class NotChecked:
    """A published target the model cannot measure on the plan's definition, with the reason."""

    name: str
    reason: str
    source: str = ""


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
    not_checked: list[NotChecked] = field(default_factory=list)

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


def series_variables(indicators: Sequence[Indicator]) -> list[str]:
    """The model variables behind indicators (a derived series stands for its two variables)."""
    out: list[str] = []
    for ind in indicators:
        out += list(DERIVED.get(ind.variable, (ind.variable,)))
    return list(dict.fromkeys(out))
