"""Writing the laid-out views back as the .mdl sketch section (the equations are kept byte for byte)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..model import (
    MODEL_PATH,
    SKETCH_MARK,
    ViewLayout,
    split_sketch,
)
from .layered import _label_w, layout_model
from .structure import model_structure

__all__ = [
    "sketch_text",
    "write_sketch",
]


_VIEW_HEADER = ("{mark} Sketch information - do not modify anything except names\n"
                "V300  Do not put anything below this section - it will be ignored\n"
                "*{name}\n"
                "$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0\n")


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
    from ..io import write_text_atomic

    return write_text_atomic(new, out_path)
