"""Layered placement of a view (Sugiyama): stock blocks, feedback arcs, isotonic placement of layers."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from ..model import (
    Element,
    ViewLayout,
)
from .structure import Structure

__all__ = [
    "layout_view",
    "layout_model",
]


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
