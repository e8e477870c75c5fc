"""Calibration against history: payoff, optimiser, fit statistics, holdout, confidence intervals.

What is estimated, within which bounds, and against which series is declared
in one file, ``scenarios/calibration.yaml`` (:func:`load_config`); nothing of
it is in code. For one city, :func:`calibrate`

1. starts from the city's *uncalibrated* constants (``load_scenario("baseline",
   city, calibrated=False)``), so an earlier calibration never feeds the next;
2. collects the observations (:func:`observations`): ``megacity_sd/data/history.csv``
   and ``megacity_sd/data/calibration_series.csv`` (constant-price GDP, see
   ``CALIBRATION_DATA.md``), never ``shared/`` at run time;
3. minimises the weighted sum of squares of *all* fitted series at once
   (:func:`payoff`) over the in-sample window (2005-2015) with
   :func:`scipy.optimize.least_squares` (trust-region reflective, box bounds)
   from several seeded starting points: the uncalibrated values and a Latin
   hypercube over the bounds, keeping the best;
4. reports the fit statistics of Sterman (1984) for the in-sample window and
   for the holdout (2016-2019) that the fit never saw (:func:`fit_statistics`);
5. gives every estimate a confidence interval from the covariance of the
   weighted least-squares estimator (see below).

Weights
-------
A residual is ``(simulated - observed) / (sigma * |observed|)``, with ``sigma``
the relative standard error that ``calibration.yaml`` declares for the series
(e.g. 0.01 for population, 0.05 for CO2). Residuals are then dimensionless,
in units of the assumed measurement error, so that persons, yuan, tonnes of
CO2 and shares are comparable and each point counts as much as the
confidence we have in it (the Gaussian likelihood of multiplicative errors).

Confidence intervals
--------------------
The covariance of the estimates is taken from the Jacobian ``J`` of the
weighted residuals at the optimum (central differences, Bates and Watts 1988,
*Nonlinear Regression Analysis*, ch. 2): ``cov = s2 * k * (J'J)^-1`` with
``s2 = payoff / (n - p)``, the residual variance (so the intervals do not
depend on the guessed ``sigma`` scale, only on the relative weights), and
``k = (1 + rho) / (1 - rho)``, a variance inflation for the lag-1
autocorrelation ``rho`` of the residuals (the errors of a dynamic model are
serially correlated, which makes the plain formula too narrow). Intervals are
``estimate +- t(n - p) * se``, cut to the calibration bounds. Why this and not
the chi-square threshold on the payoff profile of Vensim and Stella: the
covariance accounts for the correlation between parameters (a profile that
holds the others fixed does not, and one that re-optimises them costs an
optimisation per point), costs ``2p`` runs, and its scaling by ``s2`` avoids
the profile's dependence on the absolute error variance, which we only guess.
Its limit: it is a local, linear approximation; a parameter at a bound or
weakly identified is flagged in :attr:`CalibrationResult.parameters`.

Fit statistics
--------------
Sterman, J. D. (1984) Appropriate summary statistics for evaluating the
historical fit of system dynamics models. *Dynamica* 10(2): 51-66. MAPE (in
percent), R^2 (the squared correlation of simulated and actual, Sterman's
definition), and Theil's inequality statistics that split the mean squared
error into bias ``U^M``, unequal variation ``U^S`` and unequal covariation
``U^C`` (they sum to 1).
"""

from .config import (
    CALIBRATION_PATH,
    FIT_COLUMNS,
    SERIES_PATH,
    CalibrationConfig,
    ParameterSpec,
    SeriesSpec,
    calibration_series,
    load_config,
    observations,
)
from .estimate import (
    CalibrationResult,
    Simulator,
    calibrate,
    parameter_table,
    write_calibrated,
)
from .plots import (
    plot_calibration,
    write_calibration_figure,
)
from .statistics import (
    fit_statistics,
    fit_table,
    payoff,
    simulated_at,
    weighted_residuals,
)

__all__ = [
    "CALIBRATION_PATH",
    "SERIES_PATH",
    "FIT_COLUMNS",
    "SeriesSpec",
    "ParameterSpec",
    "CalibrationConfig",
    "CalibrationResult",
    "Simulator",
    "load_config",
    "calibration_series",
    "observations",
    "weighted_residuals",
    "payoff",
    "fit_statistics",
    "fit_table",
    "parameter_table",
    "simulated_at",
    "calibrate",
    "write_calibrated",
    "plot_calibration",
    "write_calibration_figure",
]
