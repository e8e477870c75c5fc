"""Which lever settings meet the targets: lever space, sampling, scenario discovery (PRIM) and feature scores.

The levers are the 29 policy targets of the model (``<lever> target``, one per
lever of ``megacity-sd scenarios``), each between the city's baseline level
(the lowest value of its baseline path from the lever's start year on: a
target at or below it changes nothing) and the model's maximum; start years
and phase-in times stay at their values in the base scenario (2021 and 10
years by default). :func:`discover` samples the levers
(and, optionally, the uncertain parameters of ``scenarios/uncertainty.yaml``)
by Latin hypercube (``scipy.stats.qmc``), runs the samples through the
project's ensemble runner (:func:`megacity_sd.ensemble.run_ensemble`,
resumable), checks each run against the targets (:mod:`megacity_sd.targets`)
and runs PRIM (Friedman and Fisher 1999; EMA Workbench's
``ema_workbench.analysis.prim``, Kwakkel 2017,
https://doi.org/10.1016/j.envsoft.2017.06.054) on which runs meet all targets.

The box reported is chosen on PRIM's peeling trajectory as the one with the
highest F-score (beta = 0.5 by default: density weighted above coverage);
restrictions whose quasi-p value (Bryant and Lempert 2010,
https://doi.org/10.1016/j.techfore.2009.08.002) exceeds 0.05 are then dropped.
Feature scores (extra trees, Jaxa-Rozen and Kwakkel 2018,
https://doi.org/10.1016/j.envsoft.2018.06.011; EMA's
``get_ex_feature_scores``) say which levers and uncertainties matter for
meeting each target.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserInputError, suggest
from .model import MODEL_PATH, canonical, model_doc
from .targets import TargetSet, evaluate

__all__ = [
    "Lever",
    "RunOptions",
    "Discovery",
    "levers",
    "lever_by_name",
    "sample",
    "run_sets",
    "discover",
    "prim_boxes",
    "box_in_words",
    "feature_scores",
    "plot_tradeoff",
    "plot_box",
]

BOX_COLUMNS = ["box", "parameter", "low", "high", "coverage", "density", "mass", "qp_value"]


def _quiet_ema():
    """Import EMA Workbench without its notices (ipyparallel absent, logging setup)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import ema_workbench  # noqa: F401


# ----------------------------------------------------------------------------- levers


@dataclass(frozen=True)
class Lever:
    """One policy lever of the model, as a range a scenario may set.

    Attributes
    ----------
    name : str
        The model constant a scenario sets, e.g. ``"coal exit target"``.
    low : float
        The city's baseline level: the lowest value of the baseline path from
        the lever's start year on (a target at or below it changes nothing).
    high : float
        The model's maximum (Vensim ``[min,max]``).
    units : str
    """

    name: str
    low: float
    high: float
    units: str

    @property
    def label(self) -> str:
        """The lever without ``target``: ``"coal exit"``."""
        return self.name[: -len(" target")] if self.name.endswith(" target") else self.name

    def value(self, effort) -> np.ndarray:
        """Lever value of a normalised effort (0 = baseline, 1 = maximum)."""
        return self.low + np.asarray(effort, dtype=float) * (self.high - self.low)

    def effort(self, value) -> np.ndarray:
        """Normalised effort of a lever value, clipped to [0, 1]."""
        return np.clip((np.asarray(value, dtype=float) - self.low) / (self.high - self.low), 0.0, 1.0)


def levers(base: dict[str, float], *, mdl_path: str | Path = MODEL_PATH) -> list[Lever]:
    """The levers that can strengthen the city's baseline path, with their ranges.

    Parameters
    ----------
    base : dict of str to float
        Resolved constants of the base scenario (``load_scenario("baseline", city=...).constants``).

    Returns
    -------
    list of Lever
        One per ``<lever> target`` constant of the Policy sector (the rule of
        ``megacity-sd scenarios``), from the city's baseline level to the
        model's maximum, leaving out a lever whose baseline level is already at
        its maximum (within 0.1 % of its range). The baseline level is the lowest value of the baseline
        path from the lever's start year to the end of the run: the model's
        ``path + MAX(0, target - path) * phase`` then leaves the path exactly
        as it is at that level (a lever at its baseline level is no policy).
    """
    doc = model_doc(Path(mdl_path))
    by_key = {canonical(k): float(v) for k, v in base.items()}

    def value(name: str) -> float:
        return by_key.get(canonical(name), doc[canonical(name)].value)

    final = value("FINAL TIME")
    out = []
    for v in doc.values():
        if v.kind != "constant" or v.sector != "Policy" or not v.name.endswith(" target") \
                or " baseline " in v.name or v.limits is None:
            continue
        stem = v.name[: -len(" target")]
        keys = [f"{stem} {k}" for k in ("initial value", "baseline target", "baseline start year",
                                         "baseline phase in time", "start year")]
        if not all(canonical(k) in doc for k in keys):
            continue
        init, btarget, bstart, bphase, start = (value(k) for k in keys)
        path = [init + (btarget - init) * min(1.0, max(0.0, (t - bstart) / bphase)) for t in (start, final)]
        low = max(min(path), v.limits[0])  # the path is linear between its start and end: its lowest is at an end
        if v.limits[1] - low > 1e-3 * (v.limits[1] - v.limits[0]):  # else nothing left to strengthen
            out.append(Lever(v.name, float(low), float(v.limits[1]), v.units))
    return out


