"""What an ensemble is: its inputs checked and put in canonical form, and the one hash that names it.

:func:`ensemble_id` is the identity every caller uses: :func:`~megacity_sd.ensemble.run_ensemble`
compares it with the stored manifest (same key: resume; another key: refused), and the analyses
(:mod:`megacity_sd.sensitivity`, :mod:`megacity_sd.discover`) name their ensemble folders after it. It
covers every input that changes the results: the parameter sets, the base constants, the indicators
and series stored, the engine, the integration step and the model file's text; not the batch size,
the workers or the backend, which do not change them (identical to 1e-12).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..engines import ENGINES
from ..errors import UserInputError
from ..indicators import INDICATORS
from ..model import MODEL_PATH, canonical, check_constant, model_doc
from ..options import check_time_step
from .store import _FORMAT, _check_params, _params_hash

__all__ = [
    "ensemble_id",
]


@dataclass(frozen=True)
class _Identity:
    """An ensemble's inputs, checked and canonical, with its identity (``ident``) and key."""

    params: pd.DataFrame
    base: tuple[tuple[str, float], ...]
    indicators: tuple[str, ...]
    series: tuple[str, ...]
    time_step: float | None
    model_sha: str
    ident: dict
    key: str


def _engine_id(engine: str | Callable) -> str:
    """A name of the engine that is the same in every process (no memory address)."""
    if isinstance(engine, str):
        return engine
    if isinstance(engine, functools.partial):
        return (f"partial({_engine_id(engine.func)}, {engine.args!r}, "
                f"{sorted(engine.keywords.items())!r})")
    return f"{getattr(engine, '__module__', '')}.{getattr(engine, '__qualname__', repr(engine))}"


def _identify(params: pd.DataFrame, *, base: Mapping[str, float] | None = None,
              indicators: Sequence[str] | None = None, series: Sequence[str] = (),
              engine: str | Callable = "fast", time_step: float | None = None,
              mdl_path: str | Path = MODEL_PATH) -> _Identity:
    """Check an ensemble's inputs, put them in canonical form and compute its identity (see :func:`ensemble_id`)."""
    mdl_path = Path(mdl_path)
    if isinstance(engine, str) and engine not in ENGINES:
        raise UserInputError(f"engine {engine!r} not allowed; allowed: {', '.join(ENGINES)}")
    if not isinstance(engine, str) and not callable(engine):
        raise UserInputError(f"engine {engine!r} not allowed; allowed: {', '.join(ENGINES)} or a callable")
    time_step = check_time_step(time_step, "time_step")
    params = _check_params(pd.DataFrame(params), mdl_path)
    if len(params) == 0:
        raise UserInputError("parameter table: no parameter sets (rows)")
    by_name = {i.name: i for i in INDICATORS}
    ind_names = tuple(indicators) if indicators is not None else tuple(by_name)
    for i in ind_names:
        if i not in by_name:
            raise UserInputError(f"indicator {i!r} unknown; allowed: {', '.join(by_name)}")
    doc = model_doc(mdl_path)
    ser_names = []
    for s in series:
        var = doc.get(canonical(s))
        if var is None or var.kind not in ("stock", "auxiliary"):
            raise UserInputError(f"series {s!r}: not a stock or auxiliary of the model")
        ser_names.append(var.name)
    base_in, checked = dict(base or {}), {}
    for k, v in base_in.items():
        checked[check_constant(k, where="base constants", mdl_path=mdl_path).name] = float(v)
    for k in params.columns:
        checked.pop(k, None)  # a parameter of the sets overrides the base
    base_t = tuple(sorted(checked.items()))
    model_sha = hashlib.sha256(mdl_path.read_bytes()).hexdigest()
    ident = {"format": _FORMAT, "engine": _engine_id(engine), "params": _params_hash(params), "base": base_t,
             "indicators": list(ind_names), "series": list(ser_names), "time_step": time_step, "model": model_sha}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return _Identity(params, base_t, ind_names, tuple(ser_names), time_step, model_sha, ident, key)


def ensemble_id(params: pd.DataFrame, *, base: Mapping[str, float] | None = None,
                indicators: Sequence[str] | None = None, series: Sequence[str] = (),
                engine: str | Callable = "fast", time_step: float | None = None,
                mdl_path: str | Path = MODEL_PATH) -> str:
    """The identity of an ensemble: a hash of every input that changes its results.

    Two calls give the same identity exactly when the ensembles give the same
    results: the same parameter sets (columns by model name, any case or
    spacing; values to the bit), the same base constants (those the sets do
    not override), indicators, series, engine, integration step and model text.
    The batch size, the workers and the backend are not part of it.

    Parameters
    ----------
    params, base, indicators, series, engine, time_step, mdl_path
        As for :func:`~megacity_sd.ensemble.run_ensemble` (``time_step`` None:
        the model's own step).

    Returns
    -------
    str
        24 hexadecimal digits; the ``key`` of the ensemble's ``manifest.json``.

    Raises
    ------
    UserInputError
        The inputs :func:`~megacity_sd.ensemble.run_ensemble` would refuse.
    """
    return _identify(params, base=base, indicators=indicators, series=series, engine=engine, time_step=time_step,
                     mdl_path=mdl_path).key
