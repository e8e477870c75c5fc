"""LMDI: the logarithmic mean, term effects with the small-value strategy for zeros (Ang & Liu 2007), additive and
multiplicative forms, chained periods."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "logmean",
    "term_effects",
    "lmdi",
    "lmdi_chain",
]


FORMS = ("additive", "multiplicative")


ZERO_STRATEGIES = ("limit", "small")


_REL_TOL = 1e-9  # an identity must reproduce its total to this relative error


def logmean(a, b) -> np.ndarray:
    """Logarithmic mean L(a, b) = (a - b) / ln(a / b), with L(a, a) = a.

    Parameters
    ----------
    a, b : array_like
        Non-zero numbers, pairwise of the same sign (any unit; the result has it).

    Returns
    -------
    numpy.ndarray
        Computed as b * r / log1p(r) with r = a/b - 1, accurate when a is close to b.

    Raises
    ------
    ValueError
        A zero, or a pair of opposite signs.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    if np.any(a == 0) or np.any(b == 0):
        raise ValueError("logmean: zero argument (handle zeros before, see term_effects)")
    if np.any(np.sign(a) != np.sign(b)):
        raise ValueError("logmean: arguments of opposite signs")
    r = a / b - 1.0
    out = np.array(b, dtype=float, copy=True)
    nz = r != 0
    out[nz] = b[nz] * r[nz] / np.log1p(r[nz])
    return out


def _as_frames(x0, x1) -> tuple[pd.DataFrame, pd.DataFrame]:
    x0 = pd.DataFrame(x0).astype(float)
    x1 = pd.DataFrame(x1).astype(float)
    if list(x0.columns) != list(x1.columns) or not x0.index.equals(x1.index):
        raise ValueError("x0 and x1 need the same terms (index) and factors (columns), in the same order")
    for name, x in (("x0", x0), ("x1", x1)):
        if not np.isfinite(x.to_numpy()).all():
            raise ValueError(f"{name}: a factor is NaN or infinite")
    return x0, x1


def term_effects(x0, x1, *, zero: str = "limit", delta: float = 1e-10) -> pd.DataFrame:
    """Additive LMDI-I effect of every factor on every term.

    Parameters
    ----------
    x0, x1 : pandas.DataFrame
        Factors in state 0 and state T: one row per term i, one column per
        factor k, V_i = product of the row (any units whose product is V's).
    zero : {"limit", "small"}
        ``limit`` (default): the limit delta -> 0 of the small-value strategy,
        computed analytically (exact). ``small``: replace each zero by
        ``delta`` (with the sign of the other state's value) and compute as usual.
    delta : float
        The small value of ``zero="small"``.

    Returns
    -------
    pandas.DataFrame
        Same shape as x0: effect of factor k on term i, in V's unit; each row
        sums to V_i^T - V_i^0.

    Raises
    ------
    ValueError
        Different shapes, a non-finite factor, or a factor that changes sign.
    """
    if zero not in ZERO_STRATEGIES:
        raise ValueError(f"zero must be one of {ZERO_STRATEGIES}, not {zero!r}")
    x0, x1 = _as_frames(x0, x1)
    a0, a1 = x0.to_numpy(copy=True), x1.to_numpy(copy=True)
    flip = (a0 != 0) & (a1 != 0) & (np.sign(a0) != np.sign(a1))
    if flip.any():
        i, k = map(int, np.argwhere(flip)[0])
        raise ValueError(f"term {x0.index[i]!r}, factor {x0.columns[k]!r} changes sign ({a0[i, k]:g} -> "
                         f"{a1[i, k]:g}); LMDI needs each factor to keep its sign (sign changes are not handled)")
    if zero == "small":
        for a, other in ((a0, a1), (a1, a0)):
            z = a == 0
            a[z] = np.where(other[z] < 0, -delta, delta)
    out = np.zeros_like(a0)
    z0, z1 = a0 == 0, a1 == 0
    v0, v1 = a0.prod(axis=1), a1.prod(axis=1)
    regular = ~z0.any(axis=1) & ~z1.any(axis=1)
    if regular.any():
        w = logmean(v1[regular], v0[regular])
        out[regular] = w[:, None] * np.log(a1[regular] / a0[regular])
    appear = z0.any(axis=1) & ~z1.any(axis=1)      # V_i^0 = 0 < |V_i^T|: the zero factors take V_i^T
    out[appear] = np.where(z0[appear], (v1[appear] / z0[appear].sum(axis=1))[:, None], 0.0)
    vanish = ~z0.any(axis=1) & z1.any(axis=1)      # |V_i^0| > 0 = V_i^T: the zero factors take -V_i^0
    out[vanish] = np.where(z1[vanish], (-v0[vanish] / z1[vanish].sum(axis=1))[:, None], 0.0)
    return pd.DataFrame(out, index=x0.index, columns=x0.columns)


def _multiplicative(additive: pd.Series, v0: float, v1: float) -> pd.Series:
    if v0 == 0 or v1 == 0 or np.sign(v0) != np.sign(v1):
        raise ValueError(f"multiplicative LMDI needs totals of one sign, not zero (got {v0:g} -> {v1:g}); "
                         "use the additive form")
    return np.exp(additive / float(logmean(v1, v0)))


def lmdi(x0, x1, *, form: str = "additive", zero: str = "limit", delta: float = 1e-10) -> pd.Series:
    """LMDI-I decomposition of V = sum_i prod_k x_k,i between two states.

    Parameters
    ----------
    x0, x1 : pandas.DataFrame
        Factors in state 0 and state T (rows: terms, columns: factors).
    form : {"additive", "multiplicative"}
        Additive effects (V's unit) sum to V^T - V^0; multiplicative effects
        (dmnl) multiply to V^T / V^0.
    zero, delta
        Zero strategy, see :func:`term_effects`.

    Returns
    -------
    pandas.Series
        One effect per factor.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, not {form!r}")
    eff = term_effects(x0, x1, zero=zero, delta=delta)
    add = eff.sum(axis=0)
    if form == "additive":
        return add
    return _multiplicative(add, float(pd.DataFrame(x0).prod(axis=1).sum()), float(pd.DataFrame(x1).prod(axis=1).sum()))


def lmdi_chain(states, *, form: str = "additive", zero: str = "limit", delta: float = 1e-10) -> pd.Series:
    """LMDI-I over a sequence of states, chained: each step decomposed, then summed or multiplied.

    Parameters
    ----------
    states : sequence of pandas.DataFrame
        Factors in consecutive states (e.g. years), same terms and factors.
    form, zero, delta
        As in :func:`lmdi`.

    Returns
    -------
    pandas.Series
        Additive: sum of the steps' effects (sums to V^last - V^first).
        Multiplicative: product of the steps' effects (multiplies to V^last / V^first).
    """
    states = list(states)
    if len(states) < 2:
        raise ValueError("lmdi_chain needs at least two states")
    steps = [lmdi(a, b, form=form, zero=zero, delta=delta) for a, b in zip(states[:-1], states[1:], strict=True)]
    if form == "additive":
        return sum(steps[1:], steps[0])
    return np.exp(sum((np.log(s) for s in steps[1:]), np.log(steps[0])))
