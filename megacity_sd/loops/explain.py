"""A variable explained: declaration, causes and uses trees, and the loops it is part of."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from ..errors import UserInputError
from ..model import MODEL_PATH, canonical, model_doc
from .dominance import resolve_variable
from .graph import CausalLink, LoopAnalysis, _display, find_loops_cached

__all__ = [
    "causes_tree",
    "uses_tree",
    "explain",
]


def _tree(root: str, edges: Mapping[str, list[tuple[str, int]]], depth: int, doc, arrow: str) -> list[str]:
    lines = [_display(root, doc)]

    def walk(node: str, level: int, prefix: str, path: tuple[str, ...]) -> None:
        children = sorted(edges.get(node, []), key=lambda c: _display(c[0], doc).lower())
        for i, (child, sign) in enumerate(children):
            last = i == len(children) - 1
            mark = {1: "+", -1: "-", 0: "?"}[sign]
            tail = " (loop)" if child in path else ""
            lines.append(f"{prefix}{'`-' if last else '|-'}{arrow}{mark} {_display(child, doc)}{tail}")
            if not tail and level < depth:
                walk(child, level + 1, prefix + ("   " if last else "|  "), (*path, child))

    if depth > 0:
        walk(root, 1, "", (root,))
    return lines


def causes_tree(variable: str, links: Mapping[tuple[str, str], CausalLink], depth: int = 2,
                mdl_path: str | Path = MODEL_PATH) -> list[str]:
    """Vensim's causes tree: what a variable is computed from, to ``depth`` levels.

    Lines are ``|-<+ name``: the sign is the link's polarity; ``(loop)`` marks
    a variable already on the path.
    """
    edges: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (src, tgt), lk in links.items():
        edges[tgt].append((src, lk.polarity))
    return _tree(variable, edges, depth, model_doc(Path(mdl_path)), "<")


def uses_tree(variable: str, links: Mapping[tuple[str, str], CausalLink], depth: int = 2,
              mdl_path: str | Path = MODEL_PATH) -> list[str]:
    """Vensim's uses tree: what a variable feeds, to ``depth`` levels."""
    edges: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (src, tgt), lk in links.items():
        edges[src].append((tgt, lk.polarity))
    return _tree(variable, edges, depth, model_doc(Path(mdl_path)), ">")


def _definition_line(name: str, mdl_path: Path) -> int | None:
    target = canonical(name)
    for i, line in enumerate(mdl_path.read_text(encoding="utf-8").splitlines(), start=1):
        head = line.split("=", 1)[0] if "=" in line and not line.startswith(("\t", " ")) else None
        if head is not None and canonical(head) == target:
            return i
    return None


def explain(variable: str, *, depth: int = 2, constants: Mapping[str, float] | None = None,
            sources: Mapping[str, str] | None = None, analysis: LoopAnalysis | None = None,
            mdl_path: str | Path = MODEL_PATH, max_loops: int = 10) -> str:
    """Everything about one variable: declaration, causes, uses and loops.

    Parameters
    ----------
    variable : str
        Model variable name (case and spacing are ignored).
    depth : int
        Levels of the causes and uses trees (0 or more).
    constants, sources : mapping, optional
        The configuration's constant overrides and their sources
        (``Scenario.constants``, ``Scenario.sources``).
    analysis : LoopAnalysis, optional
        Loops of the configuration (found when not given).
    max_loops : int
        Loops listed (shortest first).

    Returns
    -------
    str
    """
    if not isinstance(depth, int) or depth < 0:
        raise UserInputError(f"depth must be an integer >= 0, not {depth!r}")
    mdl_path = Path(mdl_path)
    ident = resolve_variable(variable, mdl_path)
    doc = model_doc(mdl_path)
    var = doc[ident]
    if analysis is None:
        analysis = find_loops_cached(constants, mdl_path)
    lines = [f"{var.name}  ({var.kind}, sector {var.sector})"]
    where = _definition_line(var.name, mdl_path)
    lines.append(f"  defined in: {mdl_path.name}" + (f", line {where}" if where else ""))
    lines.append(f"  equation:   {var.name} = {var.equation}")
    lines.append(f"  units:      {var.units}")
    rng = f"[{var.limits[0]:g}, {var.limits[1]:g}]" if var.limits else "(no range declared)"
    lines.append(f"  range:      {rng}")
    lines.append(f"  comment:    {var.comment}")
    if var.kind == "constant":
        override = {canonical(k): v for k, v in (constants or {}).items()}.get(ident)
        src_map = {canonical(k): v for k, v in (sources or {}).items()}
        if override is not None and override != var.value:
            lines.append(f"  value:      {override:g} in this city/scenario (model default {var.value:g})")
            lines.append(f"  source:     {src_map.get(ident, 'scenario file')}")
        else:
            lines.append(f"  value:      {var.value:g}")
            lines.append("  source:     the comment above (the model's default)")
    lines.append("")
    lines.append(f"Causes (depth {depth}; '<+' / '<-': polarity of the link into the line above):")
    lines.extend("  " + s for s in causes_tree(ident, analysis.links, depth, mdl_path))
    lines.append("")
    lines.append(f"Uses (depth {depth}; '>+' / '>-': polarity of the link from the line above):")
    lines.extend("  " + s for s in uses_tree(ident, analysis.links, depth, mdl_path))
    through = [lp for lp in analysis.loops if ident in lp.variables]
    lines.append("")
    counts = {p: sum(lp.polarity == p for lp in through) for p in ("R", "B", "U")}
    lines.append(f"Feedback loops through {var.name}: {len(through)} "
                 f"(R {counts['R']}, B {counts['B']}" + (f", U {counts['U']}" if counts["U"] else "") + ")")
    named = [lp for lp in through if lp.name]
    for lp in named:
        lines.append(f"  {lp.id} {lp.polarity} named '{lp.name}' ({len(lp)} variables): "
                     + " -> ".join(_display(v, doc) for v in (*lp.variables, lp.variables[0])))
    shown = [lp for lp in through if not lp.name][: max(0, max_loops - len(named))]
    for lp in shown:
        lines.append(f"  {lp.id} {lp.polarity} ({len(lp)} variables): "
                     + " -> ".join(_display(v, doc) for v in (*lp.variables, lp.variables[0])))
    rest = len(through) - len(named) - len(shown)
    if rest > 0:
        lines.append(f"  ... and {rest} longer loops ('megacity-sd loops' lists them all in loops.csv)")
    return "\n".join(lines)
