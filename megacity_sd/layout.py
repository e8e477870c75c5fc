"""Stock-and-flow diagrams: a layout saved in the model's sketch, and pictures of it.

:func:`write_sketch` lays out every view (sector) of the ``.mdl`` file and
rewrites its sketch section (everything from the first ``\\\\\\---///`` line): each
variable stays in the view it was drawn in, stocks get their valves, pipes and
clouds, and every causal link inside a view becomes a connector with its
polarity. The equations are not touched. Vensim shows the result, PySD and
pysimlin read the same views.

The layout of a view is a layered drawing (Sugiyama, Tagawa & Toda 1981, IEEE
Trans. SMC 11(2):109-125) of its causal graph, read left to right: a stock with
its flows is one block (a chain of stocks joined by transfer flows is one
block), links that run against the reading direction (they close feedback
loops) are found with the greedy heuristic of Eades, Lin & Smyth (1993,
Inf. Process. Lett. 47:319-323) and drawn as arcs, crossings are reduced by
barycentre ordering, and the blocks of a view that are not linked inside it
are packed in rows.

:func:`write_diagrams` renders one picture per view with pysimlin (the model's
own sketch, plus the variables the view reads from other sectors drawn as
shadow variables near their first use) and frames it with matplotlib: a title,
grey boxes over the shadow variables, the polarity of each connector, and a
marker for each named feedback loop that lies in the view. It also draws an
overview of the sectors and the causal links between them.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .model import (
    MODEL_PATH,
    SKETCH_MARK,
    Element,
    ViewLayout,
    canonical,
    equation_groups,
    model_doc,
    read_sketch,
    split_sketch,
)

__all__ = [
    "model_structure",
    "layout_view",
    "layout_model",
    "sketch_text",
    "write_sketch",
    "render_view",
    "plot_overview",
    "write_diagrams",
]

_VIEW_HEADER = ("{mark} Sketch information - do not modify anything except names\n"
                "V300  Do not put anything below this section - it will be ignored\n"
                "*{name}\n"
                "$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0\n")
_CHAR = 6.4      # width of a character of the 12 px label font, px
_STOCK_W, _STOCK_H = 80, 40
_AUX_H = 36      # circle and its label below
_GAP_X, _GAP_Y = 56, 20
_PIPE = 95       # stock centre to valve
_CLOUD = 165     # stock centre to cloud


def _wrap(name: str, width: int = 16) -> list[str]:
    """Split a label into lines of about ``width`` characters (at spaces)."""
    words = name.split()
    if len(name) <= width or len(words) == 1:
        return [name]
    best = None
    n = len(words)
    for parts in (2, 3):
        if parts > n:
            break
        cuts_list = [(i,) for i in range(1, n)] if parts == 2 else \
            [(i, j) for i in range(1, n) for j in range(i + 1, n)]
        for cuts in cuts_list:
            bounds = [0, *cuts, n]
            lines = [" ".join(words[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
            score = (max(len(line) for line in lines) > width + 6, max(len(line) for line in lines))
            if best is None or score < best[0]:
                best = (score, lines)
        if best is not None and not best[0][0]:
            break
    return best[1]


def _label_w(name: str) -> float:
    return max(24.0, _CHAR * max(len(line) for line in _wrap(name)) + 8)


def _label_h(name: str) -> float:
    return 14.0 * len(_wrap(name))


# --------------------------------------------------------------------------- structure


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


# --------------------------------------------------------------------------- layout





@dataclass
class _Block:
    """A node of the layered drawing: one variable, or a stock chain with its flows."""

    id: str
    keys: list[str]
    w: float
    h: float
    parts: list[tuple[str, str, float, float, str]] = field(default_factory=list)  # kind, key, dx, dy, extra
    pipes: list[tuple[str, str, str]] = field(default_factory=list)  # valve part id, end part id, in/out
    x: float = 0.0
    y: float = 0.0


def _stock_block(chain: list[str], st: Structure, members: set[str]) -> _Block:
    """A stock chain with its valves and clouds, drawn left to right."""
    parts: list[tuple[str, str, float, float, str]] = []
    pipes: list[tuple[str, str, str]] = []
    name = st.doc
    pos = {s: i * 2 * _PIPE for i, s in enumerate(chain)}
    for s in chain:
        parts.append(("stock", s, pos[s], 0.0, s))
    placed: set[str] = set()
    for a, b in zip(chain, chain[1:], strict=False):  # transfer flows between neighbours
        for f in st.outflows.get(a, []):
            if f in st.inflows.get(b, []) and f in members and f not in placed:
                vid = f"valve:{f}"
                parts.append(("valve", vid, pos[a] + _PIPE, 0.0, f))
                parts.append(("flow", f, pos[a] + _PIPE, 18.0, f))
                pipes += [(vid, f"stock:{a}", "out"), (vid, f"stock:{b}", "in")]
                placed.add(f)
    for i, s in enumerate(chain):
        ins = [f for f in st.inflows.get(s, []) if f in members and f not in placed]
        outs = [f for f in st.outflows.get(s, []) if f in members and f not in placed]
        left = i == 0 and not any(f in st.outflows.get(p, []) for p in chain for f in st.inflows.get(s, []))
        right = i == len(chain) - 1
        tops, bottoms = [], []
        for k, f in enumerate(ins):
            if k == 0 and left:
                vid = f"valve:{f}"
                parts += [("cloud", f"cloud:{f}", pos[s] - _CLOUD, 0.0, ""),
                          ("valve", vid, pos[s] - _PIPE, 0.0, f), ("flow", f, pos[s] - _PIPE, 18.0, f)]
                pipes += [(vid, f"cloud:{f}", "out"), (vid, f"stock:{s}", "in")]
            else:
                tops.append(f)
            placed.add(f)
        for k, f in enumerate(outs):
            if k == 0 and right:
                vid = f"valve:{f}"
                parts += [("cloud", f"cloud:{f}", pos[s] + _CLOUD, 0.0, ""),
                          ("valve", vid, pos[s] + _PIPE, 0.0, f), ("flow", f, pos[s] + _PIPE, 18.0, f)]
                pipes += [(vid, f"stock:{s}", "out"), (vid, f"cloud:{f}", "in")]
            else:
                bottoms.append(f)
            placed.add(f)
        for group, sign in ((tops, -1), (bottoms, 1)):
            for k, f in enumerate(group):
                dx = (k - (len(group) - 1) / 2) * 30
                vid = f"valve:{f}"
                parts += [("cloud", f"cloud:{f}", pos[s] + dx, sign * 120.0, ""),
                          ("valve", vid, pos[s] + dx, sign * 62.0, f),
                          ("flow", f, pos[s] + dx + 12 + _label_w(name[f].name) / 2, sign * 62.0, f)]
                if sign < 0:
                    pipes += [(vid, f"cloud:{f}", "out"), (vid, f"stock:{s}", "in")]
                else:
                    pipes += [(vid, f"stock:{s}", "out"), (vid, f"cloud:{f}", "in")]
    xs, ys = [], []
    for kind, key, dx, dy, _ in parts:
        if kind in ("stock", "flow"):
            w = max(_label_w(name[key].name), _STOCK_W if kind == "stock" else 0) / 2
        else:
            w = 12
        xs += [dx - w, dx + w]
        if kind == "stock":
            ys += [dy - 24 - _label_h(name[key].name), dy + 22]
        elif kind == "flow" and dy > 0 and dx == dx:
            ys += [dy - 8, dy + _label_h(name[key].name)]
        else:
            ys += [dy - 12, dy + 14]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    parts = [(k, key, dx - cx, dy - cy, extra) for k, key, dx, dy, extra in parts]
    keys = [*chain, *sorted(placed)]
    return _Block(f"block:{chain[0]}", keys, x1 - x0, y1 - y0, parts, pipes)


def _chains(stocks: list[str], st: Structure, members: set[str]) -> list[list[str]]:
    """Stocks joined by transfer flows (outflow of one, inflow of the next), in flow order."""
    nxt: dict[str, str] = {}
    prev: dict[str, str] = {}
    for a in stocks:
        for b in stocks:
            if a != b and set(st.outflows.get(a, [])) & set(st.inflows.get(b, [])) & members \
                    and a not in nxt and b not in prev:
                nxt[a], prev[b] = b, a
    chains = []
    for s in stocks:
        if s in prev:
            continue
        chain = [s]
        while chain[-1] in nxt and nxt[chain[-1]] not in chain:
            chain.append(nxt[chain[-1]])
        chains.append(chain)
    return chains


def _feedback_arcs(nodes: list[str], edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Edges to reverse for an acyclic drawing (Eades, Lin & Smyth 1993)."""
    succ: dict[str, set[str]] = defaultdict(set)
    pred: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
        pred[b].add(a)
    left, right = [], []
    alive = set(nodes)
    while alive:
        changed = True
        while changed:
            changed = False
            for v in sorted(alive):
                if not (succ[v] & alive):
                    right.insert(0, v)
                    alive.discard(v)
                    changed = True
            for v in sorted(alive):
                if not (pred[v] & alive):
                    left.append(v)
                    alive.discard(v)
                    changed = True
        if alive:
            v = max(sorted(alive), key=lambda u: len(succ[u] & alive) - len(pred[u] & alive))
            left.append(v)
            alive.discard(v)
    order = {v: i for i, v in enumerate(left + right)}
    return {(a, b) for a, b in edges if order[a] > order[b]}


