"""Sensitivity and uncertainty: one file of uncertain parameters, mapped onto SALib.

The uncertain parameters (``scenarios/uncertainty.yaml``: name, distribution,
range, source) become a :class:`SALib.ProblemSpec`; SALib samples and
analyses, the ensemble runner (:mod:`megacity_sd.ensemble`) evaluates. Four
methods:

* :func:`oat`: one at a time, every parameter at ``levels`` quantiles of its
  distribution (default: its two bounds) with the others nominal; a tornado
  figure of the swings.
* :func:`morris`: Morris elementary-effects screening (Morris 1991,
  https://doi.org/10.1080/00401706.1991.10484804; mu* of Campolongo et al. 2007,
  https://doi.org/10.1016/j.envsoft.2006.10.004).
* :func:`sobol`: first-order and total Sobol indices with bootstrap confidence
  intervals (Saltelli 2002, https://doi.org/10.1016/S0010-4655(02)00280-1;
  Saltelli et al. 2010, https://doi.org/10.1016/j.cpc.2009.09.018) for the named
  indicators and for every year of CO2, PM2.5 and population.
* :func:`monte_carlo`: Latin hypercube (McKay et al. 1979) bands, 5-50-95 %, of
  CO2, PM2.5 and population for each scenario.

The nominal value of a parameter is the resolved scenario's (city file, then
scenario file) or the model default. Ranges default to the model's Vensim
``[min,max]``; a calibration's confidence intervals replace them where the
city has a calibrated parameter set, ``scenarios/calibrated/<city>.yaml``
(:func:`apply_calibration`).
"""

from .methods import (
    DEFAULT_N,
    METHODS,
    SERIES,
    RunOptions,
    check_n,
    monte_carlo,
    morris,
    oat,
    sobol,
    sobol_table,
)
from .plots import (
    plot_fan,
    plot_morris,
    plot_sobol,
    plot_sobol_years,
    plot_tornado,
    write_figures,
)
from .uncertainty import (
    DISTRIBUTIONS,
    UNCERTAINTY_FILE,
    Uncertainty,
    UncertaintySet,
    apply_calibration,
    load_uncertainty,
)

__all__ = [
    "METHODS",
    "DISTRIBUTIONS",
    "DEFAULT_N",
    "SERIES",
    "UNCERTAINTY_FILE",
    "Uncertainty",
    "UncertaintySet",
    "RunOptions",
    "load_uncertainty",
    "apply_calibration",
    "check_n",
    "oat",
    "morris",
    "sobol",
    "sobol_table",
    "monte_carlo",
    "plot_tornado",
    "plot_morris",
    "plot_sobol",
    "plot_sobol_years",
    "plot_fan",
    "write_figures",
]
