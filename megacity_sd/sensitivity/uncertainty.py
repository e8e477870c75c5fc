"""What is uncertain: scenarios/uncertainty.yaml as distributions and a SALib problem, narrowed by calibration."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import UserInputError
from ..io import read_yaml_mapping, validation_error
from ..model import MODEL_PATH, canonical, check_constant, model_doc, resource_dir
from ..scenario import Number, Scenario

__all__ = [
    "DISTRIBUTIONS",
    "UNCERTAINTY_FILE",
    "Uncertainty",
    "UncertaintySet",
    "load_uncertainty",
    "apply_calibration",
]


DISTRIBUTIONS = ("uniform", "triangular", "truncnorm")


UNCERTAINTY_FILE = resource_dir("scenarios") / "uncertainty.yaml"


_SALIB_DIST = {"uniform": "unif", "triangular": "triang", "truncnorm": "truncnorm"}


class _ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    distribution: Literal["uniform", "triangular", "truncnorm"] = "uniform"
    bounds: tuple[Number, Number] | None = None
    relative: Number | None = None
    mode: Number | None = None
    mean: Number | None = None
    sd: Number | None = None
    source: str


class _UncertaintyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    title: str | None = None
    description: str = ""
    parameters: list[_ParamSpec]


@dataclass(frozen=True)
class Uncertainty:
    """One uncertain model constant.

    Attributes
    ----------
    name : str
        Model name of the constant.
    distribution : {"uniform", "triangular", "truncnorm"}
    lower, upper : float
        Range (truncation bounds of ``truncnorm``), in the constant's units.
    nominal : float
        The value in the resolved scenario (city and scenario files, else the
        model default): the base of one-at-a-time runs.
    mode : float or None
        Peak of ``triangular``.
    mean, sd : float or None
        Mean and standard deviation of ``truncnorm`` before truncation.
    units : str
    source : str
        Why this range.
    origin : str
        ``"file"``, ``"model range"`` or ``"calibration <file>"``.
    """

    name: str
    distribution: str
    lower: float
    upper: float
    nominal: float
    mode: float | None = None
    mean: float | None = None
    sd: float | None = None
    units: str = ""
    source: str = ""
    origin: str = "file"

    def salib(self) -> tuple[str, list[float]]:
        """SALib's distribution name and its ``bounds`` entry."""
        if self.distribution == "uniform":
            return "unif", [self.lower, self.upper]
        if self.distribution == "triangular":
            # SALib takes the peak as a fraction of the width and refuses exactly 1 (a peak at the upper
            # bound, which a calibration estimate on its bound gives): 1 - 1e-12 is the same distribution
            c = min((self.mode - self.lower) / (self.upper - self.lower), 1.0 - 1e-12)
            return "triang", [self.lower, self.upper, c]
        return "truncnorm", [self.lower, self.upper, self.mean, self.sd]

    def ppf(self, q) -> np.ndarray:
        """Quantiles of the distribution, as SALib scales its samples (scipy.stats)."""
        from scipy import stats

        q = np.atleast_1d(np.asarray(q, dtype=float))
        dist, b = self.salib()
        if dist == "unif":
            return q * (self.upper - self.lower) + self.lower
        if dist == "triang":
            return stats.triang.ppf(q, c=b[2], scale=b[1] - b[0], loc=b[0])
        return stats.truncnorm.ppf(q, (b[0] - b[2]) / b[3], (b[1] - b[2]) / b[3], loc=b[2], scale=b[3])


