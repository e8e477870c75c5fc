"""Residuals, payoff and fit statistics: MAPE, MAE, R2 and Theil's inequality statistics (Sterman 1984)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .config import FIT_COLUMNS

__all__ = [
    "simulated_at",
    "weighted_residuals",
    "payoff",
    "fit_statistics",
    "fit_table",
]


def simulated_at(sim: pd.DataFrame, obs: pd.DataFrame) -> np.ndarray:
    """The model's value at each observation's time (a ratio for growth anchors), in data units."""
    t = sim.index.to_numpy()
    out = np.empty(len(obs))
    for model_var, idx in obs.groupby("model").indices.items():
        out[idx] = np.interp(obs["time"].to_numpy()[idx], t, sim[model_var].to_numpy())
    if "relative_to" in obs and obs["relative_to"].notna().any():
        rel = obs["relative_to"].to_numpy(dtype=float)
        for k in np.flatnonzero(np.isfinite(rel)):
            base = np.interp(rel[k], t, sim[obs["model"].iloc[k]].to_numpy())
            out[k] = out[k] / base if base != 0 else np.nan
    return out


def weighted_residuals(sim: pd.DataFrame, obs: pd.DataFrame) -> np.ndarray:
    """Weighted residuals ``(simulated - observed) / (sigma * |observed|)``.

    For series with ``error == "absolute"`` the denominator is ``sigma``.

    Parameters
    ----------
    sim : pandas.DataFrame
        A run (:meth:`Simulator.run`): index ``time``, columns model variables.
    obs : pandas.DataFrame
        Observations (:func:`observations`), usually the fitted rows of the
        in-sample window.

    Returns
    -------
    numpy.ndarray
        One dimensionless residual per observation, in units of its assumed
        standard error.
    """
    s = simulated_at(sim, obs)
    a = obs["value"].to_numpy(dtype=float)
    scale = np.where(obs["error"].to_numpy() == "absolute", 1.0, np.abs(a))
    return (s - a) / (obs["sigma"].to_numpy(dtype=float) * scale)


def payoff(sim: pd.DataFrame, obs: pd.DataFrame) -> float:
    """The calibration payoff: the weighted sum of squared residuals (to minimise).

    Parameters
    ----------
    sim, obs : pandas.DataFrame
        As for :func:`weighted_residuals`.

    Returns
    -------
    float
        ``sum(r**2)``; under the declared errors it is chi-square distributed
        with ``n - p`` degrees of freedom at the optimum.
    """
    r = weighted_residuals(sim, obs)
    return float(r @ r)


def fit_statistics(simulated: Sequence[float], actual: Sequence[float]) -> dict[str, float]:
    """Summary statistics of historical fit (Sterman 1984).

    Parameters
    ----------
    simulated, actual : sequence of float
        Paired model and data values (same units).

    Returns
    -------
    dict
        ``n``; ``mape``: mean absolute percent error, in percent,
        ``100 * mean(|S - A| / |A|)``; ``mae``: mean absolute error in the
        data's units (for shares: fractions, so 0.05 is 5 percentage
        points); ``mse``: mean squared error; ``r2``: the
        squared correlation of S and A; ``theil_um = (mean S - mean A)^2 / MSE``
        (bias), ``theil_us = (sd S - sd A)^2 / MSE`` (unequal variation),
        ``theil_uc = 2 (1 - r) sd S sd A / MSE`` (unequal covariation), with
        standard deviations over ``n`` (not ``n - 1``) so that the three sum to
        1. ``r2`` and the Theil statistics need ``n >= 3`` (NaN otherwise);
        ``r2`` is NaN if either series is constant.

    References
    ----------
    Sterman, J. D. (1984) Appropriate summary statistics for evaluating the
    historical fit of system dynamics models. Dynamica 10(2): 51-66.
    """
    s = np.asarray(simulated, dtype=float)
    a = np.asarray(actual, dtype=float)
    if s.shape != a.shape or s.ndim != 1:
        raise ValueError("simulated and actual must be 1-D and of the same length")
    n = len(a)
    nan = float("nan")
    out = {"n": n, "mape": nan, "mae": nan, "mse": nan, "r2": nan, "theil_um": nan, "theil_us": nan,
           "theil_uc": nan}
    if n == 0:
        return out
    err = s - a
    out["mape"] = float(100.0 * np.mean(np.abs(err) / np.abs(a)))
    out["mae"] = float(np.mean(np.abs(err)))
    mse = float(np.mean(err**2))
    out["mse"] = mse
    if n < 3:
        return out
    ss, sa = float(s.std()), float(a.std())
    r = float(np.mean((s - s.mean()) * (a - a.mean())) / (ss * sa)) if ss > 0 and sa > 0 else nan
    out["r2"] = r * r if r == r else nan
    if mse > 0:
        out["theil_um"] = (float(s.mean()) - float(a.mean())) ** 2 / mse
        out["theil_us"] = (ss - sa) ** 2 / mse
        out["theil_uc"] = 2.0 * (1.0 - r) * ss * sa / mse if r == r else 0.0
    return out


def fit_table(city: str, sim: pd.DataFrame, obs: pd.DataFrame, series: Sequence[str] | None = None) -> pd.DataFrame:
    """Fit statistics of one run against observations, by series and period.

    Parameters
    ----------
    city : str
        Label for the ``city`` column.
    sim : pandas.DataFrame
        A run (index ``time``).
    obs : pandas.DataFrame
        Observations (:func:`observations`).
    series : sequence of str, optional
        Series to report, in this order (default: those in ``obs``); a period
        without data gets a row with ``n = 0``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FIT_COLUMNS`; ``mape`` in percent.
    """
    names = list(series) if series is not None else list(dict.fromkeys(obs["series"]))
    rows = []
    for name in names:
        periods = ("anchor",) if (obs.loc[obs["series"] == name, "period"] == "anchor").any() \
            else ("in_sample", "holdout")
        for period in periods:
            sel = obs[(obs["series"] == name) & (obs["period"] == period)]
            st = fit_statistics(simulated_at(sim, sel) if len(sel) else [], sel["value"].to_numpy())
            rows.append({"city": city, "variable": name, "period": period, "n": st["n"], "mape": st["mape"],
                         "mae": st["mae"], "r2": st["r2"], "theil_um": st["theil_um"], "theil_us": st["theil_us"],
                         "theil_uc": st["theil_uc"]})
    return pd.DataFrame(rows, columns=FIT_COLUMNS)