def lever_by_name(all_levers: Sequence[Lever], name: str, what: str = "--lever") -> Lever:
    """A lever by its constant name or its label (``"coal exit"``), case and spacing ignored.

    Raises
    ------
    UserInputError
        Not a lever (with close matches and the allowed names).
    """
    key = canonical(name)
    for lv in all_levers:
        if key in (canonical(lv.name), canonical(lv.label)):
            return lv
    names = [lv.label for lv in all_levers]
    raise UserInputError(f"{what} {name}: not a lever{suggest(name, names)}; allowed: {', '.join(names)}")


# ----------------------------------------------------------------------------- sampling and running


def sample(all_levers: Sequence[Lever], n: int, *, uncertainty=None, seed: int = 1) -> pd.DataFrame:
    """Latin hypercube sample of the levers (uniform on their ranges) and of uncertain parameters.

    Parameters
    ----------
    all_levers : sequence of Lever
    n : int
        Number of sets.
    uncertainty : megacity_sd.sensitivity.UncertaintySet, optional
        Uncertain parameters, sampled from their distributions
        (:meth:`~megacity_sd.sensitivity.Uncertainty.ppf`) in the same hypercube.
    seed : int

    Returns
    -------
    pandas.DataFrame
        ``n`` rows; one column per lever (model constant name), then per uncertain parameter.
    """
    from scipy.stats import qmc

    params = list(uncertainty.parameters) if uncertainty is not None else []
    d = len(all_levers) + len(params)
    u = qmc.LatinHypercube(d=d, seed=seed).random(n)
    cols = {lv.name: lv.value(u[:, j]) for j, lv in enumerate(all_levers)}
    for k, p in enumerate(params):
        cols[p.name] = p.ppf(u[:, len(all_levers) + k])
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class RunOptions:
    """How the runs are made and where the ensembles are kept.

    Attributes
    ----------
    store : Path or None
        Folder for the ensembles (resumable: the same command reuses finished
        batches); None: a temporary folder.
    engine : {"fast", "simlin", "pysd"}
    workers : int or None
        Local worker processes (None: every CPU; 0: in this process).
    batch_size : int or None
    progress : bool
    """

    store: Path | None = None
    engine: str = "fast"
    workers: int | None = None
    batch_size: int | None = None
    progress: bool = False


@contextmanager
def session(opts: RunOptions):
    """A store folder and a local worker pool, for several ensembles in a row."""
    from .ensemble import LocalRunner

    tmp = None
    store = opts.store
    if store is None:
        tmp = tempfile.TemporaryDirectory(prefix="megacity-sd-discover-")
        store = Path(tmp.name)
    runner = LocalRunner((os.cpu_count() or 1) if opts.workers is None else opts.workers)
    try:
        yield Path(store), runner
    finally:
        runner.close()
        if tmp is not None:
            tmp.cleanup()