@dataclass
class UncertaintySet:
    """The uncertain parameters of one analysis.

    Attributes
    ----------
    name, title : str
    parameters : tuple of Uncertainty
    files : list of Path
        The uncertainty file and any calibration file applied.
    """

    name: str
    title: str
    parameters: tuple[Uncertainty, ...]
    files: list[Path] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def problem(self, outputs: Sequence[str] | None = None):
        """The SALib problem: names, bounds, distributions (and output names).

        Returns
        -------
        SALib.ProblemSpec
        """
        from SALib import ProblemSpec

        dists, bounds = zip(*(p.salib() for p in self.parameters), strict=True)
        spec = {"names": self.names, "bounds": [list(b) for b in bounds], "dists": list(dists)}
        if outputs is not None:
            spec["outputs"] = list(outputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ProblemSpec(spec)

    def table(self) -> pd.DataFrame:
        """One row per parameter: distribution, range, nominal value, units, source, origin."""
        return pd.DataFrame([p.__dict__ for p in self.parameters])


def _read_yaml(path: Path, schema, what: str):
    data = read_yaml_mapping(path, f"({what})")
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        raise validation_error(path, err, f"unknown key; allowed: {what}") from None


_PARAM_KEYS = ("name, distribution (uniform, triangular, truncnorm), bounds [low, high] or relative r, "
               "mode, mean, sd, source")


def load_uncertainty(path: str | Path | None = None, *, scenario: Scenario | None = None,
                     calibration: str | Path | bool = True, mdl_path: str | Path = MODEL_PATH) -> UncertaintySet:
    """Read the uncertain parameters and resolve their ranges for a scenario.

    Parameters
    ----------
    path : str or Path, optional
        The uncertainty file (default: ``scenarios/uncertainty.yaml``).
    scenario : Scenario, optional
        Resolved scenario (city and scenario constants) giving the nominal
        values (default: the model's defaults).
    calibration : bool or path
        ``True``: where the scenario carries confidence intervals of
        calibrated constants (``scenarios/calibrated/<city>.yaml``, applied by
        :func:`~megacity_sd.scenario.load_scenario`), they replace the ranges
        of those parameters (:func:`apply_calibration`); a path: take the
        intervals from that calibrated file; ``False``: the file's ranges only.
    mdl_path : str or Path
        The model whose names and ranges the file is checked against.

    Returns
    -------
    UncertaintySet

    Raises
    ------
    UserInputError
        Missing or malformed file, unknown key, a name that is not a model
        constant (or is a policy lever, or is listed twice), a range outside
        the model's ``[min,max]`` or empty, a missing mode/mean/sd.
    """
    path = Path(path) if path is not None else UNCERTAINTY_FILE
    spec = _read_yaml(path, _UncertaintyFile, "name, title, description, parameters (a list of: "
                      + _PARAM_KEYS + ")")
    doc = model_doc(Path(mdl_path))
    nominal_of = {k: v.value for k, v in doc.items() if v.kind == "constant"}
    for k, v in (scenario.constants if scenario is not None else {}).items():
        nominal_of[canonical(k)] = float(v)
    if not spec.parameters:
        raise UserInputError(f"{path}: key 'parameters': empty; allowed: at least two uncertain parameters")
    out, seen = [], set()
    for i, p in enumerate(spec.parameters):
        where = f"{path}: key 'parameters.{i}.{{}}' ({p.name})"
        var = check_constant(p.name, where=where.format("name"), mdl_path=mdl_path)
        if var.sector == "Policy":
            raise UserInputError(where.format("name") + ": a policy constant; allowed: constants outside the "
                                 "Policy sector (levers and baseline paths belong in scenario and city files)")
        if var.name in seen:
            raise UserInputError(where.format("name") + ": listed twice")
        seen.add(var.name)
        lim = var.limits or (-math.inf, math.inf)
        nominal = float(nominal_of[canonical(var.name)])
        origin = "file"
        if p.bounds is not None and p.relative is not None:
            raise UserInputError(where.format("relative") + ": give bounds or relative, not both")
        if p.relative is not None:
            if not 0 < p.relative < 1:
                raise UserInputError(where.format("relative") + f": {p.relative:g} not allowed; allowed: 0 < r < 1")
            lo, hi = sorted((nominal * (1 - p.relative), nominal * (1 + p.relative)))
            lo, hi = max(lo, lim[0]), min(hi, lim[1])
        elif p.bounds is not None:
            lo, hi = float(p.bounds[0]), float(p.bounds[1])
            if not (lim[0] <= lo and hi <= lim[1]):
                raise UserInputError(where.format("bounds") + f": [{lo:g}, {hi:g}] outside the model's range; "
                                     f"allowed: within [{lim[0]:g}, {lim[1]:g}] {var.units}")
        else:
            if var.limits is None:
                raise UserInputError(where.format("bounds") + ": the model gives no [min,max]; allowed: bounds")
            lo, hi = lim
            origin = "model range"
        if not lo < hi:
            raise UserInputError(where.format("bounds") + f": empty range [{lo:g}, {hi:g}]; allowed: low < high")
        mode = mean = sd = None
        if p.distribution == "triangular":
            mode = float(p.mode) if p.mode is not None else nominal
            if not lo <= mode <= hi:
                raise UserInputError(where.format("mode") + f": {mode:g} outside [{lo:g}, {hi:g}]")
            if hi < 0:
                raise UserInputError(where.format("bounds") + ": triangular needs an upper bound >= 0 (SALib)")
        elif p.distribution == "truncnorm":
            mean = float(p.mean) if p.mean is not None else nominal
            if p.sd is None or not p.sd > 0:
                raise UserInputError(where.format("sd") + ": truncnorm needs sd > 0")
            sd = float(p.sd)
        for k in ("mode", "mean", "sd"):
            if getattr(p, k) is not None and not (k == "mode" and p.distribution == "triangular") \
                    and not (k in ("mean", "sd") and p.distribution == "truncnorm"):
                raise UserInputError(where.format(k) + f": not used by {p.distribution}; allowed: mode for "
                                     "triangular, mean and sd for truncnorm")
        out.append(Uncertainty(var.name, p.distribution, lo, hi, nominal, mode, mean, sd, var.units, p.source,
                               origin))
    if len(out) < 2:
        raise UserInputError(f"{path}: key 'parameters': one parameter; allowed: at least two")
    unc = UncertaintySet(spec.name, spec.title or spec.name, tuple(out), [path])
    if calibration is True and scenario is not None and scenario.intervals:
        cal_files = [f for f in scenario.files if f.parent.name == "calibrated"]
        label = f"calibration {cal_files[-1].name}" if cal_files else "calibration"
        unc = apply_calibration(unc, scenario.intervals, estimates=scenario.constants, label=label,
                                mdl_path=mdl_path)
    elif calibration not in (True, False):
        from ..scenario import read_scenario_file

        cal_path = Path(calibration)
        spec_cal = read_scenario_file(cal_path)
        intervals = {k: tuple(v.ci) for k, v in spec_cal.constants.items() if getattr(v, "ci", None) is not None}
        estimates = {k: float(getattr(v, "value", v)) for k, v in spec_cal.constants.items()}
        unc = apply_calibration(unc, intervals, estimates=estimates, label=f"calibration {cal_path.name}",
                                mdl_path=mdl_path)
        unc.files.append(cal_path)
    return unc


def apply_calibration(unc: UncertaintySet, intervals: Mapping[str, tuple[float, float]], *,
                      estimates: Mapping[str, float] | None = None, level: float = 0.95, label: str = "calibration",
                      mdl_path: str | Path = MODEL_PATH) -> UncertaintySet:
    """Replace ranges by a calibration's confidence intervals (the calibration hook).

    ``megacity-sd calibrate`` writes ``scenarios/calibrated/<city>.yaml`` with a
    ``ci: [low, high]`` beside each estimated constant; :func:`load_scenario`
    applies the estimates after the city file and keeps the intervals in
    ``Scenario.intervals``, which :func:`load_uncertainty` passes here.

    For every parameter that is both uncertain and calibrated: ``uniform``
    takes the interval as its bounds; ``triangular`` the interval as bounds and
    the estimate as mode; ``truncnorm`` the estimate as mean, the interval's
    half-width over the normal quantile of ``level`` as sd, and bounds of
    +-3 sd. Everything is clipped to the model's ``[min,max]``. Calibrated
    constants that are not in the uncertainty file are not made uncertain.

    Parameters
    ----------
    unc : UncertaintySet
    intervals : mapping of str to (float, float)
        Confidence interval of each calibrated constant (model names).
    estimates : mapping of str to float, optional
        Point estimates (default: the interval's midpoint).
    level : float
        Confidence level of the intervals.
    label : str
        Recorded in ``origin``.

    Returns
    -------
    UncertaintySet
    """
    from scipy.stats import norm

    doc = model_doc(Path(mdl_path))
    ci = {canonical(k): (float(min(v)), float(max(v))) for k, v in intervals.items()}
    est_of = {canonical(k): float(v) for k, v in (estimates or {}).items()}
    params = []
    for p in unc.parameters:
        key = canonical(p.name)
        if key not in ci:
            params.append(p)
            continue
        lim = doc[key].limits or (-math.inf, math.inf)
        lo, hi = ci[key]
        est = est_of.get(key, (lo + hi) / 2)
        if not (lo <= est <= hi and lo < hi):
            raise UserInputError(f"{label}: '{p.name}': interval [{lo:g}, {hi:g}] empty or without the estimate "
                                 f"{est:g}; allowed: low < estimate < high")
        kw: dict = {"origin": label, "source": f"{label}: {round(100 * level)} % confidence interval",
                    "nominal": est}
        if p.distribution == "truncnorm":
            sd = (hi - lo) / 2 / norm.ppf(0.5 + level / 2)
            kw.update(mean=est, sd=sd, lower=max(lim[0], est - 3 * sd), upper=min(lim[1], est + 3 * sd))
        else:
            kw.update(lower=max(lim[0], lo), upper=min(lim[1], hi))
            if p.distribution == "triangular":
                kw.update(mode=est)
        params.append(replace(p, **kw))
    return UncertaintySet(unc.name, unc.title, tuple(params), list(unc.files))
