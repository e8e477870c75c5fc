"""LMDI decomposition: which drivers made emissions change.

The log-mean Divisia index method I (LMDI-I; Ang 2004, Energy Policy
32:1131; Ang 2005, Energy Policy 33:867, "The LMDI approach to decomposition
analysis: a practical guide") splits the change of an aggregate

    V = sum_i V_i,    V_i = x_1,i * x_2,i * ... * x_n,i

between two states 0 and T into one effect per factor k:

* additive:        dV_k = sum_i L(V_i^T, V_i^0) ln(x_k,i^T / x_k,i^0),
  and sum_k dV_k = V^T - V^0 exactly;
* multiplicative:  D_k = exp(dV_k / L(V^T, V^0)),
  and prod_k D_k = V^T / V^0 exactly,

with the logarithmic mean L(a, b) = (a - b) / ln(a / b), L(a, a) = a.

Zero values follow the small-value strategy (Ang & Liu 2007, Energy Policy
35:238, "Handling zero values in the logarithmic mean Divisia index
decomposition approach"): a zero is replaced by a small number delta and the
results are taken in the limit delta -> 0. The limit is computed analytically
(as Ang, Zhang & Choi 1998, Energy 23:489, Table 2 and Wood & Lenzen 2006,
Energy Policy 34:1326 tabulate it), so the decomposition stays exact: a term
that is zero in one state and V in the other gives all of its change to the
factor(s) that are zero (shared equally when m factors are zero, the limit
with the same delta for each), and nothing to the others; a term zero in both
states gives nothing. ``zero="small"`` instead replaces zeros by ``delta``
literally, for checking the convergence.

Negative values: a factor that keeps its sign (negative in both states) is
handled as Ang & Liu (2007, Energy Policy 35:739, "Negative-value problems of
the logarithmic mean Divisia index decomposition approach") do, with
L(a, b) = (a - b) / ln(a / b) for two numbers of the same sign. A factor
that changes sign between two states is refused (``ValueError``): the
published treatments of that case are not simple and are not implemented.

Periods are chained year by year: the effects of a period are the sums
(additive) or products (multiplicative) of the yearly effects, so the
decomposition stays exact and follows the path.

Identities
----------
:func:`model_identity` writes a model run as such a sum, :func:`history_identity`
the CEADs inventories on file, with the factors (see :data:`FACTORS`):

``CO2 = sum_(s, f) P * (G/P) * (G_s/G) * (E_s/G_s) * (E_sf/E_s) * (C_sf/E_sf) * (net/gross)``

population P (person), GDP per capita G/P (yuan/(person*Year)), structure
G_s/G (secondary or tertiary share of GDP), energy intensity E_s/G_s
(tce/yuan), fuel mix E_sf/E_s, emission factor (tCO2/tce, or t/tce for the air
pollutants) and capture (net/gross CO2; for the air pollutants ``end_of_pipe``
= 1 - removal, or the vehicle emission and fuel sulfur multipliers). On
history, only P, G/P and one carbon intensity per sector (CO2/G) can be
told apart: no energy use by sector or fuel and no GDP by sector is on file.

Everything here returns tidy tables with the columns :data:`COLUMNS`.
"""

from ..lazy import package_getattr

# Names are imported on first use (PEP 562, as in megacity_sd/__init__.py), so that building the command line's
# parser reads POLLUTANTS without importing numpy and pandas.
_LIGHT = "pollutants"
_EXPORTS = {
    "pollutants": ("POLLUTANTS",),
    "decomposition": ("COLUMNS", "TERM_COLUMNS", "Decomposition", "decompose_against", "decompose_history",
                      "decompose_run"),
    "identities": ("FACTOR_UNITS", "FACTORS", "Identity", "history_cities", "history_identity", "history_years",
                   "model_constants", "model_identity"),
    "lmdi": ("lmdi", "lmdi_chain", "logmean", "term_effects"),
    "plots": ("plot_waterfall", "write_figures"),
}


__getattr__ = package_getattr(__name__, _EXPORTS, _LIGHT)


__all__ = [
    "COLUMNS",
    "FACTORS",
    "FACTOR_UNITS",
    "POLLUTANTS",
    "TERM_COLUMNS",
    "Decomposition",
    "Identity",
    "decompose_against",
    "decompose_history",
    "decompose_run",
    "history_cities",
    "history_identity",
    "history_years",
    "lmdi",
    "lmdi_chain",
    "logmean",
    "model_constants",
    "model_identity",
    "plot_waterfall",
    "write_figures",
    "term_effects",
]
