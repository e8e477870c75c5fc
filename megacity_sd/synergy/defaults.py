"""Defaults of the co-control analysis (no numpy, no pandas: the command line's parser reads them)."""

__all__ = ["DEFAULT_YEARS"]

#: Years of the co-control points when none are asked for.
DEFAULT_YEARS = (2030, 2035, 2060)
