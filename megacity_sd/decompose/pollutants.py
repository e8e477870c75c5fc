"""The pollutants decomposed: model variable and unit (no numpy, no pandas: the command line's parser reads them)."""

__all__ = ["POLLUTANTS"]

#: Pollutants: model variable and unit.
POLLUTANTS = {
    "CO2": ("CO2 emissions", "tCO2/Year"),
    "SO2": ("SO2 emissions", "t/Year"),
    "NOx": ("NOx emissions", "t/Year"),
    "PM25": ("primary PM25 emissions", "t/Year"),
}