def _isotonic_place(desired: list[float], sizes: list[float], gap: float) -> list[float]:
    """Centres closest to ``desired`` (least squares) keeping order and spacing.

    With ``offset`` the cumulative spacing, the centres are ``z + offset`` with
    ``z`` the non-decreasing least-squares fit of ``desired - offset``: an
    isotonic regression (:func:`scipy.optimize.isotonic_regression`).
    """
    if not desired:
        return []
    from scipy.optimize import isotonic_regression

    sizes = np.asarray(sizes, dtype=float)
    offset = np.concatenate([[0.0], np.cumsum((sizes[:-1] + sizes[1:]) / 2 + gap)])
    z = isotonic_regression(np.asarray(desired, dtype=float) - offset).x
    return (z + offset).tolist()


def _layered(blocks: dict[str, _Block], edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Place the blocks of one connected component; return the reversed edges."""
    nodes = sorted(blocks)
    rev = _feedback_arcs(nodes, edges)
    dag = {(b, a) if (a, b) in rev else (a, b) for a, b in edges}
    succ: dict[str, set[str]] = defaultdict(set)
    pred: dict[str, set[str]] = defaultdict(set)
    for a, b in dag:
        succ[a].add(b)
        pred[b].add(a)
    # longest-path layers, then sources moved next to their first use
    layer: dict[str, int] = {}
    todo = [v for v in nodes if not pred[v]]
    indeg = {v: len(pred[v]) for v in nodes}
    for v in todo:
        layer[v] = 0
    queue = list(todo)
    while queue:
        v = queue.pop(0)
        for w in sorted(succ[v]):
            layer[w] = max(layer.get(w, 0), layer[v] + 1)
            indeg[w] -= 1
            if indeg[w] == 0:
                queue.append(w)
    for v in nodes:
        if not pred[v] and succ[v]:
            layer[v] = min(layer[w] for w in succ[v]) - 1
    # long edges get dummy nodes for the ordering
    chain_edges: list[tuple[str, str]] = []
    dummies: dict[str, int] = {}
    for a, b in sorted(dag):
        prev = a
        for k in range(layer[a] + 1, layer[b]):
            d = f"dummy:{a}>{b}:{k}"
            dummies[d] = k
            chain_edges.append((prev, d))
            prev = d
        chain_edges.append((prev, b))
    level = {**layer, **dummies}
    n_layers = max(level.values()) + 1
    rows: list[list[str]] = [[] for _ in range(n_layers)]
    up: dict[str, list[str]] = defaultdict(list)
    down: dict[str, list[str]] = defaultdict(list)
    for a, b in chain_edges:
        down[a].append(b)
        up[b].append(a)
    seen: set[str] = set()

    def visit(v: str) -> None:  # depth-first initial order
        if v in seen:
            return
        seen.add(v)
        rows[level[v]].append(v)
        for w in sorted(down[v]):
            visit(w)

    for v in sorted(level, key=lambda u: (level[u], u)):
        visit(v)

    def crossings() -> int:
        total = 0
        for i in range(n_layers - 1):
            pos = {v: k for k, v in enumerate(rows[i + 1])}
            segs = [(k, pos[w]) for k, v in enumerate(rows[i]) for w in down[v]]
            total += sum(1 for s in range(len(segs)) for t in range(s + 1, len(segs))
                         if (segs[s][0] - segs[t][0]) * (segs[s][1] - segs[t][1]) < 0)
        return total

    best, best_rows = crossings(), [list(r) for r in rows]
    for it in range(16):
        rng = range(1, n_layers) if it % 2 == 0 else range(n_layers - 2, -1, -1)
        nbrs = up if it % 2 == 0 else down
        for i in rng:
            ref = rows[i - 1] if it % 2 == 0 else rows[i + 1]
            pos = {v: k for k, v in enumerate(ref)}
            keyed = []
            for k, v in enumerate(rows[i]):
                ps = [pos[w] for w in nbrs[v] if w in pos]
                keyed.append((sum(ps) / len(ps) if ps else k, k, v))
            rows[i] = [v for _, _, v in sorted(keyed)]
        c = crossings()
        if c < best:
            best, best_rows = c, [list(r) for r in rows]
    rows = best_rows
    size = {v: (blocks[v].w, blocks[v].h) if v in blocks else (10.0, 8.0) for v in level}
    xs, x = [], 0.0
    for r in rows:
        width = max(size[v][0] for v in r)
        xs.append(x + width / 2)
        x += width + _GAP_X
    ypos: dict[str, float] = {}
    for r in rows:
        ys = _isotonic_place([0.0] * len(r), [size[v][1] for v in r], _GAP_Y)
        ypos.update(zip(r, ys, strict=True))
    for it in range(24):  # pull every node towards its neighbours, keeping order and spacing
        order = range(n_layers) if it % 2 == 0 else range(n_layers - 1, -1, -1)
        for i in order:
            r = rows[i]
            desired = []
            for v in r:
                nb = up[v] + down[v]
                desired.append(float(np.mean([ypos[w] for w in nb])) if nb else ypos[v])
            ys = _isotonic_place(desired, [size[v][1] for v in r], _GAP_Y)
            ypos.update(zip(r, ys, strict=True))
    for i, r in enumerate(rows):
        for v in r:
            if v in blocks:
                blocks[v].x, blocks[v].y = xs[i], ypos[v]
    return rev


def layout_view(view: str, st: Structure) -> ViewLayout:
    """Lay out one view: blocks in layers, components packed in rows.

    Parameters
    ----------
    view : str
        View (sector) name.
    st : Structure
        From :func:`model_structure`.

    Returns
    -------
    ViewLayout
        Coordinates start near (60, 60).
    """
    members = list(st.members[view])
    mset = set(members)
    doc = st.doc
    stocks = [k for k in members if k in doc and doc[k].kind == "stock"]
    blocks: dict[str, _Block] = {}
    owner: dict[str, str] = {}
    for chain in _chains(stocks, st, mset):
        b = _stock_block(chain, st, mset)
        blocks[b.id] = b
        for k in b.keys:
            owner[k] = b.id
    for k in members:
        if k not in owner:
            b = _Block(f"var:{k}", [k], _label_w(doc[k].name), _AUX_H - 14 + _label_h(doc[k].name))
            blocks[b.id] = b
            owner[k] = b.id
    edges = {(owner[a], owner[b]) for (a, b) in st.links if a in owner and b in owner and owner[a] != owner[b]}
    # connected components
    adj: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    comps, seen = [], set()
    for bid in blocks:
        if bid in seen:
            continue
        comp, stack = [], [bid]
        seen.add(bid)
        while stack:
            v = stack.pop()
            comp.append(v)
            for w in adj[v]:
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
        comps.append(sorted(comp))
    reversed_edges: set[tuple[str, str]] = set()
    boxes = []
    for comp in comps:
        sub = {b: blocks[b] for b in comp}
        sub_edges = {(a, b) for a, b in edges if a in sub and b in sub}
        reversed_edges |= _layered(sub, sub_edges)
        x0 = min(b.x - b.w / 2 for b in sub.values())
        x1 = max(b.x + b.w / 2 for b in sub.values())
        y0 = min(b.y - b.h / 2 for b in sub.values())
        y1 = max(b.y + b.h / 2 for b in sub.values())
        boxes.append((comp, x0, y0, x1 - x0, y1 - y0))
    # shelf packing: large components first, rows no wider than a square-ish canvas
    boxes.sort(key=lambda t: (-(t[3] * t[4]), t[0][0]))
    area = sum(w * h for *_, w, h in boxes)
    max_w = max(max(w for *_, w, _h in boxes), 1.6 * math.sqrt(area))
    x = y = row_h = 0.0
    for comp, x0, y0, w, h in boxes:
        if x > 0 and x + w > max_w:
            x, y, row_h = 0.0, y + row_h + 60, 0.0
        for b in comp:
            blocks[b].x += x - x0 + 60
            blocks[b].y += y - y0 + 60
        x += w + 90
        row_h = max(row_h, h)
    # elements
    out = ViewLayout(view)
    uid = 0
    part_uid: dict[str, int] = {}
    for bid in sorted(blocks, key=lambda b: (blocks[b].y, blocks[b].x)):
        b = blocks[bid]
        if bid.startswith("var:"):
            uid += 1
            k = b.keys[0]
            out.elements.append(Element(uid, "aux", doc[k].name, round(b.x), round(b.y - b.h / 2 + 10), k))
            part_uid[k] = uid
            continue
        for kind, key, dx, dy, _extra in b.parts:
            uid += 1
            name = doc[key].name if kind in ("stock", "flow") else ""
            vk = key if kind in ("stock", "flow") else ""
            out.elements.append(Element(uid, kind, name, round(b.x + dx), round(b.y + dy), vk))
            part_uid[f"{kind}:{key}" if kind in ("stock",) else key] = uid
            if kind == "flow":
                part_uid[key] = uid
            if kind == "stock":
                part_uid[key] = uid
        for vid, end, direction in b.pipes:
            out.pipes.append((part_uid[vid], part_uid[end], direction))
    pos = {e.uid: (e.x, e.y) for e in out.elements}
    for (a, b), sign in sorted(st.links.items()):
        if a not in part_uid or b not in part_uid or a not in mset or b not in mset:
            continue
        ua, ub = part_uid[a], part_uid[b]
        if ua == ub:
            continue
        (xa, ya), (xb, yb) = pos[ua], pos[ub]
        same_block = owner[a] == owner[b]
        back = (owner[a], owner[b]) in reversed_edges
        ctrl = None
        if same_block or back or (abs(ya - yb) < 4 and abs(xa - xb) > 150):
            length = math.hypot(xb - xa, yb - ya)
            bend = 0.22 * length if back else 0.3 * length
            nx, ny = (yb - ya) / max(length, 1e-9), -(xb - xa) / max(length, 1e-9)
            if same_block and ny > 0:  # arcs inside a stock block go over the pipe
                nx, ny = -nx, -ny
            ctrl = (round((xa + xb) / 2 + nx * bend), round((ya + yb) / 2 + ny * bend))
        out.connectors.append((ua, ub, sign, ctrl))
    return out


def layout_model(st: Structure) -> list[ViewLayout]:
    """Lay out every view of a model (see :func:`layout_view`)."""
    return [layout_view(v, st) for v in st.views]


# --------------------------------------------------------------------------- sketch text


def _view_text(lay: ViewLayout) -> str:
    lines = [_VIEW_HEADER.format(mark=SKETCH_MARK, name=lay.name).rstrip("\n")]
    for e in lay.elements:
        half = round(_label_w(e.name) / 2) if e.name else 0
        if e.kind == "stock":
            lines.append(f"10,{e.uid},{e.name},{e.x},{e.y},40,20,3,3,0,0,0,0,0,0")
        elif e.kind == "aux":
            lines.append(f"10,{e.uid},{e.name},{e.x},{e.y},{half},11,8,3,0,0,0,0,0,0")
        elif e.kind == "shadow":
            lines.append(f"10,{e.uid},{e.name},{e.x},{e.y},{half},11,8,2,0,3,-1,0,0,0,"
                         "128-128-128,0-0-0,|12||128-128-128")
        elif e.kind == "flow":
            lines.append(f"10,{e.uid},{e.name},{e.x},{e.y},{half},11,40,3,0,0,-1,0,0,0")
        elif e.kind == "valve":
            lines.append(f"11,{e.uid},0,{e.x},{e.y},6,8,34,3,0,0,1,0,0,0")
        elif e.kind == "cloud":
            lines.append(f"12,{e.uid},48,{e.x},{e.y},10,8,0,3,0,0,-1,0,0,0")
    pos = {e.uid: (e.x, e.y) for e in lay.elements}
    nxt = max((e.uid for e in lay.elements), default=0)
    # a valve's name element is written right after the valve; pipes and connectors follow
    for valve, end, direction in lay.pipes:
        nxt += 1
        ex, ey = pos[end]
        shape = 4 if direction == "in" else 100
        lines.append(f"1,{nxt},{valve},{end},{shape},0,0,22,0,0,0,-1--1--1,,1|({ex},{ey})|")
    for a, b, sign, ctrl in lay.connectors:
        nxt += 1
        pol = {1: 43, -1: 45}.get(sign, 0)
        if ctrl is None:
            lines.append(f"1,{nxt},{a},{b},0,0,{pol},0,0,64,0,-1--1--1,,1|(0,0)|")
        else:
            lines.append(f"1,{nxt},{a},{b},1,0,{pol},0,0,64,0,-1--1--1,,1|({ctrl[0]},{ctrl[1]})|")
    return "\n".join(lines) + "\n"


def sketch_text(layouts: list[ViewLayout]) -> str:
    """The sketch section of a ``.mdl`` file for the given views (ends with ``///---\\\\\\``)."""
    return "".join(_view_text(lay) for lay in layouts) + "///---\\\\\\\n"


def write_sketch(mdl_path: str | Path = MODEL_PATH, out_path: str | Path | None = None,
                 polarity: Mapping[tuple[str, str], int] | None = None) -> Path:
    """Lay out every view and rewrite the sketch section of a model file.

    Only the part from the first ``\\\\\\---///`` line on is replaced; the
    equations are kept byte for byte. Every variable stays in the view it is
    drawn in now. The file is written to a temporary name and renamed.

    Parameters
    ----------
    mdl_path : str or Path
        The model to lay out.
    out_path : str or Path, optional
        Where to write (default: ``mdl_path`` itself).
    polarity : mapping, optional
        Connector polarities (see :func:`model_structure`).

    Returns
    -------
    Path
    """
    mdl_path = Path(mdl_path)
    out_path = Path(out_path) if out_path is not None else mdl_path
    text = mdl_path.read_text(encoding="utf-8")
    equations, _ = split_sketch(text)
    st = model_structure(mdl_path, polarity)
    new = equations + sketch_text(layout_model(st))
    from .io import write_text_atomic

    return write_text_atomic(new, out_path)


# --------------------------------------------------------------------------- pictures


def _boxes(lay: ViewLayout) -> list[tuple[float, float, float, float]]:
    out = []
    for e in lay.elements:
        if e.kind in ("valve", "cloud"):
            out.append((e.x - 12, e.y - 10, e.x + 12, e.y + 10))
        elif e.kind == "stock":
            w = max(_label_w(e.name), _STOCK_W) / 2
            out.append((e.x - w, e.y - 24 - _label_h(e.name), e.x + w, e.y + 22))
        else:
            w = _label_w(e.name) / 2
            out.append((e.x - w, e.y - 12, e.x + w, e.y + 12 + _label_h(e.name)))
    return out


def _free_spot(target: Element, width: float, boxes: list, tries: int = 8,
               above: float = 14, below: float = 28) -> tuple[float, float]:
    """A place near ``target`` for a box of ``width`` that overlaps nothing (deterministic)."""
    for ring in range(1, tries + 1):
        r = 55.0 * ring
        for ang in (180, 150, 210, 120, 240, 90, 270, 60, 300, 30, 330, 0):
            x = target.x + (r + width / 2) * math.cos(math.radians(ang))
            y = target.y - 0.8 * r * math.sin(math.radians(ang))
            box = (x - width / 2 - 6, y - above, x + width / 2 + 6, y + below)
            if all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in boxes):
                return round(x), round(y)
    return round(target.x - 200 - width / 2), round(target.y)


def _with_shadows(lay: ViewLayout, st: Structure) -> tuple[ViewLayout, list[str]]:
    """A copy of a view with the variables it reads from other views drawn as shadows."""
    doc = st.doc
    have = lay.by_key()
    new = ViewLayout(lay.name, list(lay.elements), list(lay.pipes), list(lay.connectors))
    boxes = _boxes(lay)
    uid = max(e.uid for e in lay.elements)
    inputs: dict[str, list[str]] = defaultdict(list)
    for (a, b), _sign in sorted(st.links.items()):
        if b in have and a not in have and a in doc and doc[a].sector != "Control":
            inputs[a].append(b)
    shadows = []
    for a in sorted(inputs, key=lambda k: (min(have[t].y for t in inputs[k]), k)):
        targets = sorted(inputs[a], key=lambda t: (have[t].x, have[t].y))
        width = _label_w(doc[a].name)
        stock = doc[a].kind == "stock"
        width = max(width, _STOCK_W) if stock else width
        above = 26 + _label_h(doc[a].name) if stock else 14
        below = 26 if stock else 14 + _label_h(doc[a].name)
        x, y = _free_spot(have[targets[0]], width, boxes, above=above, below=below)
        uid += 1
        new.elements.append(Element(uid, "shadow", doc[a].name, x, y, a))
        boxes.append((x - width / 2 - 6, y - above, x + width / 2 + 6, y + below))
        for t in targets:
            new.connectors.append((uid, have[t].uid, st.links[(a, t)], None))
        shadows.append(a)
    return new, shadows


def _equations(mdl_path: Path) -> str:
    return split_sketch(mdl_path.read_text(encoding="utf-8"))[0]


def render_view(lay: ViewLayout, st: Structure, mdl_path: str | Path = MODEL_PATH, *,
                loops=None, scale: float = 1.6):
    """Draw one view with pysimlin and frame it with matplotlib.

    pysimlin renders the view (written to a temporary ``.mdl`` with only this
    view and shadow variables for the inputs from other views); the frame adds
    a title, grey boxes over the shadow variables, the polarity of every
    connector at its arrowhead, and the named loops that lie in the view.

    Parameters
    ----------
    lay : ViewLayout
        The view, as saved in the model (:func:`read_sketch`).
    st : Structure
    mdl_path : str or Path
    loops : iterable of megacity_sd.loops.FeedbackLoop, optional
        Named loops to mark (those with all their variables in the view).
    scale : float
        Pixels per layout unit.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import simlin
    from matplotlib.patches import FancyBboxPatch

    mdl_path = Path(mdl_path)
    drawn, shadows = _with_shadows(lay, st)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "view.mdl"
        path.write_text(_equations(mdl_path) + sketch_text([drawn]), encoding="utf-8")
        project = json.loads(simlin.load(str(path)).project.serialize_json())
        names = {e.key: e.name for e in drawn.elements if e.key}
        for el in project["models"][0]["views"][0]["elements"]:
            if "name" in el and canonical(el["name"]) in names:  # labels on two or three lines
                el["name"] = "\\n".join(_wrap(names[canonical(el["name"])]))
        jpath = Path(tmp) / "view.json"
        jpath.write_text(json.dumps(project), encoding="utf-8")
        model = simlin.load(str(jpath))
        svg = model.project.render_svg_string("main")
        view = json.loads(model.project.serialize_json())["models"][0]["views"][0]["elements"]
        m = re.search(r'viewBox="([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+)"', svg)
        vx, vy, vw, vh = (float(g) for g in m.groups())
        png = model.project.render_png("main", width=int(vw * scale))
        (Path(tmp) / "view.png").write_bytes(png)
        image = plt.imread(str(Path(tmp) / "view.png"))
    # positions as pysimlin drew them: the same elements, shifted
    by_name = {canonical(e["name"].replace("\\n", " ")): e for e in view if "name" in e}
    shift = None
    for e in drawn.elements:
        if e.key and e.key in by_name and e.kind in ("stock", "aux"):
            shift = (by_name[e.key]["x"] - e.x, by_name[e.key]["y"] - e.y)
            break
    dx, dy = shift if shift else (0.0, 0.0)
    width_in = max(6.0, vw * scale / 110)
    height_in = vh * scale / 110 + 0.9
    fig = plt.figure(figsize=(width_in, height_in), dpi=110)
    ax = fig.add_axes((0, 0, 1, vh * scale / 110 / height_in))
    ax.imshow(image, extent=(vx, vx + vw, vy + vh, vy), interpolation="antialiased")
    ax.set_xlim(vx, vx + vw)
    ax.set_ylim(vy + vh, vy)
    ax.axis("off")
    pos = {e.uid: (e.x + dx, e.y + dy) for e in drawn.elements}
    kinds = {e.uid: e for e in drawn.elements}
    for e in drawn.elements:
        if e.kind == "shadow":
            stock = st.doc[e.key].kind == "stock"
            w = max(_label_w(e.name), _STOCK_W) if stock else _label_w(e.name)
            top = 24 + _label_h(e.name) if stock else 12
            h = top + (24 if stock else 10 + _label_h(e.name))
            ax.add_patch(FancyBboxPatch((e.x + dx - w / 2, e.y + dy - top), w, h, boxstyle="round,pad=2",
                                        fc="#9e9e9e", ec="none", alpha=0.22, zorder=3))
    for a, b, sign, ctrl in drawn.connectors:
        if not sign:
            continue
        (xa, ya), (xb, yb) = pos[a], pos[b]
        tgt = kinds[b]
        if ctrl is not None:  # tangent at the end of the arc through the control point
            cx, cy = ctrl[0] + dx, ctrl[1] + dy
            ux, uy = xb - cx, yb - cy
        else:
            ux, uy = xb - xa, yb - ya
        n = math.hypot(ux, uy) or 1.0
        ux, uy = ux / n, uy / n
        back = 20 if tgt.kind in ("aux", "shadow", "flow") else 34
        px, py = xb - ux * back - uy * 8, yb - uy * back + ux * 8
        ax.text(px, py, "+" if sign > 0 else "\u2212", fontsize=9, fontweight="bold", ha="center", va="center",
                color="#b2182b" if sign > 0 else "#2166ac", zorder=4)
    keys = {e.key for e in lay.elements if e.key}
    boxes = _boxes(drawn)
    have = drawn.by_key()
    for lp in loops or ():
        inside = [v for v in lp.variables if v in st.doc]
        if not lp.name or not set(inside) <= keys:
            continue
        cx = float(np.mean([have[v].x for v in inside]))
        cy = float(np.mean([have[v].y for v in inside]))
        w = _label_w(lp.name)
        x, y = _free_spot(Element(0, "aux", "", round(cx), round(cy)), w, boxes)
        boxes.append((x - w / 2 - 6, y - 14, x + w / 2 + 6, y + 28))
        color = "#b2182b" if lp.polarity == "R" else "#2166ac"
        ax.text(x + dx, y + dy - 2, lp.polarity, ha="center", va="center", fontsize=10, fontweight="bold",
                color=color, zorder=5, bbox={"boxstyle": "circle,pad=0.25", "fc": "white", "ec": color, "lw": 1.5})
        ax.text(x + dx, y + dy + 16, lp.name, ha="center", va="top", fontsize=7.5, color=color, zorder=5,
                fontstyle="italic")
    stocks = sum(e.kind == "stock" for e in lay.elements)
    nvars = len({e.key for e in lay.elements if e.key})
    fig.text(0.01, 1 - 0.25 / height_in, f"Sector {lay.name}", fontsize=13, fontweight="bold", va="top")
    fig.text(0.01, 1 - 0.58 / height_in,
             f"{nvars} variables, {stocks} stocks. Grey: {len(shadows)} inputs from other sectors. "
             "Red + / blue \u2212: link polarity. Drawn by pysimlin from the sketch in "
             f"{mdl_path.name}.", fontsize=8.5, va="top", color="#444444")
    return fig


def _sector_links(st: Structure) -> tuple[list[str], dict[tuple[str, str], int]]:
    doc = st.doc
    views = [v for v in st.views if v != "Control"]
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for (a, b) in st.links:
        sa, sb = doc[a].sector, doc[b].sector
        if sa != sb and sa in views and sb in views:
            counts[(sa, sb)] += 1
    return views, dict(counts)


def plot_overview(st: Structure, axes=None, min_links: int = 3):
    """Sectors and the causal links between them.

    Left: the sectors on a circle, in the order of their causal flow (a
    feedback-arc ordering), each with its numbers of stocks and variables; an
    arrow from A to B for every pair with at least ``min_links`` causal links
    from variables of A to variables of B, as wide as that number (printed on
    it). Right: every count as a matrix.

    Returns
    -------
    pair of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    doc = st.doc
    views, counts = _sector_links(st)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(17, 8.5), width_ratios=[1.25, 1])
    ax, axm = axes
    rev = _feedback_arcs(views, set(counts))
    # order: sources first, following the acyclic part of the graph
    succ: dict[str, set[str]] = defaultdict(set)
    indeg = {v: 0 for v in views}
    for a, b in counts:
        if (a, b) not in rev:
            succ[a].add(b)
            indeg[b] += 1
    order, ready = [], sorted(v for v in views if indeg[v] == 0)
    while ready:
        v = ready.pop(0)
        order.append(v)
        for w in sorted(succ[v]):
            indeg[w] -= 1
            if indeg[w] == 0:
                ready.append(w)
    order += [v for v in views if v not in order]
    n = len(order)
    pos = {v: (math.cos(math.pi * (0.75 - 2 * i / n)), math.sin(math.pi * (0.75 - 2 * i / n)))
           for i, v in enumerate(order)}
    shown = {k: c for k, c in counts.items() if c >= min_links}
    cmax = max(counts.values()) if counts else 1
    for (a, b), c in sorted(shown.items(), key=lambda kv: kv[1]):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        rad = 0.18
        ax.add_patch(FancyArrowPatch((xa, ya), (xb, yb), connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                     mutation_scale=10 + 8 * c / cmax, lw=0.8 + 4.5 * c / cmax, color="#4d4d4d",
                                     alpha=0.35 + 0.5 * c / cmax, shrinkA=40, shrinkB=40, zorder=1))
        t = 0.4  # label on the arc, nearer the source
        mx, my = xa + t * (xb - xa), ya + t * (yb - ya)
        nx, ny = (yb - ya), -(xb - xa)
        bulge = 2 * rad * t * (1 - t)
        ax.text(mx + bulge * nx, my + bulge * ny, str(c), fontsize=8.5, ha="center", va="center",
                color="#222222", zorder=3, bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none",
                                                  "alpha": 0.9})
    for v, (x, y) in pos.items():
        keys = st.members[v]
        stocks = sum(doc[k].kind == "stock" for k in keys)
        ax.add_patch(FancyBboxPatch((x - 0.2, y - 0.075), 0.4, 0.15, boxstyle="round,pad=0.02", fc="#f7f7f7",
                                    ec="#333333", lw=1.2, zorder=2))
        ax.text(x, y + 0.03, v, ha="center", va="center", fontsize=11, fontweight="bold", zorder=3)
        ax.text(x, y - 0.035, f"{stocks} stocks, {len(keys)} variables", ha="center", va="center",
                fontsize=8, color="#444444", zorder=3)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"Sectors and their causal links (arrows: {min_links} links or more; all in the matrix)",
                 fontsize=11, loc="left")
    mat = np.array([[counts.get((a, b), 0) for b in order] for a in order], dtype=float)
    axm.imshow(np.where(mat > 0, mat, np.nan), cmap="Greys", vmin=0, vmax=cmax * 1.3)
    for i in range(n):
        for j in range(n):
            if mat[i, j]:
                axm.text(j, i, f"{mat[i, j]:.0f}", ha="center", va="center", fontsize=9,
                         color="white" if mat[i, j] > 0.6 * cmax else "black")
    axm.set_xticks(range(n), order, rotation=45, ha="right", fontsize=9)
    axm.set_yticks(range(n), order, fontsize=9)
    axm.set_xlabel("to sector")
    axm.set_ylabel("from sector")
    axm.set_title("Number of causal links from sector (row) to sector (column)", fontsize=11, loc="left")
    axm.grid(False)
    return ax, axm