def run_sets(params: pd.DataFrame, base: dict[str, float], variables: Sequence[str], *, tag: str,
             opts: RunOptions = RunOptions(), store: Path | None = None, runner=None
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run parameter sets on top of a base scenario through the ensemble runner; return yearly series.

    Parameters
    ----------
    params : pandas.DataFrame
        One row per run; columns are model constants.
    base : dict
        Constants shared by every run.
    variables : sequence of str
        Model variables whose yearly values are returned.
    tag : str
        Start of the ensemble's folder name (a digest of the inputs follows,
        so a changed input starts a new ensemble and the same one resumes).

    Returns
    -------
    years : numpy.ndarray
    series : dict of str to numpy.ndarray
        ``(runs, years)`` per variable, in model units.
    """
    from .ensemble import run_ensemble

    digest = hashlib.sha256(json.dumps([list(params.columns), sorted(base.items()), list(variables), opts.engine],
                                       default=str).encode()
                            + np.ascontiguousarray(params.to_numpy(dtype=float)).tobytes()
                            + MODEL_PATH.read_bytes()).hexdigest()[:10]
    with (session(opts) if runner is None else _given(store, runner)) as (folder, pool):
        res = run_ensemble(params.reset_index(drop=True), folder / f"{tag}-{digest}", base=base, indicators=(),
                           series=list(variables), engine=opts.engine, runner=pool, batch_size=opts.batch_size,
                           progress=opts.progress, label=tag)
    years = np.asarray(next(iter(res.series.values())).columns, dtype=int)
    return years, {v: res.series[v].to_numpy(dtype=float) for v in variables}


@contextmanager
def _given(store, runner):
    yield Path(store), runner


# ----------------------------------------------------------------------------- PRIM


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


# ----------------------------------------------------------------------------- the whole analysis


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

    from .scenario import load_scenario
    from .sensitivity import load_uncertainty

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


# ----------------------------------------------------------------------------- figures


def plot_tradeoff(d: Discovery, ax=None):
    """PRIM's peeling trajectory: coverage against density, coloured by restricted dimensions; the kept box marked.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.4), layout="constrained") if ax is None else (ax.figure, ax)
    for k, box in enumerate(d.prim):
        traj = box.peeling_trajectory
        sc = ax.scatter(traj["coverage"], traj["density"], c=traj["res_dim"], cmap="viridis", s=18,
                        marker="os^"[k % 3], label=f"box {k + 1} trajectory")
        i = box._cur_box
        ax.scatter([traj["coverage"].iloc[i]], [traj["density"].iloc[i]], s=140, facecolors="none",
                   edgecolors="red", lw=1.5, label=f"box {k + 1} kept")
    if d.prim:
        fig.colorbar(sc, ax=ax, label="restricted dimensions")
    ax.set_xlabel("coverage (share of the runs meeting the targets that lie in the box)")
    ax.set_ylabel("density (share of runs in the box meeting them)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.set_title(f"{d.city}, {d.targets.name}: PRIM peeling trade-off ({len(d.params)} runs, "
                 f"{100 * d.met['all targets'].mean():.1f} % meet)")
    return fig


def plot_box(d: Discovery, box: int = 1):
    """The box: each restricted input's range within its sampled range, with density and coverage.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    rows = d.boxes[(d.boxes["box"] == box) & (d.boxes["parameter"] != "(none)")]
    fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.45 * max(len(rows), 1)), layout="constrained")
    for k, r in enumerate(rows.itertuples()):
        lo, hi = d.ranges[r.parameter]
        a, b = (r.low - lo) / (hi - lo), (r.high - lo) / (hi - lo)
        ax.plot([0, 1], [k, k], color="0.8", lw=6, solid_capstyle="butt")
        ax.plot([a, b], [k, k], color="#1b9e77", lw=6, solid_capstyle="butt")
        u = d.units.get(r.parameter, "")
        ax.text(1.02, k, f"{_fmt(r.low, '')} - {_fmt(r.high, u)}  (range {_fmt(lo, '')} - {_fmt(hi, u)}; "
                f"qp {r.qp_value:.2g})", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), list(rows["parameter"]))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
    ax.set_xlabel("position in the sampled range (0 = baseline level or lowest value, 1 = highest)")
    first = d.boxes[d.boxes["box"] == box].iloc[0]
    ax.set_title(f"{d.city}, {d.targets.name}, box {box}: density {100 * first['density']:.0f} %, coverage "
                 f"{100 * first['coverage']:.0f} %, mass {100 * first['mass']:.0f} %", fontsize=9)
    ax.grid(False)
    return fig


def plot_features(d: Discovery, top: int = 15):
    """Heat map of the feature scores: inputs (the most important first) by target.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    wide = d.features.pivot_table(index="parameter", columns="target", values="score", sort=False)
    cols = [c for c in list(d.met.columns) if c in wide.columns]
    wide = wide[cols]
    order = wide.max(axis=1).sort_values(ascending=False).index[:top]
    wide = wide.loc[order]
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * len(cols), 1.0 + 0.32 * len(wide)), layout="constrained")
    im = ax.imshow(wide.to_numpy(), cmap="viridis", aspect="auto", vmin=0)
    ax.set_xticks(range(len(cols)), cols, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(wide)), list(wide.index), fontsize=7)
    for i in range(wide.shape[0]):
        for j in range(wide.shape[1]):
            v = wide.iat[i, j]
            if v == v:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if v < 0.3 else "k")
    fig.colorbar(im, ax=ax, label="feature score (extra trees)")
    ax.set_title(f"{d.city}, {d.targets.name}: what matters for meeting each target", fontsize=9)
    ax.grid(False)
    return fig
