"""The accelerated PySD path refuses, at load, every construct it does not reproduce exactly.

One small model per refused construct (tier 1: the refusal is the behaviour);
a one-view model, which PySD translates into a single file, is supported and
equals plain PySD to 1e-12 (tier 2: PySD is the independent reference).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from megacity_sd.engines.fast import compare_with_pysd, load_fast

DECAY = Path(__file__).parent / "models" / "decay.mdl"


def _with(tmp_path: Path, name: str, equations: str, views: int = 1) -> Path:
    """The decay model plus ``equations`` (and, with ``views=2``, a second view so PySD splits it)."""
    text = DECAY.read_text(encoding="utf-8")
    head, sketch = text.split("\\\\\\---///", 1)
    head = head.replace("{UTF-8}\n", "{UTF-8}\n" + equations, 1)
    if views == 2:  # a second view: "V300" line, "*name", then its elements; the sketch ends with ///---\\\
        end = "///---\\\\\\"
        sketch = sketch.rstrip("\n").removesuffix(end) + "V300  Do not put anything below this section - it will be " \
            "ignored\n*Second\n$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0" \
            "\n10,1,decay rate,150,100,40,20,8,3,0,0,0,0,0,0\n" + end + "\n"
    path = tmp_path / f"{name}.mdl"
    path.write_text(head + "\\\\\\---///" + sketch, encoding="utf-8")
    return path


def test_one_view_model_runs_and_equals_pysd():
    assert load_fast(DECAY).run({"decay rate": 0.07})["stock"].iloc[-1] > 0
    assert compare_with_pysd({"decay rate": 0.07}, mdl_path=DECAY) <= 1e-12


def test_first_order_smooth_equals_pysd_in_a_split_model(tmp_path):
    mdl = _with(tmp_path, "smooth1", "smoothed=\n\tSMOOTH(outflow, 5)\n\t~\tt/Year\n\t~\ttest.\n\t|\n\n", views=2)
    assert compare_with_pysd({"decay rate": 0.2}, ["smoothed", "stock"], mdl_path=mdl) <= 1e-12


@pytest.mark.parametrize("name, equations, words", [
    ("smooth3", "smoothed=\n\tSMOOTH3(outflow, 5)\n\t~\tt/Year\n\t~\ttest.\n\t|\n\n", "SMOOTH of order 3"),
    ("smoothn", "smoothed=\n\tSMOOTH N(outflow, 5, outflow, 2)\n\t~\tt/Year\n\t~\ttest.\n\t|\n\n", "SMOOTH of order 2"),
    ("delay1", "delayed=\n\tDELAY1(outflow, 3)\n\t~\tt/Year\n\t~\ttest.\n\t|\n\n", "not supported"),
    ("delay3", "delayed=\n\tDELAY3(outflow, 3)\n\t~\tt/Year\n\t~\ttest.\n\t|\n\n", "not supported"),
    ("subscripts", "Region:\n\tr1, r2\n\t~\t\n\t~\ttest.\n\t|\n\nshare[Region]=\n\t0.4, 0.6\n\t~\tDmnl\n"
                   "\t~\ttest.\n\t|\n\n", "subscripted"),
    ("ifthenelse", "switched=\n\tIF THEN ELSE(stock > 50, 1, 0)\n\t~\tDmnl\n\t~\ttest.\n\t|\n\n", "not supported"),
])
@pytest.mark.parametrize("views", [1, 2])
def test_unsupported_constructs_are_refused_at_load(tmp_path, name, equations, words, views):
    mdl = _with(tmp_path, f"{name}{views}", equations, views=views)
    with pytest.raises(NotImplementedError, match=words):
        load_fast(mdl)


def test_scalar_lookup_equals_numpy_interp_bit_for_bit():
    """The scalar lookup computes numpy's slope and line itself: identical doubles to np.interp, at nodes, beside
    them, between them and outside the range (clamped)."""
    from megacity_sd.engines.fast_codegen import _lookup_s

    fast = load_fast()
    rng = np.random.default_rng(7)
    assert fast._m.lookups, "the model has no lookup to check"
    for x, y in fast._m.lookups.values():
        xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        pts = np.concatenate([rng.uniform(x[0] - 1, x[-1] + 1, 5000), xa, np.nextafter(xa, np.inf),
                              np.nextafter(xa, -np.inf)])
        got = np.array([_lookup_s(float(v), x, y, xa, ya) for v in pts])
        np.testing.assert_array_equal(got, np.interp(pts, xa, ya))
