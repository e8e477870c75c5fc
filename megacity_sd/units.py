"""Display units: the one table of how a model quantity is shown.

The model computes in its own units (``tCO2/Year``, ``t/Year``, ``person``,
``yuan/Year`` at 2005 prices, ``tce/Year``, ``kWh/Year``, ``vehicle``, ``m2``,
``microgram/m3`` ...). Every table, printout and figure that shows a model
quantity in other magnitudes (Mt CO2/yr, million people, trillion yuan/yr)
takes the multiplier and the label from here:

- :data:`UNITS`: model unit -> :class:`Display` (the scale and the label);
- :data:`VARIABLES`: the few variables shown otherwise than their unit says
  (buses and trucks in thousands while cars are in millions) and the series
  derived from two variables, which have no declared unit;
- a ``dmnl`` variable whose name holds the word ``share`` (not ``per ...
  share``) is a fraction and is shown in % (:data:`PERCENT`).

A value in display units is ``value_in_model_units * scale``; a label is spelt
one way (``"Mt CO2/yr"``, ``"kt/yr"``) wherever it appears.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from .model import MODEL_PATH, canonical, model_doc

__all__ = ["Display", "UNITS", "VARIABLES", "PERCENT", "YEAR", "display", "display_of", "integral"]


class Display(NamedTuple):
    """How a quantity is shown: a named pair ``(scale, label)``, unpacked as ``scale, label = display(...)``.

    Attributes
    ----------
    scale : float
        Multiplier from model units to display units (``1e-6``: tCO2 -> Mt CO2).
    label : str
        The display unit, e.g. ``"Mt CO2/yr"``.
    """

    scale: float
    label: str


#: Model unit -> display. Money is in constant 2005 prices (the model's GDP and capital, see ``GDP`` in the .mdl).
UNITS: dict[str, Display] = {
    "tCO2/Year": Display(1e-6, "Mt CO2/yr"),
    "tCO2": Display(1e-6, "Mt CO2"),
    "t/Year": Display(1e-3, "kt/yr"),
    "t": Display(1e-3, "kt"),
    "equivalent/Year": Display(1e-6, "Meq/yr"),  # pollution equivalents (Environmental Protection Tax Law, Annex 2)
    "equivalent": Display(1e-6, "Meq"),
    "tce/Year": Display(1e-6, "Mtce/yr"),
    "tce": Display(1e-6, "Mtce"),
    "kWh/Year": Display(1e-9, "TWh/yr"),
    "kWh": Display(1e-9, "TWh"),
    "person": Display(1e-6, "million people"),
    "yuan/Year": Display(1e-12, "trillion yuan/yr (2005 prices)"),
    "yuan": Display(1e-12, "trillion yuan (2005 prices)"),
    "vehicle": Display(1e-6, "million vehicles"),
    "m2": Display(1e-6, "million m2"),
    "microgram/m3": Display(1.0, "ug/m3"),
    "tCO2/yuan": Display(1e4, "t CO2/10^4 yuan (2005 prices)"),
    "tce/yuan": Display(1e4, "tce/10^4 yuan (2005 prices)"),
    "tCO2/(person*Year)": Display(1.0, "t CO2/person/yr"),
}

#: A fraction shown in %.
PERCENT = Display(100.0, "%")

#: The unit of indicators that are years (a peak year, the first year below a threshold).
YEAR = Display(1.0, "year")

_THOUSAND_BUSES = Display(1e-3, "thousand buses")
_THOUSAND_TRUCKS = Display(1e-3, "thousand trucks")
_MILLION_CARS = Display(1e-6, "million cars")

#: Variable -> display, where it differs from its unit's (keys in any case and spacing, as model names).
VARIABLES: dict[str, Display] = {
    **dict.fromkeys(("ICE cars", "NEV cars", "total cars", "desired car fleet"), _MILLION_CARS),
    **dict.fromkeys(("diesel buses", "CNG buses", "electric buses", "total buses", "desired buses"), _THOUSAND_BUSES),
    **dict.fromkeys(("diesel trucks", "electric trucks", "hydrogen trucks", "trucks", "desired trucks"),
                    _THOUSAND_TRUCKS),
    # series derived from two model variables (megacity_sd.targets.conditions.DERIVED)
    "primary energy intensity of GDP": UNITS["tce/yuan"],  # total primary energy / GDP
    "coal share of primary energy": PERCENT,  # primary coal / total primary energy
}
_VARIABLES = {canonical(k): v for k, v in VARIABLES.items()}
_SHARE = re.compile(r"(?:^|_)shares?(?:_|$)")  # a share, not "... per share"
_PER = re.compile(r"(?:^|_)per(?:_|$)")


def display(model_unit: str, variable: str | None = None) -> Display:
    """Scale and label of a model unit.

    Parameters
    ----------
    model_unit : str
        The unit as the model declares it, e.g. ``"tCO2/Year"``.
    variable : str, optional
        The variable's name: an entry of :data:`VARIABLES` wins over the
        unit's, and a ``dmnl`` share is shown in %.

    Returns
    -------
    Display
        ``(scale, label)``; ``(1.0, model_unit)`` for a unit not in
        :data:`UNITS` (the quantity is shown as the model has it).

    Examples
    --------
    >>> scale, label = display("tCO2/Year")
    >>> 2.5e8 * scale, label
    (250.0, 'Mt CO2/yr')
    """
    if variable is not None:
        key = canonical(variable)
        if key in _VARIABLES:
            return _VARIABLES[key]
        if model_unit == "dmnl" and _SHARE.search(key) and not _PER.search(key):
            return PERCENT
    return UNITS.get(model_unit, Display(1.0, model_unit))


def display_of(variable: str, mdl_path: str | Path = MODEL_PATH) -> Display:
    """Scale and label of a model variable, from the unit the model declares for it.

    Parameters
    ----------
    variable : str
        A model variable (any case and spacing) or a derived series of
        :data:`VARIABLES`.
    mdl_path : str or Path
        The model file (:func:`megacity_sd.model.model_doc` reads it).

    Returns
    -------
    Display

    Raises
    ------
    KeyError
        Neither a model variable nor an entry of :data:`VARIABLES`.
    """
    key = canonical(variable)
    if key in _VARIABLES:
        return _VARIABLES[key]
    var = model_doc(Path(mdl_path)).get(key)
    if var is None:
        raise KeyError(f"'{variable}' is not a model variable nor a derived series of megacity_sd.units.VARIABLES")
    return display(var.units, var.name)


def integral(unit: str) -> str:
    """The model unit of a sum over years of annual values (one value per year, each for one year).

    Parameters
    ----------
    unit : str
        A rate, e.g. ``"tCO2/Year"``.

    Returns
    -------
    str
        ``"tCO2"`` for ``"tCO2/Year"``; ``"unit*Year"`` for a unit that is
        not per year (the sum of a stock over years).

    Examples
    --------
    >>> display(integral("tCO2/Year")).label
    'Mt CO2'
    """
    if unit.endswith("/Year"):
        return unit[: -len("/Year")]
    return f"{unit}*Year"
