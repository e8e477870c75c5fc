"""Loop knock-outs: cut each named loop with its switch and report the effect on indicators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserInputError
from ..model import MODEL_PATH
from .graph import NamedLoop, causal_links, configured_model, named_loops

if TYPE_CHECKING:  # annotations only: pandas is imported where tables are made
    import pandas as pd

__all__ = [
    "KNOCKOUT_INDICATORS",
    "knockouts",
]


#: Indicators a knock-out reports (names in :data:`megacity_sd.indicators.INDICATORS`).
KNOCKOUT_INDICATORS = ("CO2 peak year", "cumulative CO2 2021-2060", "PM2.5 in 2035", "population in 2060")


def knockouts(constants: Mapping[str, float] | None = None, *, engine: str = "pysd",
              indicators: Sequence[str] = KNOCKOUT_INDICATORS, mdl_path: str | Path = MODEL_PATH,
              named: Sequence[NamedLoop] | None = None) -> pd.DataFrame:
    """Cut each named loop with its switch and report the effect on indicators.

    Parameters
    ----------
    constants : mapping, optional
        The configuration (city and scenario) the loops are cut in.
    engine : {"pysd", "simlin"}
    indicators : sequence of str
        Names from :data:`megacity_sd.indicators.INDICATORS`.
    named : sequence of NamedLoop, optional
        The named loops (default: found from the model).

    Returns
    -------
    pandas.DataFrame
        Columns ``loop, switch, polarity, indicator, unit, base, knocked_out,
        change, change_pct``.
    """
    import pandas as pd

    from ..indicators import INDICATORS
    from ..simulate import run

    by_name = {i.name: i for i in INDICATORS}
    unknown = [n for n in indicators if n not in by_name]
    if unknown:
        raise UserInputError(f"unknown indicator '{unknown[0]}'; allowed: {', '.join(by_name)}")
    if named is None:
        model = configured_model(None, mdl_path)
        named = named_loops(causal_links(model), mdl_path)
    base_constants = dict(constants or {})
    base = run(base_constants, engine, mdl_path=mdl_path)
    rows = []
    for nl in named:
        cut = run({**base_constants, nl.switch: 0.0}, engine, mdl_path=mdl_path)
        for name in indicators:
            ind = by_name[name]
            b, k = ind(base[ind.variable]), ind(cut[ind.variable])
            pct = 100.0 * (k - b) / b if ind.reduction != "peak_year" and b != 0 else np.nan
            rows.append((nl.name, nl.switch, nl.polarity, name, ind.unit, b, k, k - b, pct))
    return pd.DataFrame(rows, columns=["loop", "switch", "polarity", "indicator", "unit", "base", "knocked_out",
                                       "change", "change_pct"])
