"""Scenario discovery: PRIM boxes (EMA Workbench), the box in words, feature scores (extra trees), and
:func:`discover`, which runs it all."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..ensemble import RunOptions
from ..targets import TargetSet, evaluate
from .levers import levers, sample
from .runs import run_sets

__all__ = [
    "prim_boxes",
    "box_in_words",
    "feature_scores",
    "Discovery",
    "discover",
]


BOX_COLUMNS = ["box", "parameter", "low", "high", "coverage", "density", "mass", "qp_value"]


def _quiet_ema():
    """Import EMA Workbench without its notices (ipyparallel absent, logging setup)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import ema_workbench  # noqa: F401


def prim_boxes(x: pd.DataFrame, y: np.ndarray, *, n_boxes: int = 1, beta: float = 0.5, peel_alpha: float = 0.05,
               mass_min: float | None = None, qp_max: float = 0.05,
               ranges: dict[str, tuple[float, float]] | None = None) -> tuple[pd.DataFrame, list]:
    """PRIM (EMA Workbench) on which rows meet the targets; one box per PRIM iteration.

    Parameters
    ----------
    x : pandas.DataFrame
        The sampled inputs (levers, uncertain parameters).
    y : array of bool
        Whether each row meets the targets.
    n_boxes : int
        Boxes to look for (each next one in the rows the earlier ones left).
    beta : float
        The box kept on each peeling trajectory maximises the F-score
        ``(1 + beta^2) * density * coverage / (beta^2 * density + coverage)``.
    peel_alpha : float
        PRIM's peeling fraction.
    mass_min : float, optional
        Smallest box mass (share of rows). Default: 0.05, or half the share
        of rows that meet the targets when that is smaller (else a rare
        success could never be boxed densely), at least 20 rows.
    ranges : dict of str to (float, float), optional
        Sampled range of each input: an unrestricted side of a box is reported
        as the range's end (default: the data's extreme).
    qp_max : float
        Restrictions whose quasi-p value exceeds this are dropped from the box kept.

    Returns
    -------
    boxes : pandas.DataFrame
        Columns :data:`BOX_COLUMNS`, one row per restricted parameter of each box
        (a box without restriction: one row with parameter ``(none)``);
        ``qp_value``: the larger quasi-p value of the restricted sides.
    prim_boxes : list of ema_workbench.analysis.prim.PrimBox
        Each with the kept box selected.
    """
    _quiet_ema()
    from ema_workbench.analysis import prim
    from ema_workbench.analysis import scenario_discovery_util as sdutil

    y = np.asarray(y, dtype=bool)
    if not y.any():
        raise ValueError("no row meets the targets: PRIM has nothing to describe")
    x = x.reset_index(drop=True).astype(float)
    if mass_min is None:
        mass_min = max(min(0.05, 0.5 * y.mean()), 20 / len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # y is 0/1: any threshold in (0, 1] makes the ones the cases of interest; a tiny one keeps every box
        # PRIM finds (EMA replaces a final box whose density is under the threshold by the whole space)
        alg = prim.Prim(x, y.astype(int), threshold=1e-9, peel_alpha=peel_alpha, mass_min=mass_min)
        rows, found = [], []
        for b in range(n_boxes):
            if b > 0 and (alg.yi_remaining.size == 0 or not y[alg.yi_remaining].any()):
                break
            box = alg.find_box()
            if box is None:
                break
            traj = box.peeling_trajectory
            cov, den = traj["coverage"].to_numpy(float), traj["density"].to_numpy(float)
            f = np.where(cov + den > 0, (1 + beta ** 2) * den * cov / np.maximum(beta ** 2 * den + cov, 1e-300), 0)
            box.select(int(np.argmax(f)))
            for _ in range(x.shape[1]):
                qp = box.qp[box._cur_box]
                weak = [k for k, v in qp.items() if all(q < 0 or q > qp_max for q in v)]
                if not weak:
                    break
                box.drop_restriction(max(weak, key=lambda k: max(qp[k])))
            i = box._cur_box
            lims = box.box_lims[i]
            stats = traj_row = box.peeling_trajectory.iloc[i]
            restricted = list(sdutil._determine_restricted_dims(lims, alg.box_init))
            qp = box.qp[i]
            common = {"box": b + 1, "coverage": float(stats["coverage"]), "density": float(stats["density"]),
                      "mass": float(traj_row["mass"])}
            for name in restricted:
                q = [v for v in qp.get(name, [-1, -1]) if v >= 0]
                low, high = float(lims.at[0, name]), float(lims.at[1, name])
                if ranges is not None and name in ranges:  # an unrestricted side: the sampled range's end
                    low = ranges[name][0] if low <= alg.box_init.at[0, name] else low
                    high = ranges[name][1] if high >= alg.box_init.at[1, name] else high
                rows.append({"parameter": name, "low": low, "high": high, "qp_value": max(q) if q else np.nan,
                             **common})
            if not restricted:
                rows.append({"parameter": "(none)", "low": np.nan, "high": np.nan, "qp_value": np.nan, **common})
            found.append(box)
    return pd.DataFrame(rows)[BOX_COLUMNS], found


def _fmt(v: float, units: str) -> str:
    text = f"{v:.3g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return text if units in ("dmnl", "") else f"{text} {units}"


def box_in_words(boxes: pd.DataFrame, box: int, ranges: dict[str, tuple[float, float]],
                 units: dict[str, str] | None = None) -> str:
    """One box in words: its restrictions, then density and coverage.

    ``"coal exit target ≥ 0.8 and NEV sales target ≥ 0.7: 94 % of runs in this box meet the targets,
    covering 71 % of all runs that do"``.

    Parameters
    ----------
    boxes : pandas.DataFrame
        From :func:`prim_boxes`.
    box : int
        Box number.
    ranges : dict of str to (float, float)
        Sampled range of each parameter (a side at its range's end is unrestricted).
    units : dict of str to str, optional
    """
    units = units or {}
    rows = boxes[boxes["box"] == box]
    parts = []
    for r in rows.itertuples():
        if r.parameter == "(none)":
            continue
        lo, hi = ranges[r.parameter]
        u = units.get(r.parameter, "")
        tol = 1e-9 * (hi - lo)
        low_set, high_set = r.low > lo + tol, r.high < hi - tol
        if low_set and high_set:
            parts.append(f"{r.parameter} between {_fmt(r.low, '')} and {_fmt(r.high, u)}")
        elif low_set:
            parts.append(f"{r.parameter} ≥ {_fmt(r.low, u)}")
        elif high_set:
            parts.append(f"{r.parameter} ≤ {_fmt(r.high, u)}")
    first = rows.iloc[0]
    where = " and ".join(parts) if parts else "anywhere in the sampled ranges"
    return (f"{where}: {100 * first['density']:.0f} % of runs in this box meet the targets, covering "
            f"{100 * first['coverage']:.0f} % of all runs that do ({100 * first['mass']:.0f} % of all runs lie in it)")


def feature_scores(x: pd.DataFrame, met: pd.DataFrame, *, seed: int = 1, trees: int = 100) -> pd.DataFrame:
    """Which inputs matter for meeting each target: extra-trees feature scores (EMA Workbench).

    Parameters
    ----------
    x : pandas.DataFrame
        Sampled inputs.
    met : pandas.DataFrame
        Bool per target (and ``all targets``), as :func:`megacity_sd.targets.evaluate` returns.

    Returns
    -------
    pandas.DataFrame
        ``target, parameter, score`` (scores of one target sum to 1); a target
        that every run meets, or none, is left out (nothing to explain).
    """
    _quiet_ema()
    from ema_workbench.analysis.feature_scoring import get_ex_feature_scores
    from ema_workbench.analysis.scenario_discovery_util import RuleInductionType

    rows = []
    xx = x.reset_index(drop=True).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for target in met.columns:
            y = met[target].to_numpy(dtype=int)
            if y.min() == y.max():
                continue
            scores, _ = get_ex_feature_scores(xx, y, mode=RuleInductionType.CLASSIFICATION, nr_trees=trees,
                                              random_state=seed, oob_score=False)
            s = scores.iloc[:, 0]
            rows += [(target, name, float(v)) for name, v in s.items()]
    return pd.DataFrame(rows, columns=["target", "parameter", "score"])


@dataclass
class Discovery:
    """The result of :func:`discover`.

    Attributes
    ----------
    city : str
    targets : TargetSet
    params : pandas.DataFrame
        The sampled inputs, one row per run.
    values : pandas.DataFrame
        Indicator values of each run.
    met : pandas.DataFrame
        Whether each run meets each target and ``all targets``.
    boxes : pandas.DataFrame
        :data:`BOX_COLUMNS` (empty when no run or every run meets the targets).
    words : list of str
        Each box in words.
    features : pandas.DataFrame
        ``target, parameter, score``.
    ranges : dict
        Sampled range of each input.
    units : dict
    prim : list
        EMA PrimBox objects (for the figures).
    seconds : dict
        Time of each step.
    """

    city: str
    targets: TargetSet
    params: pd.DataFrame
    values: pd.DataFrame
    met: pd.DataFrame
    boxes: pd.DataFrame
    words: list[str]
    features: pd.DataFrame
    ranges: dict
    units: dict
    prim: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)

    def runs_table(self) -> pd.DataFrame:
        """One row per run: inputs, indicator values, and whether each target is met."""
        met = self.met.add_prefix("meets: ")
        return pd.concat([self.params.reset_index(drop=True), self.values, met], axis=1).rename_axis("run") \
            .reset_index()

    def shares(self) -> pd.Series:
        """Share of runs meeting each target and all of them."""
        return self.met.mean()


