"""Loop dominance: Loops That Matter scores (pysimlin), the loops of an output, dominant periods."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserInputError, suggest
from ..model import MODEL_PATH, canonical, model_doc
from .graph import _INTERNAL, LoopAnalysis, configured_model, find_loops

if TYPE_CHECKING:  # annotations only: pandas is imported where tables are made
    import pandas as pd

__all__ = [
    "OUTPUTS",
    "resolve_variable",
    "output_loops",
    "loop_scores",
    "analyze_loops",
    "dominant_periods",
    "dominance_table",
]


#: Outputs whose loop dominance ``megacity-sd loops`` reports: label -> model variable.
OUTPUTS = {"CO2": "CO2 emissions", "PM2.5": "PM25", "population": "Population"}


def resolve_variable(name: str, mdl_path: str | Path = MODEL_PATH) -> str:
    """The pysimlin identifier of a model variable, or a one-line UserInputError."""
    doc = model_doc(Path(mdl_path))
    key = canonical(name)
    if key in doc and doc[key].sector != "Control":
        return key
    hint = suggest(name, [v.name for v in doc.values() if v.sector != "Control"], key=canonical) or \
        " (see 'megacity-sd scenarios --all' and sd_models/README.md)"
    raise UserInputError(f"unknown variable '{name}'; allowed: a model variable name{hint}")


def output_loops(analysis: LoopAnalysis, output: str) -> tuple[list[str], list[str]]:
    """Loops that drive one output variable.

    If the output lies on feedback loops, the loops through it. Otherwise its
    causes are traced back, stopping at the first variables that lie on loops
    (the output's nearest loop-bearing causes), and the loops through those.

    Parameters
    ----------
    analysis : LoopAnalysis
    output : str
        pysimlin identifier of the output.

    Returns
    -------
    loop_ids : list of str
    anchors : list of str
        The variables the loops were selected through.
    """
    on_loop: dict[str, list[str]] = defaultdict(list)
    for lp in analysis.loops:
        for v in lp.variables:
            on_loop[v].append(lp.id)
    causes: dict[str, set[str]] = defaultdict(set)
    for src, tgt in analysis.links:
        causes[tgt].add(src)
    anchors: list[str] = []
    seen = {output}
    todo = deque([output])
    while todo:
        v = todo.popleft()
        if v in on_loop:
            anchors.append(v)
            continue
        for c in sorted(causes[v]):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    ids = sorted({i for a in anchors for i in on_loop[a]})
    return ids, sorted(anchors)


def loop_scores(model, analysis: LoopAnalysis, timeout: float = 60.0) -> LoopAnalysis:
    """Relative loop scores over time by Loops That Matter (``Model.analyze``).

    Parameters
    ----------
    model : simlin.Model
        The (configured) model whose loops ``analysis`` holds.
    analysis : LoopAnalysis
        From :func:`find_loops`; its ``scores``, ``partition`` and ``info``
        are filled in.
    timeout : float
        Seconds allowed for the discovery's candidate search.

    Returns
    -------
    LoopAnalysis
        The same object.
    """
    import pandas as pd

    result = model.analyze(timeout=timeout)
    if result.analysis_error:
        raise RuntimeError(f"pysimlin loop analysis failed: {result.analysis_error}")
    spec = model.time_spec
    key_of = {frozenset(lp.variables): lp.id for lp in analysis.loops}
    series: dict[str, np.ndarray] = {}
    partition: dict[str, int] = {}
    unmatched = []
    for lp in result.loops:
        key = frozenset(v for v in lp.variables if _INTERNAL not in v)
        lid = key_of.get(key)
        if lid is None or lp.behavior_time_series is None:
            unmatched.append(lp.id)
            continue
        series[lid] = np.nan_to_num(lp.behavior_time_series, nan=0.0)
        partition[lid] = -1 if lp.partition is None else int(lp.partition)
    n = len(next(iter(series.values()))) if series else 0
    years = np.linspace(spec.start, spec.stop, n) if n else np.array([])
    analysis.scores = pd.DataFrame(series, index=pd.Index(np.round(years, 6), name="year"))
    analysis.partition = partition
    analysis.info = {"enumeration_complete": result.enumeration_complete, "truncated": result.truncated,
                     "retained_loops": result.retained_loops, "universe_loops": result.universe_loops,
                     "reported": len(result.loops), "unmatched": unmatched}
    return analysis


def analyze_loops(constants: Mapping[str, float] | None = None, *, mdl_path: str | Path = MODEL_PATH,
                  timeout: float = 60.0, scores: bool = True) -> LoopAnalysis:
    """Find every loop of a model configuration and score them over the run.

    Parameters
    ----------
    constants : mapping, optional
        Constant overrides (a city and scenario: ``Scenario.constants``).
    mdl_path : str or Path
    timeout : float
        Seconds for the LTM discovery.
    scores : bool
        Also run :func:`loop_scores`.

    Returns
    -------
    LoopAnalysis
    """
    model = configured_model(constants, mdl_path)
    analysis = find_loops(model, mdl_path=mdl_path)
    if scores:
        loop_scores(model, analysis, timeout=timeout)
    return analysis


def dominant_periods(shares: pd.DataFrame, polarity: Mapping[str, str],
                     threshold: float = 0.5) -> list[tuple[float, float, tuple[str, ...]]]:
    """Periods in which a set of loops dominates (pysimlin's rule).

    At every step the loops are ranked by absolute share; within each polarity
    the strongest loops are taken until their shares add up to ``threshold``;
    the polarity group with the larger sum dominates. Consecutive steps with
    the same set are merged (``simlin.Run.dominant_periods``).

    Parameters
    ----------
    shares : pandas.DataFrame
        Index time, one column per loop: signed shares.
    polarity : mapping of str to str
        ``"R"``/``"B"``/``"U"`` per loop (``U`` takes the sign of its share).
    threshold : float

    Returns
    -------
    list of (start, end, loops)
    """
    sets: list[frozenset[str]] = []
    for _, row in shares.iterrows():
        groups: dict[str, list[tuple[str, float]]] = {"R": [], "B": []}
        for lid, val in sorted(row.items(), key=lambda kv: -abs(kv[1])):
            if not np.isfinite(val) or val == 0:
                continue
            pol = polarity.get(lid, "U")
            pol = pol if pol in groups else ("R" if val > 0 else "B")
            groups[pol].append((lid, abs(val)))
        best: tuple[float, list[str]] = (0.0, [])
        for pol in ("R", "B"):
            chosen, total = [], 0.0
            for lid, val in groups[pol]:
                chosen.append(lid)
                total += val
                if total >= threshold:
                    break
            if total > best[0] or (pol == "R" and total == best[0] and total > 0):
                best = (total, chosen)
        sets.append(frozenset(best[1]))
    periods = []
    times = list(shares.index)
    start = 0
    for i in range(1, len(sets) + 1):
        if i == len(sets) or sets[i] != sets[start]:
            if sets[start]:
                periods.append((float(times[start]), float(times[i - 1]), tuple(sorted(sets[start]))))
            start = i
    return periods


def dominance_table(analysis: LoopAnalysis, outputs: Mapping[str, str] | None = None,
                    mdl_path: str | Path = MODEL_PATH, threshold: float = 0.5) -> tuple[pd.DataFrame, dict]:
    """Which loops dominate each output in which period.

    For each output the loops of :func:`output_loops` that the LTM discovery
    scored are kept; within each cycle partition their relative scores are
    renormalised to shares of their own total, and :func:`dominant_periods`
    is applied. The first step (no change yet, all scores zero) is skipped.

    Parameters
    ----------
    analysis : LoopAnalysis
        With scores (:func:`loop_scores`).
    outputs : mapping of str to str, optional
        Label -> model variable name (default :data:`OUTPUTS`).

    Returns
    -------
    table : pandas.DataFrame
        Columns ``output, start_year, end_year, dominant_loops, polarity,
        share, top_loop, top_polarity, top_share, names, coverage,
        partition``: ``share`` is the dominant loops' mean share of the
        output's scored loops over the period; ``top_loop`` the loop with the
        largest mean share in the period; ``names`` the model's names among
        the dominant loops; ``coverage`` the mean summed relative score of the
        output's scored loops, i.e. the part of their cycle partition's
        loop-score mass the shares are taken from; ``partition`` the cycle
        partition (pysimlin's index).
    shares : dict of str to pandas.DataFrame
        Per output label, the renormalised signed shares (columns: loops);
        ``attrs["coverage"]`` holds the coverage series.
    """
    import pandas as pd

    if analysis.scores is None:
        raise ValueError("analysis has no scores; run loop_scores first")
    outputs = OUTPUTS if outputs is None else outputs
    loops = analysis.by_id
    rows, all_shares = [], {}
    for label, var in outputs.items():
        ident = resolve_variable(var, mdl_path)
        ids, _ = output_loops(analysis, ident)
        scored = [i for i in ids if i in analysis.scores.columns]
        frames, coverages = [], []
        for part in sorted({analysis.partition[i] for i in scored}):
            cols = [i for i in scored if analysis.partition[i] == part]
            raw = analysis.scores[cols].iloc[1:]
            total = raw.abs().sum(axis=1).replace(0.0, np.nan)
            shares = raw.div(total, axis=0).fillna(0.0)
            frames.append(shares)
            coverages.append(raw.abs().sum(axis=1))
            pol = {i: loops[i].polarity for i in cols}
            coverage = raw.abs().sum(axis=1)
            for start, end, dom in dominant_periods(shares, pol, threshold):
                period = shares.loc[start:end]
                share = float(period[list(dom)].abs().sum(axis=1).mean())
                mean = period.abs().mean()
                top = str(mean.idxmax())
                pols = "".join(sorted({loops[i].polarity for i in dom}))
                names = "; ".join(dict.fromkeys(loops[i].name for i in dom if loops[i].name))
                rows.append((label, int(round(start)), int(round(end)), " ".join(dom), pols, round(share, 3),
                             top, loops[top].polarity, round(float(mean[top]), 3), names,
                             round(float(coverage.loc[start:end].mean()), 3), part))
        all_shares[label] = pd.concat(frames, axis=1) if frames else pd.DataFrame()
        all_shares[label].attrs["coverage"] = sum(coverages) if coverages else None
    table = pd.DataFrame(rows, columns=["output", "start_year", "end_year", "dominant_loops", "polarity",
                                        "share", "top_loop", "top_polarity", "top_share", "names", "coverage",
                                        "partition"])
    return table, all_shares
