"""The worker side of an ensemble: one batch of parameter sets evaluated through the engines."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..engines import engine_model, run_batch
from ..indicators import INDICATORS, indicator_matrix
from ..model import MODEL_PATH

__all__ = ["EVALUATIONS"]

EVALUATIONS = {"runs": 0, "batches": 0}  # this process's count of evaluated sets (tests read it)


_CHECKED: dict[str, str] = {}


def _resolve_model(mdl_path: str | None, sha: str | None) -> str:
    """The model file in this process: the package's own unless another path is given.

    A Dask worker on another machine has its own installation: the parent's
    path may not exist there. The model text must be the parent's (``sha``),
    so that a worker with another model version fails instead of mixing results.
    """
    path = str(MODEL_PATH) if mdl_path is None else mdl_path
    if sha is not None:
        if path not in _CHECKED:
            _CHECKED[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if _CHECKED[path] != sha:
            raise RuntimeError(f"the model file of this worker ({path}) differs from the one the ensemble was "
                               "started with: install the same megacity-sd version on every worker")
    return path


@dataclass(frozen=True)
class _Spec:
    """What every task needs (sent with each task; small)."""

    engine: str | Callable
    columns: tuple[str, ...]
    base: tuple[tuple[str, float], ...]
    indicators: tuple[str, ...]
    series: tuple[str, ...]
    time_step: float | None
    mdl_path: str | None  # None: the package's own model file (on every worker)
    model_sha: str | None = None
    py_path: str | None = None  # the parent's PySD translation (used where the worker sees it)


def _variables(spec: _Spec) -> list[str]:
    by_name = {i.name: i for i in INDICATORS}
    return list(dict.fromkeys([by_name[i].variable for i in spec.indicators] + list(spec.series)))


def _evaluate_task(spec: _Spec, rows: np.ndarray, values: np.ndarray) -> dict:
    """Evaluate one batch (runs in a worker). Returns rows, indicators and series."""
    params = pd.DataFrame(values, columns=list(spec.columns))
    mdl = _resolve_model(spec.mdl_path, spec.model_sha)
    if isinstance(spec.engine, str):
        years, series = run_batch(spec.engine, params, dict(spec.base), _variables(spec),
                                  time_step=spec.time_step, mdl_path=mdl, py_path=spec.py_path)
    else:
        years, series = spec.engine(params, dict(spec.base), _variables(spec), time_step=spec.time_step,
                                    mdl_path=mdl)
    by_name = {i.name: i for i in INDICATORS}
    ind = indicator_matrix(years, series, [by_name[i] for i in spec.indicators])
    EVALUATIONS["runs"] += len(rows)
    EVALUATIONS["batches"] += 1
    return {"rows": np.asarray(rows), "years": np.asarray(years), "ind": ind,
            "series": {s: series[s] for s in spec.series}}


def _init_worker(spec: _Spec) -> None:
    """Load the model once per worker process; Ctrl-C is the parent's to handle."""
    _ignore_sigint()
    _known_warnings_only()
    if isinstance(spec.engine, str):
        engine_model(spec.engine, _resolve_model(spec.mdl_path, spec.model_sha), spec.time_step, spec.py_path)


def _init_worker_quiet() -> None:
    _ignore_sigint()
    _known_warnings_only()


def _known_warnings_only() -> None:
    """A worker silences the engines' known, harmless warnings (engines.KNOWN_WARNINGS) for good; any other is
    shown once per place it comes from (Python's default), on the terminal the ensemble runs in."""
    from ..engines import KNOWN_WARNINGS

    warnings.simplefilter("default")
    for message, category, module in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def _ignore_sigint() -> None:
    """Workers ignore Ctrl-C (the terminal sends it to the whole process group): the parent stops them."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # a dask worker runs tasks in other threads
        signal.signal(signal.SIGINT, signal.SIG_IGN)
