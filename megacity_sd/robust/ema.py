"""The model as an EMA Workbench ``Model`` (levers, uncertainties, indicators and targets declared) and an evaluator
that runs EMA's experiments as one batch of the fast engine."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..discover import levers
from ..indicators import INDICATORS, Indicator
from ..targets import TargetSet, evaluate, indicator_values, series_variables

__all__ = [
    "ema_model",
    "BatchEvaluator",
]


def _not_reached_as_after_window(vals: np.ndarray, years, series, indicators: list[Indicator]) -> np.ndarray:
    """``vals`` with a ``first_below`` year that is never reached (NaN) replaced by the year after its window.

    Only in runs whose series are complete: a run with a missing value keeps NaN everywhere (it failed).
    """
    out = np.array(vals, dtype=float, copy=True)
    ok = np.ones(out.shape[0], dtype=bool)
    for a in series.values():
        ok &= np.isfinite(np.asarray(a, dtype=float).reshape(out.shape[0], -1)).all(axis=1)
    for k, ind in enumerate(indicators):
        if ind.reduction == "first_below":
            after = (int(ind.end) if ind.end is not None else int(np.max(years))) + 1
            out[np.isnan(out[:, k]) & ok, k] = after
    return out


class ModelFunction:
    """The model as a function of levers and uncertain parameters (picklable, for EMA's evaluators).

    Every outcome is a number for every run that completes: a year indicator
    of the ``first_below`` kind (``year CO2 below 10% of 2019`` ...) whose
    threshold is not reached within its window is returned as the year after
    the window, ``end + 1`` (2061: "not by 2060"), not NaN. An analyst reads it
    as "later than any year in the window" (it sorts after every reached year,
    and a minimised objective pushes towards reaching it), and EMA's feature
    scoring, PRIM and optimisers, which refuse NaN, can use it. NaN remains
    only for a run whose model output has missing values (a failed run).

    Parameters
    ----------
    base : dict
        Constants of the base scenario (city, calibration, scenario).
    indicators : list of Indicator
        Outcomes.
    targets : TargetSet, optional
        Adds one outcome per target (1 met, 0 not) and ``targets met``.
    engine : str
    effort_levers : list of Lever, optional
        Adds the outcome ``effort``: the weighted sum of each lever's
        normalised distance from the city's baseline level (as ``seek``).
    weights : sequence of float, optional
        Weights of ``effort_levers`` (default 1 each).
    """

    def __init__(self, base: dict[str, float], indicators: list[Indicator], targets: TargetSet | None = None,
                 engine: str = "fast", effort_levers=None, weights=None):
        self.base = dict(base)
        self.indicators = list(indicators)
        self.targets = targets
        self.engine = engine
        self.effort_levers = list(effort_levers or [])
        self.weights = np.ones(len(self.effort_levers)) if weights is None else np.asarray(weights, dtype=float)

    @property
    def outcome_names(self) -> list[str]:
        names = [i.name for i in self.indicators]
        if self.effort_levers:
            names.append("effort")
        if self.targets is not None:
            names += [f"meets: {t}" for t in self.targets.names] + ["targets met"]
        return names

    def effort(self, params: pd.DataFrame) -> np.ndarray:
        """Weighted effort of each row of ``params`` (levers absent from it: at their baseline level)."""
        total = np.zeros(len(params))
        for lv, w in zip(self.effort_levers, self.weights, strict=True):
            if lv.name in params.columns:
                total += w * lv.effort(params[lv.name].to_numpy(dtype=float))
        return total

    def batch(self, params: pd.DataFrame) -> dict[str, np.ndarray]:
        """Outcomes of every row of ``params`` (model constants), one vectorised run."""
        from ..simulate import run_batch

        variables = series_variables(self.indicators + (self.targets.indicators if self.targets else []))
        # the engines silence their known, harmless warnings (engines.KNOWN_WARNINGS); others reach the user
        years, series = run_batch(self.engine, params.reset_index(drop=True), self.base, variables)
        vals = _not_reached_as_after_window(indicator_values(years, series, self.indicators), years, series,
                                            self.indicators)
        out = {ind.name: vals[:, k] for k, ind in enumerate(self.indicators)}
        if self.effort_levers:
            out["effort"] = self.effort(params.reset_index(drop=True))
        if self.targets is not None:
            _, met = evaluate(self.targets, years, series)
            out.update({f"meets: {t}": met[t].to_numpy(dtype=float) for t in self.targets.names})
            out["targets met"] = met["all targets"].to_numpy(dtype=float)
        return out

    def __call__(self, **kwargs) -> dict[str, float]:
        out = self.batch(pd.DataFrame([{k: float(v) for k, v in kwargs.items()}]))
        return {k: float(v[0]) for k, v in out.items()}


def ema_model(city: str = "shanghai", *, scenario: str = "baseline", targets: TargetSet | None = None,
              uncertain: bool = True, uncertainty_file=None, name: str = "megacity", engine: str = "fast",
              objectives=None, weights=None):
    """The model as an EMA Workbench ``Model``: levers, uncertainties and outcomes declared.

    Parameters
    ----------
    city : str
        City name or YAML file.
    scenario : str
        Base scenario the levers are set on (start years, phase-in times).
    targets : TargetSet, optional
        Adds the targets' indicators and a 0/1 outcome per target and for all.
    uncertain : bool
        Declare the uncertain parameters of ``scenarios/uncertainty.yaml``
        (as ``RealParameter`` on their ranges: EMA samples them uniformly).
    name : str
        EMA model name.
    objectives : sequence of str, optional
        The outcomes to minimise (the others are ``INFO``), e.g. ``("effort",
        "CO2 in 2060", "PM2.5 in 2035")``; ``effort`` adds the weighted lever
        effort as an outcome. Default: the CO2 and PM2.5 indicators.
    weights : sequence of float, optional
        Lever weights of ``effort`` (in the order of the levers).

    Returns
    -------
    ema_workbench.Model
        Levers: :func:`megacity_sd.discover.levers` (``RealParameter`` from the
        city's baseline level to the maximum); uncertainties as above; outcomes:
        every indicator of :data:`megacity_sd.indicators.INDICATORS` (CO2 and
        PM2.5 outcomes to be minimised), the targets' indicators and, with
        targets, ``meets: <target>`` and ``targets met``. Each experiment runs
        the fast engine on the base scenario's constants; :class:`BatchEvaluator`
        runs all experiments as one batch. A ``year ... below ...`` outcome
        never reached within its window is the year after it (2061 for
        ``year CO2 below 10% of 2019``), not NaN (see :class:`ModelFunction`),
        so that ``ema_workbench.analysis.feature_scoring.get_feature_scores_all``
        takes the outcomes as they are.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench import Model, RealParameter, ScalarOutcome

    from ..scenario import load_scenario
    from ..sensitivity import load_uncertainty

    base = load_scenario(scenario, city=city)
    inds = list(INDICATORS)
    if targets is not None:
        have = {i.name for i in inds}
        inds += [i for i in targets.indicators if i.name not in have]
    all_levers = levers(base.constants)
    objectives = None if objectives is None else list(objectives)
    fn = ModelFunction(base.constants, inds, targets, engine,
                       effort_levers=all_levers if objectives and "effort" in objectives else None, weights=weights)
    unknown = sorted(set(objectives or []) - set(fn.outcome_names))
    if unknown:
        from ..errors import UserInputError, suggest

        raise UserInputError(f"objective '{unknown[0]}': not an outcome{suggest(unknown[0], fn.outcome_names)}; "
                             f"allowed: {', '.join(fn.outcome_names)}")
    model = Model(name, function=fn)
    model.levers = [RealParameter(lv.name, lv.low, lv.high) for lv in all_levers]
    if uncertain:
        unc = load_uncertainty(uncertainty_file, scenario=base)
        model.uncertainties = [RealParameter(p.name, p.lower, p.upper) for p in unc.parameters]
    kinds = {}
    for i in inds:
        kinds[i.name] = ScalarOutcome.MINIMIZE if ("CO2" in i.name or "PM2.5" in i.name or "pollutant" in i.name) \
            and i.unit != "year" else ScalarOutcome.INFO
    if objectives is not None:
        kinds = {n: ScalarOutcome.MINIMIZE for n in objectives}
    outcomes = [ScalarOutcome(n, kind=kinds.get(n, ScalarOutcome.INFO)) for n in fn.outcome_names]
    if targets is not None and objectives is None:
        outcomes[-1] = ScalarOutcome("targets met", kind=ScalarOutcome.MAXIMIZE)
    model.outcomes = outcomes
    return model


def _evaluator_base():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.em_framework.evaluators import BaseEvaluator
    return BaseEvaluator


class BatchEvaluator(_evaluator_base()):
    """An EMA evaluator that runs all experiments of a model as one vectorised batch of the fast engine.

    Use like EMA's ``SequentialEvaluator``::

        with BatchEvaluator(model) as ev:
            experiments, outcomes = ev.perform_experiments(scenarios=100, policies=10)

    Works for models made by :func:`ema_model` (their function has a ``batch`` method). Scenarios and
    policies reach the model as EMA's own evaluators pass them (``AbstractModel._transform``): each
    uncertainty and lever sets the model variables of its ``variable_name`` (one or several; the name
    itself unless given), a parameter missing from the point takes its ``default`` where it has one, and
    keys of a point that are not parameters of the model are dropped (all kept if the model declares
    none); constants are added by name.
    """

    def initialize(self):
        pass

    def finalize(self):
        pass

    def evaluate_experiments(self, scenarios, policies, callback, combine="factorial", **kwargs):
        from ema_workbench.em_framework.points import experiment_generator
        from ema_workbench.em_framework.util import combine as combine_inputs

        experiments = list(experiment_generator(scenarios, self._msis, policies, combine=combine))
        models = {m.name: m for m in self._msis}
        for mname in dict.fromkeys(e.model_name for e in experiments):
            model = models[mname]
            group = [e for e in experiments if e.model_name == mname]
            const = {c.name: c.value for c in getattr(model, "constants", [])}
            # EMA refuses a variable set by two of scenario, policy and constants (EMAError), as here
            rows = [combine_inputs(_model_inputs(e.scenario, model.uncertainties),
                                   _model_inputs(e.policy, model.levers), const) for e in group]
            params = pd.DataFrame(rows)
            out = model.function.batch(params)
            for i, e in enumerate(group):
                raw = {k: float(v[i]) for k, v in out.items()}
                outcomes = {o.name: o.process([raw[v] for v in o.variable_name]) for o in model.outcomes}
                callback(e, outcomes)


def _model_inputs(point, parameters) -> dict:
    """The model variables a scenario or policy sets, as EMA's ``AbstractModel._transform`` (ema_workbench 2.5).

    Each parameter of ``parameters`` present in ``point`` (or with a ``default``) sets every name of its
    ``variable_name``; other keys of ``point`` are dropped. Without parameters, ``point`` as it is.
    """
    if not parameters:
        return dict(point)
    out = {}
    for par in parameters:
        if par.name in point:
            value = point[par.name]
        elif getattr(par, "default", None) is not None:
            value = par.default
        else:
            continue
        multivalue = bool(getattr(par, "multivalue", False))
        for i, var in enumerate(par.variable_name):
            out[var] = value[i] if multivalue else value
    return out
