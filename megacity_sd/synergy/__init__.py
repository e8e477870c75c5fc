"""Co-control coordinate system: synergy of every measure, pollutant and year.

For a measure (a scenario against the baseline, a measure from a user's
table, or a historical period), the point of an air pollutant P is

    x = dP/P  (relative change of the pollutant, signed, dimensionless)
    y = dC/C  (relative change of CO2, signed, dimensionless)

and the co-control elasticity is ``ET = x / y``, a ratio of relative changes
(an arc estimate of d ln P / d ln C). Negative is a reduction. The method is
the "co-control effect coordinate system" of Mao Xianqiang's group (毛显强
et al., 中国环境科学, 2011-2012; the original papers are not verified in
the project's sources); the elasticity Els = (dE_j/E_j)/(dE_k/E_k) as
defined in PMC11666946, Table 2 (see
``shared/data/literature/cocontrol_notes.md``; check authors before citing).

Quadrants (``x`` along the horizontal axis, ``y`` along the vertical):

==========  ==================  =============================================
quadrant    signs               reading
==========  ==================  =============================================
``III``     x < 0, y < 0        synergistic control: both reduced
``II``      x < 0, y > 0        pollutant reduced at the cost of more CO2
``IV``      x > 0, y < 0        CO2 reduced at the cost of more pollutant
``I``       x > 0, y > 0        both raised
``x-axis``  x != 0, y = 0       only the pollutant changes (ET undefined)
``y-axis``  x = 0, y != 0       only CO2 changes (ET = 0)
``origin``  x = 0, y = 0        nothing changes (ET undefined)
==========  ==================  =============================================

"Zero" means ``|r| <= zero_tol`` for a relative change ``r``
(``DEFAULT_ZERO_TOL``, changeable by keyword). An undefined elasticity is NaN
in memory and an empty cell in CSV, never ``inf``. A zero baseline (``P = 0``
or ``C = 0`` before the change) is not divided by: the relative change is NaN,
the row is flagged ``zero_baseline`` and the ``note`` says which.

Pollutants: ``SO2``, ``NOx``, ``PM2.5`` (primary) and ``APE``, the aggregate
air-pollutant equivalent ``sum_i m_i / w_i`` (m in kg, w in kg per
equivalent) with the weights of China's Environmental Protection Tax Law,
Annex 2, read from ``megacity_sd/data/pollution_equivalents.csv`` (or a user
file with the same columns ``pollutant, kg_per_equivalent, source``). The
module computes ``APE`` itself, so changing the weights changes the result.

Every analysis goes through one *changes table*, ``city, measure, pollutant,
year, unit, before, after, pollutant_basis, note`` (CO2 among the pollutants),
built from model runs (:func:`model_changes`), a user's table
(:func:`read_measures`) or the historical series (:func:`history_changes`).
``pollutant_basis`` is ``emissions`` or ``concentration``: the project has no
historical emission inventories of air pollutants, so historical points use
annual mean concentrations on the pollutant axis (CO2 is always emissions).
"""

from ..lazy import package_getattr

# Names are imported on first use (PEP 562, as in megacity_sd/__init__.py), so that building the command line's
# parser reads DEFAULT_YEARS without importing numpy and pandas.
_LIGHT = "defaults"
_EXPORTS = {
    "defaults": ("DEFAULT_YEARS",),
    "changes": ("APE", "CO2", "CO2_SCOPES", "DEFAULT_PERIODS", "HISTORY_VARIABLES", "MODEL_VARIABLES", "POLLUTANTS",
                "SYNERGY_COLUMNS", "WEIGHTS_PATH", "add_equivalent", "history_changes", "load_weights",
                "model_changes", "parse_periods", "read_measures"),
    "coordinates": ("DEFAULT_ZERO_TOL", "PATH_YEARS", "QUADRANTS", "EnsembleCloud", "SynergyResult", "analyse",
                    "cross_elasticity", "elasticity",
                    "ensemble_cloud", "interaction", "quadrant", "relative_change", "synergy_table"),
    "plots": ("plot_coordinates", "plot_ensemble", "plot_interaction_bars", "plot_interaction_lines",
              "write_figures"),
}


__getattr__ = package_getattr(__name__, _EXPORTS, _LIGHT)


__all__ = [
    "SynergyResult",
    "analyse",
    "APE",
    "CO2",
    "DEFAULT_PERIODS",
    "DEFAULT_YEARS",
    "DEFAULT_ZERO_TOL",
    "HISTORY_VARIABLES",
    "MODEL_VARIABLES",
    "CO2_SCOPES",
    "PATH_YEARS",
    "POLLUTANTS",
    "QUADRANTS",
    "SYNERGY_COLUMNS",
    "WEIGHTS_PATH",
    "EnsembleCloud",
    "add_equivalent",
    "cross_elasticity",
    "elasticity",
    "ensemble_cloud",
    "history_changes",
    "interaction",
    "load_weights",
    "model_changes",
    "parse_periods",
    "plot_coordinates",
    "plot_ensemble",
    "plot_interaction_bars",
    "plot_interaction_lines",
    "quadrant",
    "read_measures",
    "relative_change",
    "synergy_table",
    "write_figures",
]
