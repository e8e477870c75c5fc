"""The explorer's sliders, read from the model: lever families (target, start year, phase-in time), their units, ranges,
baseline paths and sources; the check of a setting's constants."""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from ..errors import UserInputError
from ..model import MODEL_PATH, canonical, model_doc
from .requests import MAX_CONSTANTS, _short

__all__ = [
    "is_lever",
    "lever_families",
    "check_constants",
]


_ROLES = (("target", " target"), ("start", " start year"), ("phase", " phase in time"))


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
    from ..model import check_constant

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