def write_diagrams(out_dir: str | Path = "figures/diagrams", mdl_path: str | Path = MODEL_PATH) -> list[Path]:
    """Write one stock-and-flow picture per sector and the overview.

    Files: ``<out_dir>/<sector>.png`` (dots in sector names become ``_``)
    and ``<out_dir>/overview.png``, each written to a temporary name and
    renamed.

    Returns
    -------
    list of Path
    """
    import matplotlib.pyplot as plt

    from .loops import causal_links, configured_model, find_loops
    from .plotting import savefig_atomic

    out_dir, mdl_path = Path(out_dir), Path(mdl_path)
    model = configured_model(None, mdl_path)
    links = causal_links(model)
    st = model_structure(mdl_path, {k: v.polarity for k, v in links.items()})
    named = [lp for lp in find_loops(model, mdl_path=mdl_path, links=links).loops if lp.name]
    files = []
    for lay in read_sketch(mdl_path):
        if lay.name == "Control" or not lay.elements:
            continue
        fig = render_view(lay, st, mdl_path, loops=named)
        files.append(savefig_atomic(fig, out_dir / f"{lay.name.replace('.', '_')}.png"))
    fig, axes = plt.subplots(1, 2, figsize=(17, 8.5), width_ratios=[1.25, 1])
    plot_overview(st, axes)
    files.append(savefig_atomic(fig, out_dir / "overview.png"))
    return files
