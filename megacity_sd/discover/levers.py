"""The lever space: each policy lever of the model as a range from the city's baseline level to the model's maximum;
Latin hypercube samples of the levers and the uncertain parameters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserInputError, suggest
from ..model import MODEL_PATH, canonical, model_doc

__all__ = [
    "Lever",
    "levers",
    "lever_by_name",
    "sample",
]


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
        One per target of a lever family with a baseline path
        (:func:`megacity_sd.levers.lever_families`, the rule of ``megacity-sd
        scenarios`` and the explorer), from the city's baseline level to the
        model's maximum, leaving out a lever whose baseline level is already at
        its maximum (within 0.1 % of its range). The baseline level is the
        lowest value of the model's ``<lever> baseline path`` from the lever's
        start year to the end of the run (:func:`megacity_sd.levers.baseline_levels`,
        one run): the model's ``path + MAX(0, target - path) * phase`` then
        leaves the path exactly as it is at that level (a lever at its
        baseline level is no policy).
    """
    from ..levers import baseline_levels, lever_families

    doc = model_doc(Path(mdl_path))
    lows = baseline_levels(base, mdl_path=mdl_path)
    out = []
    for fam in lever_families(mdl_path):
        for lv in fam["levers"]:
            v = doc[canonical(lv["name"])]
            if lv["role"] != "target" or v.limits is None or v.name not in lows:
                continue
            low = max(lows[v.name], v.limits[0])
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