def discover(city: str, targets: TargetSet, *, n: int = 10_000, uncertain: bool = False, seed: int = 1,
             opts: RunOptions = RunOptions(), n_boxes: int = 1, features: bool = True, base_scenario="baseline",
             uncertainty_file: str | Path | None = None) -> Discovery:
    """Sample the levers (and uncertainties), run them, and find the box of runs that meet the targets.

    Parameters
    ----------
    city : str
        City name or YAML file.
    targets : TargetSet
    n : int
        Number of runs.
    uncertain : bool
        Also sample the uncertain parameters of ``scenarios/uncertainty.yaml``
        (else they stay at the city's calibrated values).
    seed : int
        Seed of the Latin hypercube.
    opts : RunOptions
    n_boxes : int
        PRIM boxes to look for.
    features : bool
        Compute feature scores.
    base_scenario : str
        Scenario whose constants (start years, phase-in times, other
        constants) the sampled levers are set on.

    Returns
    -------
    Discovery
    """
    import time

    from ..scenario import load_scenario
    from ..sensitivity import load_uncertainty

    t0 = time.perf_counter()
    base = load_scenario(base_scenario, city=city)
    lv = levers(base.constants)
    unc = load_uncertainty(uncertainty_file, scenario=base) if uncertain else None
    params = sample(lv, n, uncertainty=unc, seed=seed)
    ranges = {x.name: (x.low, x.high) for x in lv}
    units = {x.name: x.units for x in lv}
    if unc is not None:
        ranges.update({p.name: (p.lower, p.upper) for p in unc.parameters})
        units.update({p.name: p.units for p in unc.parameters})
    years, series = run_sets(params, base.constants, targets.variables(), tag=f"discover-{base.city}", opts=opts)
    t1 = time.perf_counter()
    values, met = evaluate(targets, years, series)
    y = met["all targets"].to_numpy()
    words: list[str] = []
    found: list = []
    boxes = pd.DataFrame(columns=BOX_COLUMNS)
    if y.any() and not y.all():
        boxes, found = prim_boxes(params, y, n_boxes=n_boxes, ranges=ranges)
        words = [box_in_words(boxes, b, ranges, units) for b in boxes["box"].unique()]
    t2 = time.perf_counter()
    feats = feature_scores(params, met, seed=seed) if features else pd.DataFrame(columns=["target", "parameter",
                                                                                           "score"])
    t3 = time.perf_counter()
    return Discovery(base.city, targets, params, values, met, boxes, words, feats, ranges, units, found,
                     {"runs": t1 - t0, "prim": t2 - t1, "features": t3 - t2, "total": t3 - t0})
