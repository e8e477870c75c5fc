"""The explorer's sliders, read from the model: lever families (target, start year, phase-in time), their units, ranges,
baseline paths and sources; the check of a setting's constants."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from ..errors import UserInputError
from ..levers import is_lever, lever_families
from ..model import MODEL_PATH
from .requests import MAX_CONSTANTS, _short

__all__ = [
    "is_lever",
    "lever_families",
    "check_constants",
]


def check_constants(values: Mapping, *, where: str = "request", prefix: str = "constants",
                    mdl_path: str | Path = MODEL_PATH) -> dict[str, float]:
    """Check constant overrides as a scenario file's ``constants`` are checked.

    Each name and value goes through :func:`megacity_sd.model.check_constant`,
    the rule scenario files follow (a model constant outside the time
    settings, any case or spacing, the value within its Vensim
    ``[min,max]``), with the same messages; this adds what a JSON body needs
    and a YAML file gets from its schema: every value a number (not a
    boolean, text or null), finite, and each constant once.

    Parameters
    ----------
    values : mapping
        Constant name -> value.
    where : str
        What the values come from, for the message (``request``, a file name).
    prefix : str
        The key that holds them, for the message.
    mdl_path : str or Path
        The model whose names and ranges apply.

    Returns
    -------
    dict of str to float
        The values keyed by the model's own names.

    Raises
    ------
    UserInputError
        One line: the key, what is wrong and what is allowed.
    """
    from ..model import check_constant

    if not isinstance(values, Mapping):
        raise UserInputError(f"{where}: key '{prefix}': a mapping of constant names to numbers is required")
    if len(values) > MAX_CONSTANTS:
        raise UserInputError(f"{where}: key '{prefix}': {len(values)} entries; allowed: at most {MAX_CONSTANTS}")
    out: dict[str, float] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise UserInputError(f"{where}: key '{prefix}': names must be text, got {key!r}")
        at = f"{where}: key '{prefix}.{key}'"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserInputError(f"{at}: a number is required (got {_short(value)})")
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        name = check_constant(key, value, where=at, mdl_path=mdl_path).name
        if not math.isfinite(value):
            raise UserInputError(f"{at}: {value} is not allowed; allowed: a finite number")
        if name in out:
            raise UserInputError(f"{at}: '{name}' is given twice; allowed: once")
        out[name] = value
    return out
