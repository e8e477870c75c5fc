"""The requests the page may send: pydantic schemas, size limits, one-line messages for a 4xx."""

from __future__ import annotations

import math
import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ..errors import UserInputError
from ..scenario import DEFAULT_CITY, Number

__all__ = [
    "MAX_BODY",
    "MAX_UPLOAD_BODY",
    "RequestError",
]


#: Largest request body, bytes (a setting is a few kB; the model has fewer than 1,000 constants).
MAX_BODY = 64 * 1024


#: Largest body of an upload (the scenario file's text inside JSON), bytes.
MAX_UPLOAD_BODY = 512 * 1024


MAX_CONSTANTS = 2000


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")  # used with fullmatch: "$" would let a final newline in


class RequestError(Exception):
    """A request the API refuses: an HTTP status and one line saying what is allowed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)


def _short(value, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Setting(_Body):
    city: StrictStr = Field(DEFAULT_CITY, max_length=64)
    preset: StrictStr = Field("baseline", max_length=64)
    constants: dict[str, Number] = {}
    year: StrictInt = 2035


class _PresetRequest(_Body):
    city: StrictStr = Field(DEFAULT_CITY, max_length=64)
    preset: StrictStr = Field("baseline", max_length=64)


class _RunRequest(_Setting):
    client: StrictStr = Field("", max_length=64)
    seq: StrictInt = 0


class _ExportRequest(_Setting):
    name: StrictStr = Field("my_setting", max_length=40)
    title: StrictStr = Field("", max_length=200)
    sources: dict[str, StrictStr] = {}


class _UploadRequest(_Body):
    city: StrictStr = Field(DEFAULT_CITY, max_length=64)
    text: StrictStr
    filename: StrictStr = Field("upload.yaml", max_length=200)


_MEMBERS = {"float", "int", "str", "constrained-str", "function-after[...]"}


_MESSAGES = {"extra_forbidden": "unknown key; allowed: {keys}", "float_type": "a number is required",
             "int_type": "a whole number is required", "missing": "this key is required",
             "string_type": "text is required", "string_too_long": "too long; allowed: at most {max} characters",
             "dict_type": "a mapping is required", "int_from_float": "a whole number is required"}


def _parse(model: type[_Body], data) -> _Body:
    """Validate a decoded JSON body against one of the request schemas."""
    if not isinstance(data, dict):
        raise UserInputError(f"request: a JSON object is required (got {type(data).__name__})")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"] if str(p) not in _MEMBERS)
        keys = ", ".join(model.model_fields)
        max_len = (first.get("ctx") or {}).get("max_length", "")
        msg = _MESSAGES.get(first["type"], first["msg"]).format(keys=keys, max=max_len)
        got = "" if first["type"] in ("missing", "extra_forbidden", "string_too_long") else \
            f" (got {_short(first['input'])})"
        raise UserInputError(f"request: key '{loc}': {msg}{got}") from None


def _finite(values, digits: int | None = 7) -> list:
    """A JSON-safe list: NaN and infinity become None; ``digits`` significant digits (None: all)."""
    out = []
    for v in np.asarray(values, dtype=float).tolist():
        if not math.isfinite(v):
            out.append(None)
        elif digits is None or v == 0:
            out.append(v)
        else:
            out.append(float(f"{v:.{digits}g}"))
    return out


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None
