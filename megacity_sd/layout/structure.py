"""The model's structure for drawing: views, stocks, flows and causal links (pysimlin)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..model import (
    MODEL_PATH,
    canonical,
    equation_groups,
    model_doc,
    read_sketch,
)

__all__ = [
    "model_structure",
]


@dataclass
class Structure:
    """What the layout needs to know about the model.

    Attributes
    ----------
    doc : dict
        :func:`megacity_sd.model.model_doc` of the file.
    views : list of str
        View names in file order.
    members : dict of str to list of str
        Variables (canonical) drawn in each view, in file order.
    inflows, outflows : dict of str to list of str
        Flows of each stock (canonical; only flows declared in the file).
    links : dict of (str, str) to int
        Causal links between declared variables, with polarity (+1, -1, 0);
        links through pysimlin's implicit net flows go straight to the stock.
    """

    doc: dict
    views: list[str]
    members: dict[str, list[str]]
    inflows: dict[str, list[str]]
    outflows: dict[str, list[str]]
    links: dict[tuple[str, str], int]


def _views(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """Views in order and the variables drawn in each (not as shadows), from the one sketch reader."""
    views: list[str] = []
    members: dict[str, list[str]] = {}
    for lay in read_sketch(text):
        if lay.name not in members:
            views.append(lay.name)
            members[lay.name] = []
        for e in lay.elements:
            if e.kind in ("stock", "aux", "flow") and e.key not in members[lay.name]:
                members[lay.name].append(e.key)
    return views, members


def model_structure(mdl_path: str | Path = MODEL_PATH,
                    polarity: Mapping[tuple[str, str], int] | None = None) -> Structure:
    """Read views, stocks, flows and causal links of a model.

    Parameters
    ----------
    mdl_path : str or Path
    polarity : mapping, optional
        ``(source, target) -> +1/-1/0`` for the connectors (e.g. from
        :func:`megacity_sd.loops.causal_links`); default pysimlin's static
        polarity.

    Returns
    -------
    Structure
    """
    import simlin

    mdl_path = Path(mdl_path)
    doc = dict(model_doc(mdl_path))
    text = mdl_path.read_text(encoding="utf-8")
    views, members = _views(text)
    # variables no longer in the model leave the drawing; new ones join the view of their equation group
    drawn = set()
    for view in views:
        members[view] = [k for k in members[view] if k in doc and k not in drawn]
        drawn.update(members[view])
    for key, group in equation_groups(text).items():
        if key in doc and key not in drawn and group != "Control":
            if group not in members:
                views.append(group)
                members[group] = []
            members[group].append(key)
            drawn.add(key)
    model = simlin.load(str(mdl_path))
    project = json.loads(model.project.serialize_json())
    inflows: dict[str, list[str]] = {}
    outflows: dict[str, list[str]] = {}
    for st in project["models"][0].get("stocks", []):
        key = canonical(st["name"])
        inflows[key] = [canonical(f) for f in st.get("inflows", []) if canonical(f) in doc]
        outflows[key] = [canonical(f) for f in st.get("outflows", []) if canonical(f) in doc]
    raw: dict[tuple[str, str], int] = {}
    for lk in model.get_links():
        sign = {"+": 1, "-": -1}.get(str(lk.polarity), 0)
        if polarity is not None:
            sign = polarity.get((lk.from_var, lk.to_var), sign)
            sign = int(getattr(sign, "polarity", sign))
        raw[(lk.from_var, lk.to_var)] = sign
    links: dict[tuple[str, str], int] = {}
    into: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (src, tgt), sign in raw.items():
        into[tgt].append((src, sign))
    for (src, tgt), sign in raw.items():
        if src in doc and tgt in doc:
            links[(src, tgt)] = sign
        elif src not in doc and tgt in doc:  # pysimlin's implicit net flow of an INTEG(expression) stock
            for src2, sign2 in into.get(src, []):
                if src2 in doc:
                    links.setdefault((src2, tgt), sign2 * sign)
    return Structure(doc, views, members, inflows, outflows, links)
