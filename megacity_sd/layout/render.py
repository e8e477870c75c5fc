"""Pictures of the diagrams: each view rendered by pysimlin, framed by matplotlib; the sector overview."""

from __future__ import annotations

import gc
import json
import math
import re
import tempfile
import zlib
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..io import FIGURES_DIR
from ..model import (
    MODEL_PATH,
    Element,
    ViewLayout,
    canonical,
    read_sketch,
    split_sketch,
)
from .layered import _STOCK_W, _feedback_arcs, _label_h, _label_w, _wrap
from .sketch import sketch_text
from .structure import Structure, model_structure

__all__ = [
    "render_view",
    "plot_overview",
    "write_diagrams",
]


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


def _read_png(path: Path):
    """A PNG as :func:`matplotlib.pyplot.imread` reads it, but 8-bit RGBA kept as bytes (a quarter of the memory).

    imread gives such a PNG as ``float32`` values ``byte / 255``; ``imshow`` turns a ``uint8`` RGBA array into
    exactly that when it draws (``np.divide(A, 0xff, dtype=np.float32)``), so the picture is the same.
    """
    import matplotlib.pyplot as plt
    from PIL import Image, PngImagePlugin

    with Image.open(path) as png:
        if isinstance(png, PngImagePlugin.PngImageFile) and png.mode == "RGBA" and png.png.im_rawmode == "RGBA":
            out = np.empty((png.height, png.width, 4), np.uint8)
            for y in range(0, png.height, _ROW_BLOCK):  # no second copy of the whole picture
                out[y:y + _ROW_BLOCK] = np.asarray(png.crop((0, y, png.width, min(y + _ROW_BLOCK, png.height))))
            return out
    return plt.imread(str(path))


#: Rows of a diagram's picture compressed together while it waits to be drawn.
_ROW_BLOCK = 64


