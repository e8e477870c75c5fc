"""The co-control coordinate system.

Relative changes, elasticities, quadrants, cross-elasticities, the interaction of combined measures, ensemble clouds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import permutations

import numpy as np
import pandas as pd

from ..errors import UserInputError
from .changes import APE, CO2, SYNERGY_COLUMNS, _keys, _ordered, _sort, model_changes
from .defaults import DEFAULT_YEARS

__all__ = [
    "DEFAULT_ZERO_TOL",
    "DEFAULT_YEARS",
    "PATH_YEARS",
    "QUADRANTS",
    "relative_change",
    "elasticity",
    "quadrant",
    "synergy_table",
    "cross_elasticity",
    "interaction",
    "EnsembleCloud",
    "ensemble_cloud",
]


DEFAULT_ZERO_TOL = 1e-9


PATH_YEARS = (2025, 2060)


QUADRANTS = ("I", "II", "III", "IV", "x-axis", "y-axis", "origin")




def relative_change(before, after) -> np.ndarray:
    """Signed relative change ``(after - before) / before``.

    Parameters
    ----------
    before, after : array_like of float
        Levels in one unit (e.g. t/yr); ``before`` is the reference.

    Returns
    -------
    numpy.ndarray of float (a scalar for scalar input)
        Dimensionless (0.1 = +10 %). NaN where ``before`` is zero (a zero
        baseline is reported, not divided by) or either level is NaN.
    """
    b, a = np.broadcast_arrays(np.asarray(before, dtype=float), np.asarray(after, dtype=float))
    zero = b == 0.0
    out = (a - b) / np.where(zero, 1.0, b)
    return np.where(zero, np.nan, out)[()]


def elasticity(x, y, *, zero_tol: float = DEFAULT_ZERO_TOL) -> np.ndarray:
    """Co-control elasticity ``ET = x / y`` (ratio of relative changes).

    Parameters
    ----------
    x : array_like of float
        Relative change of the pollutant, dP/P (dimensionless).
    y : array_like of float
        Relative change of CO2, dC/C (dimensionless).
    zero_tol : float
        ``|y| <= zero_tol`` counts as no change of CO2.

    Returns
    -------
    numpy.ndarray of float (a scalar for scalar input)
        ET (dimensionless); NaN, never inf, where ``y`` is zero or either
        input is NaN.
    """
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y) & (np.abs(y) > zero_tol)
    return (np.where(ok, x / np.where(ok, y, 1.0), np.nan) + 0.0)[()]  # + 0.0 turns -0.0 into 0.0


def quadrant(x, y, *, zero_tol: float = DEFAULT_ZERO_TOL) -> np.ndarray:
    """Quadrant of the point ``(x, y)`` = (dP/P, dC/C).

    Parameters
    ----------
    x, y : array_like of float
        Relative changes of the pollutant and of CO2 (dimensionless).
    zero_tol : float
        ``|r| <= zero_tol`` counts as zero.

    Returns
    -------
    numpy.ndarray of object (a scalar for scalar input)
        ``"I"`` (x>0, y>0), ``"II"`` (x<0, y>0), ``"III"`` (x<0, y<0,
        synergistic), ``"IV"`` (x>0, y<0), ``"x-axis"`` (y = 0, x != 0),
        ``"y-axis"`` (x = 0, y != 0), ``"origin"``; None where x or y is NaN.
    """
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    x0, y0 = np.abs(x) <= zero_tol, np.abs(y) <= zero_tol
    conds = [np.isnan(x) | np.isnan(y), x0 & y0, y0, x0, (x > 0) & (y > 0), (x < 0) & (y > 0), (x < 0) & (y < 0)]
    labels = [None, "origin", "x-axis", "y-axis", "I", "II", "III"]
    return np.select(conds, np.array(labels, dtype=object), default="IV")[()]


def synergy_table(changes: pd.DataFrame, *, zero_tol: float = DEFAULT_ZERO_TOL) -> pd.DataFrame:
    """Coordinates, elasticity and quadrant of every measure, pollutant and year.

    Parameters
    ----------
    changes : pandas.DataFrame
        Changes table (:func:`model_changes`, :func:`read_measures`,
        :func:`history_changes`).
    zero_tol : float
        Relative changes with ``|r| <= zero_tol`` count as zero.

    Returns
    -------
    pandas.DataFrame
        :data:`SYNERGY_COLUMNS` (plus any extra id column such as ``run``):
        ``rel_change_pollutant`` = dP/P and ``rel_change_co2`` = dC/C
        (dimensionless, signed), ``elasticity`` = ET (NaN where undefined),
        ``quadrant`` (None where a coordinate is undefined),
        ``zero_baseline`` (bool), ``note``.
    """
    keys = _keys(changes)
    co2 = changes.loc[changes["pollutant"] == CO2, [*keys, "before", "after", "note"]]
    co2 = co2.rename(columns={"before": "co2_before", "after": "co2_after", "note": "co2_note"})
    pol = changes[changes["pollutant"] != CO2]
    m = pol.merge(co2, on=keys, how="left", validate="many_to_one")
    x = relative_change(m["before"], m["after"])
    y = relative_change(m["co2_before"], m["co2_after"])
    zp, zc = (m["before"] == 0).to_numpy(), (m["co2_before"] == 0).to_numpy()
    notes = []
    for note, cnote, a, b, pname, has_c in zip(m["note"], m["co2_note"], zp, zc, m["pollutant"],
                                              m["co2_before"].notna() | m["co2_note"].notna(), strict=True):
        parts = [n for n in (note, cnote) if isinstance(n, str) and n]
        if a:
            parts.append(f"zero baseline of {pname}: relative change not computed")
        if b:
            parts.append("zero baseline of CO2: relative change not computed")
        if not has_c:
            parts.append("no CO2 row")
        notes.append("; ".join(parts))
    out = pd.DataFrame({k: m[k].to_numpy() for k in keys})
    out["pollutant"] = m["pollutant"].to_numpy()
    out["rel_change_pollutant"] = x
    out["rel_change_co2"] = y
    out["elasticity"] = elasticity(x, y, zero_tol=zero_tol)
    out["quadrant"] = quadrant(x, y, zero_tol=zero_tol)
    out["pollutant_basis"] = m["pollutant_basis"].to_numpy()
    out["zero_baseline"] = zp | zc
    out["note"] = notes
    out["year"] = out["year"].astype("Int64")
    extra = [k for k in keys if k not in ("city", "measure", "year")]
    return _sort(out)[[*SYNERGY_COLUMNS, *extra]].reset_index(drop=True)


def cross_elasticity(changes: pd.DataFrame, *, variables: Sequence[str] | None = None,
                     zero_tol: float = DEFAULT_ZERO_TOL) -> pd.DataFrame:
    """Cross-elasticities d ln A / d ln B between every ordered pair of variables.

    Estimated as the ratio of relative changes (dA/A) / (dB/B), with the
    zero rules of :func:`elasticity` and :func:`relative_change`. The row
    with A = a pollutant and B = CO2 is the co-control elasticity ET.

    Parameters
    ----------
    changes : pandas.DataFrame
        Changes table.
    variables : sequence of str, optional
        Default: every pollutant present except ``APE`` (CO2, SO2, NOx,
        PM2.5 for model runs).
    zero_tol : float
        ``|dB/B| <= zero_tol`` leaves the elasticity undefined (NaN).

    Returns
    -------
    pandas.DataFrame
        ``city, measure, year, variable_a, variable_b, rel_change_a,
        rel_change_b, elasticity, pollutant_basis`` (dimensionless).
    """
    keys = _keys(changes)
    if variables is None:
        variables = [p for p in _ordered(changes["pollutant"].unique()) if p != APE]
    sel = changes[changes["pollutant"].isin(list(variables))].copy()
    sel["rel"] = relative_change(sel["before"], sel["after"])
    basis = sel[sel["pollutant"] != CO2].groupby(keys, dropna=False, sort=False)["pollutant_basis"].first()
    frames = []
    for a, b in permutations(variables, 2):
        ra = sel.loc[sel["pollutant"] == a, [*keys, "rel"]].rename(columns={"rel": "rel_change_a"})
        rb = sel.loc[sel["pollutant"] == b, [*keys, "rel"]].rename(columns={"rel": "rel_change_b"})
        m = ra.merge(rb, on=keys, how="inner")
        if m.empty:
            continue
        m.insert(len(keys), "variable_a", a)
        m.insert(len(keys) + 1, "variable_b", b)
        m["elasticity"] = elasticity(m["rel_change_a"], m["rel_change_b"], zero_tol=zero_tol)
        frames.append(m)
    cols = [*keys[:3], "variable_a", "variable_b", "rel_change_a", "rel_change_b", "elasticity",
            "pollutant_basis", *keys[3:]]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    out = out.merge(basis.rename("pollutant_basis").reset_index(), on=keys, how="left")
    out["pollutant_basis"] = out["pollutant_basis"].fillna("emissions")
    out["year"] = out["year"].astype("Int64")
    order = {m: i for i, m in enumerate(pd.unique(changes["measure"]))}
    out = out.sort_values(["city", "measure", "year"], key=lambda s: s.map(order) if s.name == "measure" else s,
                          kind="stable")
    return out[cols].reset_index(drop=True)


def interaction(changes: pd.DataFrame, *, combined: str = "combined",
                singles: Sequence[str] = ("energy_structure", "transport", "buildings"),
                additive_tol: float = 1e-3, zero_tol: float = DEFAULT_ZERO_TOL,
                rtol_baseline: float = 1e-9) -> pd.DataFrame:
    """Interaction of a combined measure with its single parts.

    ``interaction = d_combined - sum_i d_single_i`` with ``d = after -
    before`` (all against one common baseline), per city, pollutant (CO2
    included) and year. For reductions, a negative interaction means the
    packages reinforce each other (together they cut more than the sum of
    their separate cuts); a positive one that they counteract (overlap).

    Parameters
    ----------
    changes : pandas.DataFrame
        Changes table holding ``combined`` and every measure of ``singles``.
    combined : str
        The combined measure.
    singles : sequence of str
        The single measures it combines.
    additive_tol : float
        ``|interaction| / baseline <= additive_tol`` is labelled ``additive``
        (dimensionless; default 0.1 % of the baseline level).
    zero_tol : float
        ``interaction_share`` is NaN where ``|sum of single deltas| /
        baseline <= zero_tol``.
    rtol_baseline : float
        Relative tolerance for the check that all measures share a baseline.

    Returns
    -------
    pandas.DataFrame
        ``city, measure, singles, pollutant, year, unit, baseline,
        delta_combined, sum_delta_single, interaction`` (in ``unit``),
        ``rel_delta_combined, rel_sum_delta_single, rel_interaction``
        (divided by the baseline; NaN for a zero baseline),
        ``interaction_share`` (interaction / sum of single deltas: > 0 the
        combined measure goes further than the sum, < 0 it falls short; NaN
        where that sum is zero) and ``effect`` (``reinforcing``, ``counteracting``,
        ``additive``; empty for a zero baseline).

    Raises
    ------
    UserInputError
        A measure is missing, or the measures do not share a baseline.
    """
    keys = [k for k in _keys(changes) if k != "measure"] + ["pollutant"]
    present = list(pd.unique(changes["measure"]))
    for name in (combined, *singles):
        if name not in present:
            raise UserInputError(f"interaction: measure {name!r} not found; allowed: {', '.join(map(str, present))}")

    def part(name):
        d = changes.loc[changes["measure"] == name, [*keys, "unit", "before", "after"]]
        return d.set_index(keys)

    comb = part(combined)
    total = pd.Series(0.0, index=comb.index)
    for s in singles:
        d = part(s).reindex(comb.index)
        same = np.isclose(d["before"], comb["before"], rtol=rtol_baseline, atol=0.0)
        if not same.all():
            bad = comb.index[int(np.flatnonzero(~same)[0])]
            raise UserInputError(f"interaction: measures {combined!r} and {s!r} have different 'before' levels "
                                 f"at {dict(zip(keys, bad, strict=True))}; allowed: one common baseline")
        total = total + (d["after"] - d["before"])
    out = comb.reset_index()
    base = comb["before"].to_numpy()
    dc = (comb["after"] - comb["before"]).to_numpy()
    st = total.to_numpy()
    inter = dc - st
    zero = base == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(zero, np.nan, inter / np.where(zero, 1.0, base))
    out = pd.DataFrame({k: out[k].to_numpy() for k in keys})
    out.insert(1, "measure", combined)
    out.insert(2, "singles", "+".join(singles))
    out["unit"] = comb["unit"].to_numpy()
    out["baseline"] = base
    out["delta_combined"] = dc
    out["sum_delta_single"] = st
    out["interaction"] = inter
    out["rel_delta_combined"] = relative_change(base, base + dc)
    out["rel_sum_delta_single"] = relative_change(base, base + st)
    out["rel_interaction"] = rel
    out["interaction_share"] = elasticity(rel, out["rel_sum_delta_single"], zero_tol=zero_tol)
    out["effect"] = np.select([np.isnan(rel), np.abs(rel) <= additive_tol, rel < 0],
                              ["", "additive", "reinforcing"], default="counteracting")
    out["year"] = out["year"].astype("Int64")
    cols = ["city", "measure", "singles", "pollutant", "year", "unit", "baseline", "delta_combined",
            "sum_delta_single", "interaction", "rel_delta_combined", "rel_sum_delta_single", "rel_interaction",
            "interaction_share", "effect"]
    extra = [k for k in keys if k not in cols]
    return _sort(out)[cols + extra].reset_index(drop=True)


@dataclass
class EnsembleCloud:
    """Per-run co-control points of one scenario and their uncertainty ellipse.

    Attributes
    ----------
    points : pandas.DataFrame
        One row per run: ``run, rel_change_pollutant, rel_change_co2,
        elasticity, quadrant`` (dimensionless).
    mean : numpy.ndarray
        Mean point ``[x, y]`` of the runs with defined coordinates.
    cov : numpy.ndarray
        2 x 2 sample covariance of ``[x, y]`` (ddof = 1).
    level : float
        Probability content of the ellipse (Gaussian assumption).
    scenario, pollutant : str
    year : int
    """

    points: pd.DataFrame
    mean: np.ndarray
    cov: np.ndarray
    level: float
    scenario: str
    pollutant: str
    year: int

    @property
    def chi2(self) -> float:
        """Squared Mahalanobis radius: chi-square quantile with 2 dof."""
        return float(-2.0 * np.log1p(-self.level))  # closed form of chi2.ppf(level, 2)

    def semi_axes(self) -> tuple[float, float, float]:
        """Ellipse semi-axes (major, minor; dimensionless) and angle of the major axis (degrees)."""
        vals, vecs = np.linalg.eigh(self.cov)
        major, minor = np.sqrt(np.maximum(vals[::-1], 0.0) * self.chi2)
        angle = float(np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1])))
        return float(major), float(minor), angle

    def ellipse(self, n: int = 181) -> np.ndarray:
        """Boundary of the ellipse as an ``(n, 2)`` array of ``[x, y]``."""
        t = np.linspace(0.0, 2.0 * np.pi, n)
        vals, vecs = np.linalg.eigh(self.cov)
        circle = np.stack([np.cos(t), np.sin(t)])
        return (self.mean[:, None] + vecs @ (np.sqrt(np.maximum(vals, 0.0) * self.chi2)[:, None] * circle)).T

    def contains(self, xy) -> np.ndarray:
        """Whether points ``(m, 2)`` lie inside the ellipse (Mahalanobis distance)."""
        d = np.atleast_2d(np.asarray(xy, dtype=float)) - self.mean
        return np.einsum("ij,jk,ik->i", d, np.linalg.inv(self.cov), d) <= self.chi2

    def quadrant_shares(self) -> pd.Series:
        """Share of runs in each quadrant (e.g. the probability of synergy, ``III``)."""
        return self.points["quadrant"].value_counts(normalize=True).reindex(list(QUADRANTS), fill_value=0.0)


def ensemble_cloud(long: pd.DataFrame, *, scenario: str, baseline: str = "baseline", pollutant: str = APE,
                   year: int = 2035, weights: pd.DataFrame | None = None, level: float = 0.95,
                   zero_tol: float = DEFAULT_ZERO_TOL) -> EnsembleCloud:
    """Co-control point cloud of an ensemble and its covariance ellipse.

    Parameters
    ----------
    long : pandas.DataFrame
        Long table with an extra ``run`` column: many runs of ``scenario``
        and of ``baseline`` (from the sensitivity work). Runs are paired by
        ``run`` id (one parameter sample, two policies); a baseline with a
        single run serves every run.
    scenario, baseline : str
        The measure and the reference.
    pollutant : str
        ``SO2``, ``NOx``, ``PM2.5`` or ``APE``.
    year : int
        Year of the point.
    weights : pandas.DataFrame, optional
        Pollution-equivalent values for ``APE``.
    level : float
        Probability content of the ellipse; its squared radius is the
        chi-square quantile with 2 degrees of freedom (5.991 for 0.95).
    zero_tol : float
        See :func:`quadrant`.

    Returns
    -------
    EnsembleCloud

    Raises
    ------
    UserInputError
        No ``run`` column, unknown scenario, pollutant or year, fewer than
        three runs with defined coordinates.
    """
    if "run" not in long.columns:
        raise UserInputError("ensemble: column 'run' missing; allowed: a long table with one 'run' id per run")
    if not 0.0 < level < 1.0:
        raise UserInputError(f"ensemble: level {level!r} not allowed; allowed: 0 < level < 1")
    scenarios = list(pd.unique(long["scenario"]))
    if scenario not in scenarios or scenario == baseline:
        raise UserInputError(f"ensemble: column 'scenario': no scenario {scenario!r}; allowed: "
                             f"{', '.join(s for s in scenarios if s != baseline)}")
    sub = long[long["scenario"].isin([scenario, baseline]) & (long["year"] == year)]
    if sub.empty:
        years = sorted(long["year"].unique())
        raise UserInputError(f"ensemble: column 'year': no {year!r}; allowed: {years[0]}-{years[-1]}")
    table = synergy_table(model_changes(sub, baseline=baseline, weights=weights), zero_tol=zero_tol)
    pts = table[(table["measure"] == scenario) & (table["pollutant"] == pollutant)]
    if pts.empty:
        raise UserInputError(f"ensemble: pollutant {pollutant!r} not allowed; allowed: "
                             f"{', '.join(pd.unique(table['pollutant']))}")
    pts = pts[["run", "rel_change_pollutant", "rel_change_co2", "elasticity", "quadrant"]].reset_index(drop=True)
    xy = pts[["rel_change_pollutant", "rel_change_co2"]].to_numpy(dtype=float)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) < 3:
        raise UserInputError(f"ensemble: {len(xy)} run(s) with defined coordinates; allowed: at least 3")
    return EnsembleCloud(points=pts, mean=xy.mean(axis=0), cov=np.cov(xy, rowvar=False), level=level,
                         scenario=scenario, pollutant=pollutant, year=int(year))


@dataclass
class SynergyResult:
    """Everything the co-control analysis of one changes table gives, for the selected years.

    Attributes
    ----------
    changes : pandas.DataFrame
        The changes table it was computed from (every year).
    points : pandas.DataFrame
        :func:`synergy_table` of every year (the figures' paths use them all).
    table : pandas.DataFrame
        ``points`` in the selected years (``synergy.csv``).
    cross : pandas.DataFrame
        :func:`cross_elasticity` in the selected years.
    interaction : pandas.DataFrame or None
        :func:`interaction` of every year, when a combined measure and its singles were given.
    years : list of int or None
        The selected years (None: all).
    """

    changes: pd.DataFrame
    points: pd.DataFrame
    table: pd.DataFrame
    cross: pd.DataFrame
    interaction: pd.DataFrame | None
    years: list[int] | None

    def selected(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows of ``df`` in the selected years."""
        return (df if self.years is None else df[df["year"].isin(self.years)]).reset_index(drop=True)


def analyse(changes: pd.DataFrame, *, years: Sequence[int] | None = None,
            combined: str | None = None, singles: Sequence[str] = (),
            zero_tol: float = DEFAULT_ZERO_TOL) -> SynergyResult:
    """Co-control points, cross-elasticities and (optionally) the interaction of a combined measure, at once.

    Parameters
    ----------
    changes : pandas.DataFrame
        A changes table (:func:`model_changes`, :func:`read_measures`, :func:`history_changes`).
    years : sequence of int, optional
        Keep these years in ``table`` and ``cross`` (default: every year).
    combined : str, optional
        The combined measure; with ``singles`` (its parts, at least two), :func:`interaction` is computed.
    singles : sequence of str
    zero_tol : float
        A relative change within +-``zero_tol`` is zero (dimensionless).

    Returns
    -------
    SynergyResult
    """
    if not (np.isfinite(zero_tol) and zero_tol >= 0):
        raise UserInputError(f"zero_tol {zero_tol!r}: not allowed; allowed: a number >= 0")
    yrs = None if years is None else [int(y) for y in years]
    points = synergy_table(changes, zero_tol=zero_tol)
    pick = (lambda df: df) if yrs is None else (lambda df: df[df["year"].isin(yrs)])
    inter = None
    if combined is not None:
        inter = interaction(changes, combined=combined, singles=tuple(singles), zero_tol=zero_tol)
    return SynergyResult(changes=changes, points=points, table=pick(points).reset_index(drop=True),
                         cross=pick(cross_elasticity(changes, zero_tol=zero_tol)).reset_index(drop=True),
                         interaction=inter, years=yrs)
