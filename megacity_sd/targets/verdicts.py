"""Whether runs meet targets: indicator values, met or missed, margins an optimiser can follow, and the rows
a table shows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..indicators import Indicator, indicator_matrix
from .conditions import _YEAR_REDUCTIONS, DERIVED, Condition, TargetSet, series_variables

# ----------------------------------------------------------------------------- evaluation


def derived_series(series: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``series`` plus every derived series whose variables it holds (ratio, 0 where the denominator is 0)."""
    out = dict(series)
    for name, (num, den) in DERIVED.items():
        if num in out and den in out:
            a, b = np.asarray(out[num], dtype=float), np.asarray(out[den], dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[name] = np.where(b != 0, a / np.where(b != 0, b, 1.0), 0.0)
    return out


def indicator_values(years, series: Mapping[str, np.ndarray], indicators: Sequence[Indicator]) -> np.ndarray:
    """:func:`~megacity_sd.indicators.indicator_matrix` with the derived series: ``(runs, indicators)``."""
    return indicator_matrix(np.asarray(years), derived_series(series), list(indicators))


def _compare(a: np.ndarray, op: str, b) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op] & ~np.isnan(a) & ~np.isnan(b)


def _bound(cond: Condition, values: Mapping[str, np.ndarray]) -> np.ndarray:
    if cond.right is None:
        return np.full(len(values[cond.left.name]), float(cond.constant))
    return cond.factor * values[cond.right.name]


