"""Reading a YAML mapping from a user file, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import UserInputError

__all__ = ["read_yaml_mapping"]


def read_yaml_mapping(path: str | Path, expected: str) -> dict:
    """Read a YAML file (``yaml.safe_load``) that must hold a mapping.

    Parameters
    ----------
    path : str or Path
        The file.
    expected : str
        What the mapping should hold, for the error message
        (``"{path}: expected a mapping {expected}"``).

    Raises
    ------
    UserInputError
        Missing or unreadable file, malformed YAML (with line and column), or
        a top level that is not a mapping.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{path}: file not found") from None
    except OSError as err:
        raise UserInputError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise UserInputError(f"{path}: malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping {expected}")
    return data
