"""The checks of run options (the integration step, counts), one rule for :func:`megacity_sd.run`,
:class:`~megacity_sd.ensemble.RunOptions`, :func:`~megacity_sd.ensemble.run_ensemble` and the command line;
their messages name the option as the caller gives it (``time_step`` in Python, ``--time-step`` on the
command line)."""

from __future__ import annotations

import math
import numbers

from .errors import UserInputError

__all__ = [
    "MAX_STEPS_PER_YEAR",
    "check_time_step",
    "check_count",
]

#: The finest integration step allowed is 1/MAX_STEPS_PER_YEAR year (about 9 hours): finer steps change no
#: yearly result of this annual model and make the work unbounded (1e-6 year would be a million steps a year).
MAX_STEPS_PER_YEAR = 1024


def check_time_step(value, name: str = "time_step") -> float | None:
    """``value`` as a float if it is an allowed integration step (None stays None), else refuse it.

    Allowed: 1/k year for an integer k from 1 to :data:`MAX_STEPS_PER_YEAR`
    (1, 0.5, 0.25, 0.125 ...), so that every saved year falls on a step.

    Parameters
    ----------
    value : float or None
    name : str
        The option's name in the message.

    Returns
    -------
    float or None

    Raises
    ------
    UserInputError
        Not a real number (a bool, a string, a list ...), not positive, more
        than a year, not 1/k year, or finer than 1/MAX_STEPS_PER_YEAR.
    """
    if value is None:
        return None
    allowed = (f"allowed: 1/k year for an integer k from 1 to {MAX_STEPS_PER_YEAR} (1, 0.5, 0.25, 0.125 ...; "
               "the saved years must be steps)")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserInputError(f"{name} {value!r}: not a number; {allowed}")
    x = float(value)
    if not (math.isfinite(x) and 0 < x <= 1):
        raise UserInputError(f"{name} {x:g}: out of range; {allowed}")
    k = 1.0 / x
    if abs(k - round(k)) > 1e-9 * k:
        raise UserInputError(f"{name} {x:g}: not 1/k year; {allowed}")
    if round(k) > MAX_STEPS_PER_YEAR:
        raise UserInputError(f"{name} {x:g}: finer than 1/{MAX_STEPS_PER_YEAR} year (unbounded work for no "
                             f"change in the yearly results); {allowed}")
    return x


def check_count(value, name: str, low: int, *, none: bool = True) -> int | None:
    """``value`` as an int if it is an integer ``>= low`` (None stays None when ``none``), else refuse it.

    Raises
    ------
    UserInputError
        A bool, a float, a string, a list ..., or an integer below ``low``.
    """
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserInputError(f"{name} {value!r}: not an integer; allowed: an integer >= {low}")
    if int(value) < low:
        raise UserInputError(f"{name} {int(value)}: out of range; allowed: an integer >= {low}")
    return int(value)