def evaluate(targets: TargetSet, years, series: Mapping[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Indicator values and which targets each run meets.

    Parameters
    ----------
    targets : TargetSet
    years : array of int
    series : mapping of str to array
        ``(runs, years)`` for each of :meth:`TargetSet.variables`.

    Returns
    -------
    values : pandas.DataFrame
        ``(runs, indicators)``, in the indicators' units.
    met : pandas.DataFrame
        ``(runs, targets)`` of bool, plus the column ``all targets``.
    """
    inds = targets.indicators
    vals = indicator_values(years, series, inds)
    values = pd.DataFrame(vals, columns=[i.name for i in inds])
    met = pd.DataFrame({t.name: _compare(values[t.condition.left.name].to_numpy(), t.condition.op,
                                         _bound(t.condition, values)) for t in targets.targets})
    met["all targets"] = met.all(axis=1)
    return values, met


def margins(targets: TargetSet, years, series: Mapping[str, np.ndarray]) -> np.ndarray:
    """How far each run is from each target: ``(runs, targets)``, <= 0 where met, > 0 where not.

    For a value compared with a bound B: ``(value - B) / |B|`` for ``<``/``<=``
    and ``(B - value) / |B|`` for ``>``/``>=`` (a relative shortfall). For
    ``peak year <= Y``: the peak after Y less the peak in ``start``-Y, over
    the latter (the first maximum is at or before Y exactly when this is <= 0).
    For ``first year below f of ref <= Y``: the lowest value in ``start``-Y
    less ``f * ref``, over ``ref``. Other year conditions: -1 met, +1 not. A
    strict comparison met only by equality, and NaN, give a small positive
    margin, so that a margin <= 0 always means met (:func:`evaluate`).
    """
    years = np.asarray(years)
    all_series = derived_series(series)
    values, met = evaluate(targets, years, series)
    out = np.empty((len(values), len(targets.targets)))
    for j, t in enumerate(targets.targets):
        c = t.condition
        ind = c.left
        if ind.reduction in _YEAR_REDUCTIONS:
            col = _year_margin(ind, c, years, np.asarray(all_series[ind.variable], dtype=float))
        else:
            v = values[ind.name].to_numpy()
            b = _bound(c, values)
            scale = np.where(np.abs(b) > 0, np.abs(b), 1.0)
            col = (v - b) / scale if c.op in ("<", "<=") else (b - v) / scale
        ok = met[t.name].to_numpy()
        col = np.where(np.isnan(col), 1e3, col)
        col = np.where(ok, np.minimum(col, 0.0), np.maximum(col, 1e-12))  # the sign always agrees with `met`
        out[:, j] = col
    return out


def _year_margin(ind: Indicator, c: Condition, years: np.ndarray, a: np.ndarray) -> np.ndarray:
    a = a if a.ndim == 2 else a[None, :]
    bound = float(c.constant)
    last = math.floor(bound) if c.op == "<=" else math.ceil(bound) - 1  # the last year allowed
    start = ind.start if ind.start is not None else int(years.min())
    end = ind.end if ind.end is not None else int(years.max())
    step = np.ones(a.shape[0])
    if c.op not in ("<", "<="):
        return step  # sign fixed by the caller from `met`
    if last < start:
        return step
    if ind.reduction == "peak_year":
        if last >= end:
            return -step
        before = a[:, (years >= start) & (years <= last)].max(axis=1)
        after = a[:, (years > last) & (years <= end)].max(axis=1)
        return (after - before) / np.where(np.abs(before) > 0, np.abs(before), 1.0)
    ref = a[:, int(np.flatnonzero(years == ind.ref)[0])] * ind.fraction
    low = a[:, (years >= start) & (years <= min(last, end))].min(axis=1)
    return (low - ref) / np.where(np.abs(ref) > 0, np.abs(ref) / ind.fraction, 1.0)


def _years_needed(ind: Indicator) -> list[int]:
    return [y for y in ((ind.start if ind.reduction == "at" else None), ind.ref) if y is not None]


def target_year(cond: Condition) -> int:
    """The year a condition is about: the bound of a year indicator, else the year its left side reads."""
    ind = cond.left
    if ind.reduction in _YEAR_REDUCTIONS:
        return int(cond.constant)
    return int(ind.end if ind.end is not None else ind.start)


def check(targets: TargetSet, years, series: Mapping[str, np.ndarray]) -> list[dict]:
    """Whether one run meets each target, as rows a table shows.

    Parameters
    ----------
    targets : TargetSet
    years : array of int
        The run's years.
    series : mapping of str to 1-D array
        Model variables of one run (at least :meth:`TargetSet.variables`), in
        model units.

    Returns
    -------
    list of dict
        One per target, then one per ``not_checked`` entry: ``name``, ``reads``
        (the condition in normal form), ``year`` (what it is about), ``unit``,
        ``model`` (the indicator's value; a year for peak and first-below
        indicators), ``bound`` (the value it is compared with, in ``unit``),
        ``op``, ``relative`` (the bound is a multiple of another indicator),
        ``status`` (``met``, ``missed`` or ``not checked``),
        ``margin`` (:func:`margins`: <= 0 exactly when met), ``note`` and
        ``source``. Statuses agree with :func:`evaluate` and ``discover``.
    """
    years = np.asarray(years)
    ok = [t for t in targets.targets
          if all(y in years for ind in t.condition.indicators for y in _years_needed(ind))
          and all(v in series for v in series_variables(t.condition.indicators))]
    rows = {}
    if ok:
        sub = TargetSet(targets.name, targets.title, ok)
        one = {k: np.asarray(v, dtype=float)[None, :] for k, v in series.items()}
        values, met = evaluate(sub, years, one)
        marg = margins(sub, years, one)[0]
        for j, t in enumerate(ok):
            value = float(values[t.condition.left.name].iloc[0])
            bound = float(_bound(t.condition, values)[0])
            status = ("met" if met[t.name].iloc[0] else
                      "not checked" if math.isnan(value) and t.condition.left.reduction != "first_below" else
                      "missed")
            rows[t.name] = {"model": value, "bound": bound, "status": status, "margin": float(marg[j]), "why": ""}
    out = []
    for t in targets.targets:
        c = t.condition
        hit = rows.get(t.name) or {"model": float("nan"), "bound": float("nan"), "status": "not checked",
                                   "margin": float("nan"), "why": "the run lacks its years or variables"}
        out.append({"name": t.name, "reads": c.describe(), "year": target_year(c), "unit": c.left.unit,
                    "op": c.op, "relative": c.right is not None, "model": hit["model"], "bound": hit["bound"],
                    "status": hit["status"],
                    "margin": hit["margin"], "note": "; ".join(x for x in (hit["why"], t.note) if x),
                    "source": t.source})
    for n in targets.not_checked:
        out.append({"name": n.name, "reads": "", "year": None, "unit": "", "op": "", "relative": False,
                    "model": float("nan"),
                    "bound": float("nan"), "status": "not checked", "margin": float("nan"), "note": n.reason,
                    "source": n.source})
    return out
