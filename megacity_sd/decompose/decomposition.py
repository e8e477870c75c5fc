"""Decompositions of history, of a run between two years, and of a scenario against another in one year; the
long table and its notes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .identities import FACTORS, POLLUTANTS, Identity, history_cities, history_identity, model_identity
from .lmdi import FORMS, ZERO_STRATEGIES, _multiplicative, term_effects

__all__ = [
    "COLUMNS",
    "TERM_COLUMNS",
    "Decomposition",
    "decompose_history",
    "decompose_run",
    "decompose_against",
]


#: Columns of the decomposition table.
COLUMNS = ["city", "scenario", "pollutant", "period", "factor", "effect", "unit"]


#: Columns of the term (sector and fuel) table of an additive decomposition.
TERM_COLUMNS = ["city", "scenario", "pollutant", "period", "sector", "fuel", "factor", "effect", "unit"]


@dataclass
class Decomposition:
    """The result of one decomposition.

    Attributes
    ----------
    city, scenario, pollutant, period, form, unit : str
        ``unit`` is the pollutant's (additive) or ``dmnl`` (multiplicative).
    start, end : float
        The aggregate in the first and last state, in the pollutant's unit.
    effects : pandas.Series
        One effect per factor (sum to end - start, or multiply to end / start).
    terms : pandas.DataFrame
        Additive effects by term: index (sector, fuel), one column per factor
        (sums over the rows give ``effects`` in the additive form).
    notes : list of str
    zero_steps : int
        Term-steps where a zero was handled by the limit of the small-value strategy.
    """

    city: str
    scenario: str
    pollutant: str
    period: str
    form: str
    unit: str
    start: float
    end: float
    effects: pd.Series
    terms: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    zero_steps: int = 0

    @property
    def total(self) -> float:
        """The observed change: end - start (additive) or end / start (multiplicative)."""
        return self.end - self.start if self.form == "additive" else self.end / self.start

    def table(self) -> pd.DataFrame:
        """Tidy rows (:data:`COLUMNS`): one per factor, then ``total``."""
        rows = [(f, float(v)) for f, v in self.effects.items()] + [("total", self.total)]
        df = pd.DataFrame(rows, columns=["factor", "effect"])
        for col in ("city", "scenario", "pollutant", "period"):
            df[col] = getattr(self, col)
        df["unit"] = self.unit
        return df[COLUMNS]

    def terms_table(self) -> pd.DataFrame:
        """Tidy additive effects by sector, fuel and factor (:data:`TERM_COLUMNS`)."""
        long = self.terms.rename_axis(columns="factor").stack().rename("effect").reset_index()
        for col in ("city", "scenario", "pollutant", "period"):
            long[col] = getattr(self, col)
        long["unit"] = POLLUTANTS[self.pollutant][1] if self.pollutant in POLLUTANTS else self.unit
        return long[TERM_COLUMNS]


def _order(names) -> list[str]:
    known = [f for f in FACTORS if f in names]
    return known + [n for n in names if n not in known]


def _step(ident0: Identity, y0: int, ident1: Identity, y1: int, zero: str, delta: float):
    """Additive term effects of one step, merging unavailable factors per ``combine``."""
    x0, v0 = ident0.state(y0)
    x1, v1 = ident1.state(y1)
    missing = [c for c in x0.columns if x0[c].isna().any() or x1[c].isna().any()]
    if missing:
        combine = {**ident0.combine, **ident1.combine}
        groups = [(name, members) for name, members in combine.items() if set(members) & set(missing)]
        covered = set().union(*(set(m) for _, m in groups)) if groups else set()
        if not set(missing) <= covered:
            raise ValueError(f"factor(s) {sorted(set(missing) - covered)} missing in {y0} or {y1} and not combinable")
        for name, members in groups:
            others = [c for c in x0.columns if c not in members]
            parts = []
            for x, v in ((x0, v0), (x1, v1)):
                den = x[others].prod(axis=1)
                parts.append(pd.Series(np.divide(v.to_numpy(), den.to_numpy(), out=np.zeros(len(v)),
                                                 where=den.to_numpy() != 0), index=x.index))
            x0 = x0.drop(columns=list(members)).assign(**{name: parts[0]})
            x1 = x1.drop(columns=list(members)).assign(**{name: parts[1]})
    eff = term_effects(x0, x1, zero=zero, delta=delta)
    zeros = int(((x0 == 0).any(axis=1) | (x1 == 0).any(axis=1)).sum())
    return eff, zeros


def _decompose(steps, idents, *, city, scenario, period, form, zero, delta, notes) -> Decomposition:
    ident0 = idents[0]
    effects, zeros = [], 0
    for (i0, y0), (i1, y1) in steps:
        eff, z = _step(idents[i0], y0, idents[i1], y1, zero, delta)
        effects.append(eff)
        zeros += z
    cols = _order(list(dict.fromkeys(c for e in effects for c in e.columns)))
    terms = sum((e.reindex(columns=cols, fill_value=0.0) for e in effects[1:]),
                effects[0].reindex(columns=cols, fill_value=0.0))
    (i_first, y_first), (i_last, y_last) = steps[0][0], steps[-1][1]
    start = float(idents[i_first].values.xs(y_first, level="year").sum())
    end = float(idents[i_last].values.xs(y_last, level="year").sum())
    if form == "additive":
        eff = terms.sum(axis=0)
    else:
        # chained: ln D_k = sum over steps of dV_k,step / L(V_step^T, V_step^0)
        logs = []
        for ((i0, y0), (i1, y1)), e in zip(steps, effects, strict=True):
            a = float(idents[i0].values.xs(y0, level="year").sum())
            b = float(idents[i1].values.xs(y1, level="year").sum())
            logs.append(np.log(_multiplicative(e.sum(axis=0), a, b)).reindex(cols, fill_value=0.0))
        eff = np.exp(sum(logs[1:], logs[0]))
    info = idents[-1].terms
    terms.index = pd.MultiIndex.from_arrays([info.loc[terms.index, "sector"], info.loc[terms.index, "fuel"]],
                                            names=["sector", "fuel"])
    n = len(steps)
    method = (f"LMDI-I {form} (Ang 2004, 2005)" + (f", chained over {n} yearly steps (effects "
              + ("summed" if form == "additive" else "multiplied") + ")" if n > 1 else ", one step"))
    all_notes = [method + ": exact, the factor effects " + ("sum to the change" if form == "additive" else
                                                             "multiply to the ratio")]
    if zeros:
        all_notes.append(f"zero values in {zeros} term-step(s): "
                         + ("limit of the small-value strategy (Ang & Liu 2007), computed analytically" if
                            zero == "limit" else f"small-value strategy with delta = {delta:g}"))
    all_notes += list(dict.fromkeys(notes + [n for i in idents for n in i.notes]))
    unit = ident0.unit if form == "additive" else "dmnl"
    return Decomposition(city, scenario, ident0.pollutant, period, form, unit, start, end, eff[cols], terms,
                         all_notes, zeros)


def _check_form(form: str, zero: str) -> None:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, not {form!r}")
    if zero not in ZERO_STRATEGIES:
        raise ValueError(f"zero must be one of {ZERO_STRATEGIES}, not {zero!r}")


def _chain_steps(years: list[int], start: int, end: int, what: str) -> list:
    if start >= end:
        raise ValueError(f"start year {start} must be before end year {end}")
    for y in (start, end):
        if y not in years:
            raise ValueError(f"year {y} is not a year of {what}; allowed: {years[0]}-{years[-1]}")
    span = [y for y in years if start <= y <= end]
    return [((0, a), (0, b)) for a, b in zip(span[:-1], span[1:], strict=True)]


def decompose_history(city: str, start: int, end: int, *, breakdown: str = "sector", form: str = "additive",
                      zero: str = "limit", delta: float = 1e-10) -> Decomposition:
    """Decompose a city's historical CO2 change (CEADs) from ``start`` to ``end``, chained yearly.

    Parameters
    ----------
    city : str
        One of :func:`history_cities`.
    start, end : int
        Years, start < end, both in :func:`history_years`.
    breakdown : {"sector", "fuel"}
    form : {"additive", "multiplicative"}
    zero, delta
        Zero strategy, see :func:`term_effects`.

    Returns
    -------
    Decomposition
        Scenario ``history``, period ``"start-end"``.
    """
    _check_form(form, zero)
    if city not in history_cities():
        raise ValueError(f"no CO2 inventory by sector and fuel on file for {city!r}; allowed: "
                         f"{', '.join(history_cities())}")
    ident = history_identity(city, breakdown=breakdown)
    steps = _chain_steps(ident.years, start, end, f"the {city} inventory")
    return _decompose(steps, [ident], city=city, scenario="history", period=f"{start}-{end}", form=form,
                      zero=zero, delta=delta, notes=[])


def decompose_run(wide: pd.DataFrame, start: int, end: int, *, city: str, scenario: str,
                  constants: dict[str, float] | None = None, pollutant: str = "CO2", breakdown: str = "full",
                  scope: str = "1", form: str = "additive", zero: str = "limit",
                  delta: float = 1e-10) -> Decomposition:
    """Decompose the change of a model run from ``start`` to ``end``, chained yearly.

    Parameters
    ----------
    wide : pandas.DataFrame
        The run (years x variables).
    start, end : int
        Years of the run, start < end.
    city, scenario : str
        Labels.
    constants : dict, optional
        The run's constant overrides (``Scenario.constants``).
    pollutant, breakdown, scope
        See :func:`model_identity`.
    form, zero, delta
        See :func:`lmdi`.

    Returns
    -------
    Decomposition
        Period ``"start-end"``.
    """
    _check_form(form, zero)
    ident = model_identity(wide, constants, pollutant=pollutant, breakdown=breakdown, scope=scope)
    steps = _chain_steps(ident.years, start, end, "the model run")
    return _decompose(steps, [ident], city=city, scenario=scenario, period=f"{start}-{end}", form=form,
                      zero=zero, delta=delta, notes=[])


def decompose_against(base: pd.DataFrame, other: pd.DataFrame, year: int, *, city: str, scenario: str,
                      baseline: str = "baseline", base_constants: dict[str, float] | None = None,
                      constants: dict[str, float] | None = None, pollutant: str = "CO2", breakdown: str = "full",
                      scope: str = "1", form: str = "additive", zero: str = "limit",
                      delta: float = 1e-10) -> Decomposition:
    """Decompose the difference between a scenario and the baseline in one year.

    One LMDI step from the baseline's state in ``year`` (state 0) to the
    scenario's (state T): why the scenario ends where it does against the
    baseline (LMDI between two entities, as in cross-region comparisons).

    Parameters
    ----------
    base, other : pandas.DataFrame
        The baseline run and the scenario run.
    year : int
        A year of both runs.
    city, scenario, baseline : str
        Labels; the table's scenario is ``"<scenario>_vs_<baseline>"``.
    base_constants, constants : dict, optional
        Constant overrides of each run.
    pollutant, breakdown, scope, form, zero, delta
        As in :func:`decompose_run`.

    Returns
    -------
    Decomposition
        Period ``"<year>"``; start = baseline, end = scenario.
    """
    _check_form(form, zero)
    i0 = model_identity(base, base_constants, pollutant=pollutant, breakdown=breakdown, scope=scope)
    i1 = model_identity(other, constants, pollutant=pollutant, breakdown=breakdown, scope=scope)
    if year not in i0.years or year not in i1.years:
        raise ValueError(f"year {year} is not a year of the runs; allowed: {i0.years[0]}-{i0.years[-1]}")
    note = f"{scenario} against {baseline} in {year}: one LMDI step from the baseline's state to the scenario's"
    return _decompose([((0, year), (1, year))], [i0, i1], city=city, scenario=f"{scenario}_vs_{baseline}",
                      period=str(year), form=form, zero=zero, delta=delta, notes=[note])
