"""STIRPAT regression, and the cross-check of the model's CO2 against it.

STIRPAT (Dietz & Rosa 1997, PNAS 94:175, doi:10.1073/pnas.94.1.175; York,
Rosa & Dietz 2003, Ecol. Econ. 46:351, doi:10.1016/S0921-8009(03)00188-5) is
the stochastic form of I = P A T, estimated in logs::

    ln I = a + b ln P + c ln A + d ln T [+ e (ln A)^2] [+ entity and year effects] + u

so that b, c, d are elasticities. Every fit here is a statsmodels fit
(:class:`statsmodels.regression.linear_model.OLS`; ridge by
``OLS.fit_regularized(alpha=..., L1_wt=0)``); :class:`StirpatFit` is a thin
wrapper that keeps the statsmodels results objects and adds the elasticity
table, the variance inflation factors and the notes on how the fit was made.

The cross-check (:func:`crosscheck`) confronts the system-dynamics model with
STIRPAT both ways: elasticities fitted on the five cities' history against
those implied by the model (a fit on its own output over its scenarios and a
seeded ensemble of uncertain parameters, and a perturbation of each driver);
and CO2 paths that the fitted elasticities predict from the model's projected
P, A and T against the model's own CO2.

Local STIRPAT (:mod:`.local`, :mod:`.local_data`, :mod:`.local_results`,
:mod:`.local_plots`) fits the same equation with space-time weights (GTWR,
GWR) on a provincial panel, as the study this project starts from does.
"""

from .crosscheck import (
    MODEL_VARIABLES,
    PERTURBATIONS,
    STIRPAT_SCENARIOS,
    CrosscheckResult,
    compare_elasticities,
    crosscheck,
    fit_model_panel,
    gap_per_decade,
    model_panel,
    perturbation_elasticities,
    project_co2,
    sample_ensemble,
)
from .fit import (
    COV_TYPES,
    METHODS,
    StirpatFit,
    fit_stirpat,
    hkb_ridge_constant,
    vif_table,
)
from .local import LocalFit, fit_local
from .local_data import MEGACITY_PROVINCE, load_capitals, load_province_panel, project_coordinates
from .local_plots import plot_local_elasticities, write_local_figure
from .local_results import LocalElasticities, local_elasticities, megacity_table, variability_test
from .panels import (
    GDP_VINTAGE_BREAK,
    fit_history,
    history_panel,
    load_literature,
    load_owid_panel,
    owid_check,
)
from .plots import (
    plot_elasticities,
    plot_paths,
    write_crosscheck_figures,
)

__all__ = [
    "COV_TYPES",
    "METHODS",
    "MODEL_VARIABLES",
    "PERTURBATIONS",
    "GDP_VINTAGE_BREAK",
    "StirpatFit",
    "CrosscheckResult",
    "fit_stirpat",
    "hkb_ridge_constant",
    "vif_table",
    "load_owid_panel",
    "load_literature",
    "owid_check",
    "history_panel",
    "fit_history",
    "sample_ensemble",
    "STIRPAT_SCENARIOS",
    "model_panel",
    "fit_model_panel",
    "perturbation_elasticities",
    "compare_elasticities",
    "project_co2",
    "gap_per_decade",
    "plot_paths",
    "plot_elasticities",
    "write_crosscheck_figures",
    "crosscheck",
    "LocalFit",
    "LocalElasticities",
    "MEGACITY_PROVINCE",
    "fit_local",
    "load_capitals",
    "load_province_panel",
    "local_elasticities",
    "megacity_table",
    "plot_local_elasticities",
    "project_coordinates",
    "variability_test",
    "write_local_figure",
]