class _PackedRows:
    """The rows of a ``uint8`` image, zlib-compressed by blocks of :data:`_ROW_BLOCK` rows (a diagram is mostly
    white: some 100 MB become a few)."""

    def __init__(self, a: np.ndarray):
        self.shape, self.dtype = a.shape, a.dtype
        self._blocks = [zlib.compress(np.ascontiguousarray(a[i:i + _ROW_BLOCK]).tobytes(), 1)
                        for i in range(0, a.shape[0], _ROW_BLOCK)]

    def rows(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0:r1`` (read-only)."""
        b0, b1 = r0 // _ROW_BLOCK, -(-r1 // _ROW_BLOCK)
        raw = b"".join(zlib.decompress(b) for b in self._blocks[b0:b1])
        return np.frombuffer(raw, self.dtype).reshape(-1, *self.shape[1:])[r0 - b0 * _ROW_BLOCK:r1 - b0 * _ROW_BLOCK]


#: Output pixels resampled at a time when a diagram is saved (float32 RGBA: 16 bytes each).
_BAND_PIXELS = 1 << 18


@lru_cache(maxsize=1)
def _banded_image_class():
    """An ``AxesImage`` that an Agg canvas draws in horizontal bands (matplotlib is imported on first use).

    matplotlib resamples an image to the output size in one piece, in float32 RGBA with a few copies: a
    sector diagram at 150 dpi is 50 million pixels, some 3 GB. This class gives each band of output rows
    the input rows it reads (with a margin wider than the resampling filter) and draws the bands one after
    the other, with matplotlib's own ``_make_image``; every output pixel is computed from the same input
    pixels with the same filter, so the picture is the same. Vector backends (svg, pdf) draw it as usual.
    """
    from matplotlib.image import AxesImage
    from matplotlib.transforms import Affine2D, Bbox, TransformedBbox

    class BandedImage(AxesImage):
        _packed = None

        def set_packed(self, pixels: np.ndarray):
            """Show ``pixels`` (``uint8`` RGBA, as ``set_data`` would keep them), compressed until drawn.

            ``set_data`` would copy them (a diagram's 100 MB); ``_A`` keeps their shape and takes no memory.
            """
            self._packed = _PackedRows(pixels)
            self._A = np.broadcast_to(np.zeros((), pixels.dtype), pixels.shape)
            self._imcache = None
            self.stale = True

        def draw(self, renderer):
            if self._packed is None or not self.get_visible() or renderer.option_scale_image():
                if self._packed is not None:  # vector backends take the whole picture
                    self._A, self._packed = self._packed.rows(0, self._packed.shape[0]), None
                return super().draw(renderer)
            trans = self.get_transform()
            x1, x2, y1, y2 = self.get_extent()
            bbox = Bbox(np.array([[x1, y1], [x2, y2]]))
            clip = ((self.get_clip_box() or self.axes.bbox) if self.get_clip_on()
                    else self.get_figure(root=True).bbox)
            clipped = Bbox.intersection(TransformedBbox(bbox, trans), clip)
            if clipped is None:
                return
            mag = renderer.get_image_magnification()
            # the output rows _make_image draws (its rounding to pixel borders)
            bottom = math.ceil(clipped.y0 * mag - 0.5 - 1e-8)
            top = math.ceil(clipped.y1 * mag - 0.5)
            width = max(math.floor(clipped.x1 * mag + 0.5 + 1e-8) - math.floor(clipped.x0 * mag + 0.5), 1)
            rows, cols = self._packed.shape[:2]
            k = bbox.height / rows
            # display -> (column, row from the top): the inverse of _make_image's transform for origin="upper"
            to_array = (Affine2D().translate(0, -rows).scale(1, -1)
                        + Affine2D().scale(bbox.width / cols, k).translate(bbox.x0, bbox.y0) + trans).inverted()
            gcx = renderer.new_gc()
            self._set_gc_clip(gcx)
            gcx.set_alpha(self._get_scalar_alpha())
            gcx.set_url(self.get_url())
            gcx.set_gid(self.get_gid())
            step = max(_BAND_PIXELS // width, 16)
            for lo in range(bottom, top, step):
                hi = min(lo + step, top)
                ys = to_array.transform([[0, lo / mag], [0, hi / mag]])[:, 1]
                r0 = max(math.floor(ys.min()) - 8, 0)
                r1 = min(math.ceil(ys.max()) + 8, rows)
                # the input rows r0:r1 where the whole image has them, and this band of the output
                sub = Bbox([[bbox.x0, bbox.y0 + k * (rows - r1)], [bbox.x1, bbox.y0 + k * (rows - r0)]])
                band_clip = Bbox.intersection(clip, Bbox([[clip.x0, lo / mag], [clip.x1, hi / mag]]))
                if band_clip is None:
                    continue
                im, left, low, _ = self._make_image(self._packed.rows(r0, r1), sub, TransformedBbox(sub, trans),
                                                    band_clip, mag)
                if im is not None:
                    renderer.draw_image(gcx, left, low, im)
                del im
            gcx.restore()
            self.stale = False

    return BandedImage


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
        image = _read_png(Path(tmp) / "view.png")
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
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 4:
        # the same image, kept compressed and resampled band by band when saved (a few MB instead of GB)
        im = ax.imshow(np.zeros((1, 1, 4), np.uint8), extent=(vx, vx + vw, vy + vh, vy), interpolation="antialiased")
        im.__class__ = _banded_image_class()
        im.set_packed(image)
        del im
    else:
        ax.imshow(image, extent=(vx, vx + vw, vy + vh, vy), interpolation="antialiased")
    del image
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


def _tight_bbox(fig, dpi: float):
    """The box ``savefig(bbox_inches="tight")`` finds for a PNG at ``dpi``, for a figure without a layout engine.

    savefig finds it by drawing the whole figure once with drawing disabled, on a canvas of the figure's
    size (a diagram's is hundreds of MB), then draws it again; the box only needs the extents of the
    artists, which the Agg renderer measures at the dpi whatever its size.
    """
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import RendererAgg

    if fig.get_layout_engine() is not None:
        return "tight"
    old = fig.dpi
    fig.dpi = dpi
    try:
        bbox = fig.get_tightbbox(RendererAgg(1, 1, dpi))
    finally:
        fig.dpi = old
    pad = rcParams["savefig.pad_inches"]
    return bbox.padded(pad, pad)


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


def write_diagrams(out_dir: str | Path = f"{FIGURES_DIR}/diagrams", mdl_path: str | Path = MODEL_PATH, *,
                   progress: bool = False) -> list[Path]:
    """Write one stock-and-flow picture per sector and the overview.

    Files: ``<out_dir>/<sector>.png`` (dots in sector names become ``_``)
    and ``<out_dir>/overview.png``, each written to a temporary name and
    renamed. ``progress`` shows a bar of the pictures (tqdm, on stderr;
    about half a minute in all).

    Returns
    -------
    list of Path
    """
    import matplotlib.pyplot as plt

    from ..loops import find_loops_cached
    from ..plotting import savefig_atomic

    out_dir, mdl_path = Path(out_dir), Path(mdl_path)
    analysis = find_loops_cached(None, mdl_path)
    st = model_structure(mdl_path, {k: v.polarity for k, v in analysis.links.items()})
    named = [lp for lp in analysis.loops if lp.name]
    del analysis
    files = []
    views = [lay for lay in read_sketch(mdl_path) if lay.name != "Control" and lay.elements]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(views) + 1, unit="picture", desc="diagrams", mininterval=0.5)
    for lay in views:
        if bar is not None:
            bar.set_postfix_str(lay.name, refresh=False)
        files.append(savefig_atomic(render_view(lay, st, mdl_path, loops=named),
                                    out_dir / f"{lay.name.replace('.', '_')}.png", tight_png=_tight_bbox))
        gc.collect()  # a closed figure is freed with its canvas and image only when its cycles are collected
        if bar is not None:
            bar.update(1)
    fig, axes = plt.subplots(1, 2, figsize=(17, 8.5), width_ratios=[1.25, 1])
    plot_overview(st, axes)
    files.append(savefig_atomic(fig, out_dir / "overview.png"))
    if bar is not None:
        bar.update(1)
        bar.close()
    return files
