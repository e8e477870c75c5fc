"""The model's policy levers, read from the model: which constants are levers, their families (target, start
year, phase-in time), units, ranges and sectors, and each family's baseline path (the city's policies in force)
taken from the model's own ``<family> baseline path`` variable.

One rule for every reader: ``megacity-sd scenarios``, the explorer's sliders, the lever space of ``discover``,
``seek`` and ``robust``.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from .model import MODEL_PATH, canonical, model_doc

__all__ = [
    "is_lever",
    "lever_families",
    "path_names",
    "slider_step",
    "baseline_levels",
]


_ROLES = (("target", " target"), ("start", " start year"), ("phase", " phase in time"))


def is_lever(var) -> bool:
    """A scenario lever: a constant of the Policy view that is not a city's baseline path or initial value."""
    return (var.kind == "constant" and var.sector == "Policy"
            and not (" baseline " in var.name or var.name.endswith("initial value")))


def slider_step(lo: float, hi: float, units: str) -> float:
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
                              "step": slider_step(lo, hi, var.units), "default": var.value, "comment": var.comment})
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


def path_names(family: str) -> dict[str, str]:
    """The constants of a family's baseline path (the city's policies in force)."""
    return {"initial": f"{family} initial value", "target": f"{family} baseline target",
            "start": f"{family} baseline start year", "phase": f"{family} baseline phase in time"}




def baseline_levels(constants: Mapping[str, float], *, mdl_path: str | Path = MODEL_PATH,
                    engine: str = "fast") -> dict[str, float]:
    """The lowest value of each family's baseline path from the lever's start year on, from one model run.

    Parameters
    ----------
    constants : mapping of str to float
        Resolved constants of the base scenario (a city's baseline).
    mdl_path : str or Path
    engine : str
        Engine of the run (:func:`megacity_sd.engines.run_series`).

    Returns
    -------
    dict of str to float
        Target constant (``"coal exit target"``) -> the lowest value of the
        model variable ``<family> baseline path`` over the saved years from
        ``<family> start year`` to the end of the run, in the target's units:
        the model's ``path + MAX(0, target - path) * phase`` leaves the path as
        it is for a target at or below it. Families without a baseline path
        variable are left out.
    """
    import numpy as np

    from .simulate import run_series

    doc = model_doc(Path(mdl_path))
    by_key = {canonical(k): float(v) for k, v in constants.items()}
    wanted = {}
    for fam in lever_families(mdl_path):
        target = next((lv["name"] for lv in fam["levers"] if lv["role"] == "target"), None)
        path, start = f"{fam['family']} baseline path", f"{fam['family']} start year"
        if target is not None and canonical(path) in doc and canonical(start) in doc:
            wanted[target] = (doc[canonical(path)].name, by_key.get(canonical(start), doc[canonical(start)].value))
    if not wanted:
        return {}
    years, series = run_series(engine, constants, list(dict.fromkeys(p for p, _ in wanted.values())),
                               mdl_path=mdl_path)
    out = {}
    for target, (path, start) in wanted.items():
        sel = years >= start
        if not sel.any():
            sel = years == years.max()
        out[target] = float(np.min(series[path][sel]))
    return out
