"""Ensembles: many parameter sets, a local process pool or a Dask cluster, stored in chunks.

:func:`run_ensemble` evaluates N parameter sets (rows of a table whose columns
are model constants, from SALib or a user table) on top of a scenario's
constants. The sets are cut into batches; each worker loads the model once
(the accelerated PySD path, :mod:`megacity_sd.pysd_fast`, runs a whole batch
as one vectorised pass); every finished batch is written to its own file in
``out_dir`` (written to a temporary name and renamed), next to a manifest
that identifies the ensemble. Running the same ensemble into the same folder
again reads the stored batches and computes only the missing ones.

A batch whose worker dies (or whose evaluation raises) is retried; a batch
that fails again is evaluated in isolation, split in halves down to single
parameter sets, and a set that fails on its own every time is reported
(``failed.csv`` and :attr:`EnsembleResult.failed`, its outputs NaN). The
runner draws no random numbers: the samples come seeded from the caller
(:mod:`megacity_sd.sensitivity`), so results do not depend on the number of
workers, the backend or the batch size (identical to 1e-12).

Layout of ``out_dir``::

    manifest.json          what the ensemble is (key, engine, outputs, parameters, base constants)
    params.csv             the N parameter sets, in order (column ``run`` = row number)
    batches/batch-NNNNNN.npz  rows, indicators (rows x indicators), series (rows x years), failures
    failed.csv             parameter sets that failed in isolation (written at the end, if any)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .engines import ENGINES, engine_model, run_batch
from .errors import Interrupted, UserInputError
from .indicators import INDICATORS, indicator_matrix
from .io import read_csv_table, write_atomic, write_csv_atomic
from .model import MODEL_PATH, canonical, check_constant, model_doc

__all__ = [
    "EnsembleResult",
    "LocalRunner",
    "DaskRunner",
    "run_ensemble",
    "load_ensemble",
    "indicator_matrix",
    "read_parameter_table",
]

_FORMAT = 1


# ----------------------------------------------------------------------------- evaluation (worker side)

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
    warnings.simplefilter("ignore")
    if isinstance(spec.engine, str):
        engine_model(spec.engine, _resolve_model(spec.mdl_path, spec.model_sha), spec.time_step, spec.py_path)


# ----------------------------------------------------------------------------- runners


class LocalRunner:
    """A local process pool whose workers load the model once.

    Parameters
    ----------
    workers : int
        Number of worker processes (0: evaluate in this process).
    spec : _Spec, optional
        Loaded by each worker when it starts.

    Use as a context manager, or call :meth:`close`. A pool broken by a dying
    worker is replaced by :meth:`restart`.
    """

    def __init__(self, workers: int, spec: _Spec | None = None):
        self.workers = int(workers)
        self.spec = spec
        self._pool: ProcessPoolExecutor | None = None
        if self.workers > 0:
            self._start()

    def _start(self):
        import multiprocessing as mp

        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload(["megacity_sd.ensemble", "megacity_sd.pysd_fast"])
        kwargs = {"initializer": _init_worker, "initargs": (self.spec,)} if self.spec is not None else {}
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, **kwargs)

    @property
    def slots(self) -> int:
        return max(1, self.workers)

    @property
    def max_inflight(self) -> int:
        """Batches submitted ahead: two per worker keep every worker busy; one in this process."""
        return 2 * self.workers if self.workers > 0 else 1

    def warm_up(self) -> None:
        """Start every worker (and load the model in it) before timing anything."""
        if self._pool is not None:
            list(self._pool.map(_sleep, [0.2] * self.workers))

    def submit(self, spec: _Spec, rows: np.ndarray, values: np.ndarray):
        if self._pool is None:
            from concurrent.futures import Future

            fut: Future = Future()
            try:
                fut.set_result(_evaluate_task(spec, rows, values))
            except Exception as err:  # noqa: BLE001 - reported by the caller
                fut.set_exception(err)
            return fut
        return self._pool.submit(_evaluate_task, spec, rows, values)

    def restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._start()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _sleep(s: float) -> None:
    time.sleep(s)


class DaskRunner:
    """Batches on a Dask cluster: an existing scheduler address or a ``distributed.Client``.

    Each worker process loads the model on its first task and keeps it
    (module-level cache), so the model is loaded once per worker. The workers
    must have megacity-sd installed.
    """

    def __init__(self, scheduler):
        from distributed import Client

        if isinstance(scheduler, Client):
            self.client, self._own = scheduler, False
        else:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as err:
                raise UserInputError(f"scheduler {scheduler}: cannot connect ({err}); allowed: the "
                                     "address of a running Dask scheduler, e.g. tcp://HOST:8786") from None
            self._own = True
        self.workers = max(1, sum(self.client.nthreads().values()))

    @property
    def slots(self) -> int:
        return self.workers

    @property
    def max_inflight(self) -> int:
        return 2 * self.workers

    def warm_up(self, spec: _Spec | None = None) -> None:
        """Load the model in every worker now (else each loads it with its first task)."""
        self.client.run(_init_worker_quiet)
        if spec is not None:
            self.client.run(_init_worker, spec)

    def submit(self, spec: _Spec, rows: np.ndarray, values: np.ndarray):
        return self.client.submit(_evaluate_task, spec, rows, values, pure=False)

    def restart(self) -> None:  # Dask replaces dead workers itself
        pass

    def close(self) -> None:
        if self._own:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _init_worker_quiet() -> None:
    _ignore_sigint()
    warnings.simplefilter("ignore")


def _ignore_sigint() -> None:
    """Workers ignore Ctrl-C (the terminal sends it to the whole process group): the parent stops them."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # a dask worker runs tasks in other threads
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# ----------------------------------------------------------------------------- storage


@dataclass
class EnsembleResult:
    """An ensemble's inputs and outputs.

    Attributes
    ----------
    params : pandas.DataFrame
        The parameter sets (index ``run``).
    indicators : pandas.DataFrame
        One row per run, one column per named indicator (units as in
        :data:`megacity_sd.indicators.INDICATORS`).
    series : dict of str to pandas.DataFrame
        For each stored variable, runs x years, in model units.
    failed : pandas.DataFrame
        Parameter sets that failed in isolation, with the error.
    stats : dict
        ``runs``, ``batches``, ``batches_stored`` (found on disk),
        ``batches_computed``, ``runs_computed``, ``failed_attempts``, ``seconds``.
    out_dir : Path
    """

    params: pd.DataFrame
    indicators: pd.DataFrame
    series: dict[str, pd.DataFrame]
    failed: pd.DataFrame
    stats: dict = field(default_factory=dict)
    out_dir: Path | None = None


def _write_json(obj, path: Path) -> None:
    def w(tmp):
        Path(tmp).write_text(json.dumps(obj, indent=1, sort_keys=True), encoding="utf-8")

    write_atomic(path, w, ".tmp")


def _batch_path(out_dir: Path, b: int) -> Path:
    return out_dir / "batches" / f"batch-{b:06d}.npz"


def _write_batch(out_dir: Path, b: int, res: dict, series: Sequence[str], failures: dict[int, str]) -> None:
    arrays = {"rows": res["rows"], "years": res["years"], "ind": res["ind"]}
    for j, s in enumerate(series):
        arrays[f"s{j}"] = res["series"][s]
    fr = sorted(failures)
    arrays["failed_rows"] = np.asarray(fr, dtype=np.int64)
    arrays["failed_msg"] = np.asarray([failures[r] for r in fr], dtype=str)

    def w(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    write_atomic(_batch_path(out_dir, b), w, ".npz.tmp")


def _read_batch(out_dir: Path, b: int, n_series: int) -> dict | None:
    p = _batch_path(out_dir, b)
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            return {"rows": z["rows"], "years": z["years"], "ind": z["ind"],
                    "series": [z[f"s{j}"] for j in range(n_series)],
                    "failed": dict(zip(z["failed_rows"].tolist(), z["failed_msg"].tolist(), strict=True))}
    except (OSError, ValueError, KeyError, EOFError):
        return None  # unreadable: computed again


def _params_hash(params: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(list(params.columns)).encode())
    h.update(np.ascontiguousarray(params.to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()


def read_parameter_table(path: str | Path) -> pd.DataFrame:
    """A user table of parameter sets: CSV, one column per model constant (optional ``run`` column)."""
    df = read_csv_table(path)
    if "run" in df.columns:
        df = df.set_index("run")
    return df


def _check_params(params: pd.DataFrame, mdl_path: Path) -> pd.DataFrame:
    names = []
    for c in params.columns:
        names.append(check_constant(str(c), where=f"parameter table: column '{c}'", mdl_path=mdl_path).name)
    if len(set(names)) != len(names):
        raise UserInputError("parameter table: a constant appears twice among the columns")
    try:
        values = params.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise UserInputError("parameter table: every value must be a number") from None
    if not np.isfinite(values).all():
        raise UserInputError("parameter table: every value must be a finite number (no NaN or inf)")
    out = pd.DataFrame(values, columns=names)
    out.index = pd.RangeIndex(len(out), name="run")
    return out


def _default_batch_size(engine, n: int, slots: int) -> int:
    if engine == "fast":
        cap, floor = 2000, 16
    elif engine == "simlin":
        cap, floor = 100, 1
    else:
        cap, floor = 2, 1
    return int(min(cap, max(floor, math.ceil(n / (4 * slots)))))


# ----------------------------------------------------------------------------- the runner


def run_ensemble(params: pd.DataFrame, out_dir: str | Path, *, base: Mapping[str, float] | None = None,
                 indicators: Sequence[str] | None = None, series: Sequence[str] = (),
                 engine: str | Callable = "fast", batch_size: int | None = None, workers: int | None = None,
                 scheduler=None, runner: LocalRunner | DaskRunner | None = None, time_step: float | None = None,
                 retries: int = 1, progress: bool = True, seed: int | None = None, label: str = "ensemble",
                 on_batch: Callable[[int, int], None] | None = None,
                 mdl_path: str | Path = MODEL_PATH) -> EnsembleResult:
    """Evaluate parameter sets, stream results to ``out_dir`` in batches, resume if interrupted.

    Parameters
    ----------
    params : pandas.DataFrame
        One row per parameter set; columns are model constants (model names,
        any case or spacing).
    out_dir : str or Path
        Folder of the stored ensemble. If it already holds this ensemble
        (same key), stored batches are read and only missing ones computed.
    base : mapping, optional
        Constants shared by every set (a resolved scenario's ``constants``).
    indicators : sequence of str, optional
        Names from :data:`megacity_sd.indicators.INDICATORS` (default: all).
    series : sequence of str
        Model variables whose yearly values are stored too (e.g. ``CO2
        emissions``, ``PM25``, ``Population``).
    engine : {"fast", "simlin", "pysd"} or callable
        See :func:`megacity_sd.engines.run_batch`; a picklable callable with the
        signature of :func:`~megacity_sd.engines.run_batch` minus ``engine`` may replace it.
    batch_size : int, optional
        Sets per batch (default: a quarter of the sets per worker, at most
        2000 for ``fast``, 100 for ``simlin``; on resume, the stored one).
    workers : int, optional
        Local worker processes (default: the number of CPUs; 0: in this process).
    scheduler : str or distributed.Client, optional
        Address of a running Dask scheduler (``tcp://HOST:PORT``) or a client;
        replaces the local pool.
    runner : LocalRunner or DaskRunner, optional
        An already started runner (reused across ensembles; not closed here).
    time_step : float, optional
        Integration step in years (default: the model's TIME STEP, 1/8).
    retries : int
        Extra attempts of a failed batch before it is evaluated in isolation.
    progress : bool
        Show a progress bar (tqdm, on stderr).
    seed : int, optional
        The seed that generated ``params``; recorded in the manifest.
    label : str
        Progress-bar label.
    on_batch : callable, optional
        Called as ``on_batch(batch, rows)`` after each batch is stored.

    Returns
    -------
    EnsembleResult

    Raises
    ------
    UserInputError
        A column that is not a model constant, a non-numeric value, an
        ``out_dir`` holding a different ensemble, a bad worker count.
    """
    mdl_path = Path(mdl_path)
    if isinstance(engine, str) and engine not in ENGINES:
        raise UserInputError(f"engine {engine!r} not allowed; allowed: {', '.join(ENGINES)}")
    if workers is not None and (not isinstance(workers, int | np.integer) or workers < 0):
        raise UserInputError(f"workers {workers}: not allowed; allowed: an integer >= 0")
    if scheduler is not None and workers is not None:
        raise UserInputError("workers and scheduler: choose one (a local pool or a Dask cluster)")
    if time_step is not None:
        steps = 1.0 / float(time_step) if float(time_step) > 0 else 0.0
        if not (0 < float(time_step) <= 1 and abs(steps - round(steps)) < 1e-9):
            raise UserInputError(f"time step {time_step!r}: not allowed; allowed: 1/k year for an integer k >= 1 "
                                 "(the saved years must be steps)")
    params = _check_params(pd.DataFrame(params), mdl_path)
    n = len(params)
    if n == 0:
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
    base_in, base = dict(base or {}), {}
    for k, v in base_in.items():
        base[check_constant(k, where="base constants", mdl_path=mdl_path).name] = float(v)
    for k in params.columns:
        base.pop(k, None)
    model_sha = hashlib.sha256(mdl_path.read_bytes()).hexdigest()
    py_path = None
    if engine in ("fast", "pysd"):
        from .model import translated_path

        py_path = str(translated_path(mdl_path))  # translate once, here, before any worker needs it
    spec = _Spec(engine, tuple(params.columns), tuple(sorted(base.items())), ind_names, tuple(ser_names),
                 None if time_step is None else float(time_step),
                 None if mdl_path.resolve() == MODEL_PATH.resolve() else str(mdl_path), model_sha, py_path)

    out_dir = Path(out_dir)
    engine_id = engine if isinstance(engine, str) else \
        f"{getattr(engine, '__module__', '')}.{getattr(engine, '__qualname__', repr(engine))}"
    ident = {"format": _FORMAT, "engine": engine_id, "params": _params_hash(params), "base": spec.base,
             "indicators": list(ind_names), "series": list(ser_names), "time_step": spec.time_step,
             "model": model_sha}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:24]
    manifest_path = out_dir / "manifest.json"
    stored_bs = None
    if manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UserInputError(f"{manifest_path}: unreadable manifest; allowed: an empty folder or the "
                                 "folder of the same ensemble") from None
        if old.get("key") != key:
            raise UserInputError(f"{out_dir}: holds a different ensemble (other parameters, scenario, outputs, "
                                 "engine or model); allowed: an empty folder or the folder of the same ensemble")
        stored_bs = int(old["batch_size"])
        if batch_size is not None and int(batch_size) != stored_bs:
            raise UserInputError(f"batch size {batch_size}: the stored ensemble in {out_dir} uses {stored_bs}; "
                                 "allowed: the same batch size (or none)")
    own_runner = runner is None
    if runner is None:
        if scheduler is not None:
            runner = DaskRunner(scheduler)
        else:
            w = (os.cpu_count() or 1) if workers is None else int(workers)
            runner = LocalRunner(w, spec)
    if isinstance(runner, DaskRunner):
        runner.warm_up(spec)  # the model loaded once in every worker, before the batches
    try:
        return _run(params, out_dir, spec, key, ident, runner, n, stored_bs or batch_size, retries, progress,
                    seed, label, on_batch)
    finally:
        if own_runner:
            runner.close()


def _run(params, out_dir, spec, key, ident, runner, n, batch_size, retries, progress, seed, label, on_batch):
    t_start = time.perf_counter()
    bs = int(batch_size) if batch_size is not None else _default_batch_size(spec.engine, n, runner.slots)
    if bs < 1:
        raise UserInputError(f"batch size {bs}: not allowed; allowed: an integer >= 1")
    n_batches = math.ceil(n / bs)
    manifest = {"key": key, **ident, "batch_size": bs, "n": n, "n_batches": n_batches,
                "parameters": list(params.columns), "base": dict(spec.base), "seed": seed,
                "engine": ident["engine"], "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (out_dir / "manifest.json").is_file():
        write_csv_atomic(params.reset_index(), out_dir / "params.csv")
        _write_json(manifest, out_dir / "manifest.json")
    values = params.to_numpy(dtype=float)
    stored: dict[int, dict] = {}
    for b in range(n_batches):
        got = _read_batch(out_dir, b, len(spec.series))
        if got is not None and len(got["rows"]) == min(bs, n - b * bs):
            stored[b] = got
    n_stored_batches = len(stored)
    todo = deque((b, np.arange(b * bs, min(n, (b + 1) * bs)), 0) for b in range(n_batches) if b not in stored)
    stats = {"runs": n, "batches": n_batches, "batch_size": bs, "batches_stored": n_stored_batches,
             "batches_computed": 0, "runs_computed": 0, "failed_attempts": 0}
    n_reused = sum(len(s["rows"]) for s in stored.values())
    if progress and n_reused:
        print(f"{label}: resuming; {n_reused} of {n} runs reused from {out_dir}", flush=True)
    bar = _progress(progress, n, n_reused, label)
    # parts of batches under isolation: batch -> list of results; failures per batch
    parts: dict[int, list[dict]] = {}
    remaining: dict[int, int] = {}
    failures: dict[int, dict[int, str]] = {}
    isolation: deque = deque()  # (batch, rows, attempt): evaluated one at a time
    inflight: dict = {}
    try:
        while todo or isolation or inflight:
            if isolation and not inflight:
                b, rows, attempt = isolation.popleft()
                inflight[runner.submit(spec, rows, values[rows])] = (b, rows, attempt, True)
            while todo and not isolation and len(inflight) < runner.max_inflight:
                b, rows, attempt = todo.popleft()
                inflight[runner.submit(spec, rows, values[rows])] = (b, rows, attempt, False)
            if not inflight:
                continue
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED) if not _is_dask(runner) \
                else _dask_wait(list(inflight))
            broken = False
            for fut in sorted(done, key=lambda f: (inflight[f][0], int(inflight[f][1][0]))):  # in batch order
                b, rows, attempt, isolated = inflight.pop(fut)
                try:
                    res = fut.result()
                except BaseException as err:  # noqa: BLE001 - a dying worker or a failing model run
                    if isinstance(err, KeyboardInterrupt):
                        raise
                    broken |= isinstance(err, BrokenProcessPool)
                    msg = _describe(err)
                    stats["failed_attempts"] += 1
                    if attempt < retries:
                        (isolation if isolated else todo).append((b, rows, attempt + 1))
                    elif len(rows) > 1:  # isolate: halves, one at a time
                        half = len(rows) // 2
                        remaining[b] = remaining.get(b, 1) + 1
                        isolation.extend([(b, rows[:half], 0), (b, rows[half:], 0)])
                    else:
                        failures.setdefault(b, {})[int(rows[0])] = msg
                        n_failed = sum(len(f) for f in failures.values()) + sum(len(s["failed"]) for s in
                                                                                 stored.values())
                        if n_failed >= 3 and stats["runs_computed"] == 0 and not n_stored_batches:
                            raise RuntimeError(f"ensemble: every evaluation fails, stopped after {n_failed} "
                                               f"parameter sets failed in isolation; last error: {msg}") from err
                        parts.setdefault(b, []).append(_nan_result(spec, rows, msg))
                        remaining[b] = remaining.get(b, 1) - 1
                        _maybe_store(b, out_dir, spec, parts, remaining, failures, stored, stats, bar, on_batch)
                    continue
                parts.setdefault(b, []).append(res)
                remaining[b] = remaining.get(b, 1) - 1
                stats["runs_computed"] += len(rows)
                _maybe_store(b, out_dir, spec, parts, remaining, failures, stored, stats, bar, on_batch)
            if broken:
                # every other task of the broken pool failed with it: resubmit them without counting an attempt
                for b, rows, attempt, isolated in list(inflight.values()):
                    (isolation if isolated else todo).appendleft((b, rows, attempt))
                inflight.clear()
                runner.restart()
    except KeyboardInterrupt:
        kept = sum(len(s["rows"]) for s in stored.values())
        raise Interrupted(f"{kept} of {n} runs of {label} kept in {out_dir}; run the same command to resume") \
            from None
    finally:
        for fut in inflight:
            fut.cancel()
        bar.close()
    stats["seconds"] = time.perf_counter() - t_start
    result = _assemble(params, stored, spec, n, out_dir)
    result.stats = stats
    if len(result.failed):
        write_csv_atomic(result.failed, out_dir / "failed.csv")
    return result


def _is_dask(runner) -> bool:
    return isinstance(runner, DaskRunner)


def _dask_wait(futures):
    from distributed import wait as dwait

    res = dwait(futures, return_when="FIRST_COMPLETED")
    return res.done, res.not_done


def _describe(err: BaseException) -> str:
    if isinstance(err, BrokenProcessPool):
        return "worker process died (BrokenProcessPool)"
    name = type(err).__name__
    if name == "KilledWorker":
        return "worker process died (dask KilledWorker)"
    last = traceback.format_exception_only(type(err), err)[-1].strip()
    return last.splitlines()[0][:300]


def _nan_result(spec: _Spec, rows: np.ndarray, msg: str) -> dict:
    return {"rows": np.asarray(rows), "years": None, "ind": np.full((len(rows), len(spec.indicators)), np.nan),
            "series": {s: None for s in spec.series}, "nan": True}


def _maybe_store(b, out_dir, spec, parts, remaining, failures, stored, stats, bar, on_batch) -> None:
    if remaining[b] > 0:
        return
    chunks = sorted(parts.pop(b), key=lambda r: int(r["rows"][0]))
    remaining.pop(b, None)
    years = next((c["years"] for c in chunks if c["years"] is not None), None)
    if years is None:  # every set of the batch failed: no years known here
        years = np.arange(0)
    rows = np.concatenate([c["rows"] for c in chunks])
    ind = np.concatenate([c["ind"] for c in chunks])
    series = {}
    for s in spec.series:
        series[s] = np.concatenate([c["series"][s] if c["series"][s] is not None
                                    else np.full((len(c["rows"]), len(years)), np.nan) for c in chunks])
    res = {"rows": rows, "years": np.asarray(years), "ind": ind, "series": series}
    fails = failures.pop(b, {})
    _write_batch(out_dir, b, res, spec.series, fails)
    stored[b] = {"rows": rows, "years": res["years"], "ind": ind, "series": [series[s] for s in spec.series],
                 "failed": fails}
    stats["batches_computed"] += 1
    bar.update(len(rows))
    if on_batch is not None:
        on_batch(b, len(rows))


def _assemble(params: pd.DataFrame, stored: dict[int, dict], spec: _Spec, n: int, out_dir: Path) -> EnsembleResult:
    order = sorted(stored)
    rows = np.concatenate([stored[b]["rows"] for b in order])
    if len(rows) != n or not np.array_equal(rows, np.arange(n)):
        raise RuntimeError("ensemble: stored batches do not cover every parameter set")
    ind = np.concatenate([stored[b]["ind"] for b in order])
    indicators = pd.DataFrame(ind, columns=list(spec.indicators), index=params.index)
    years = next((stored[b]["years"] for b in order if len(stored[b]["years"])), np.arange(0))
    series = {}
    for j, s in enumerate(spec.series):
        arr = np.concatenate([stored[b]["series"][j] if stored[b]["series"][j].shape[1] == len(years)
                              else np.full((len(stored[b]["rows"]), len(years)), np.nan) for b in order])
        series[s] = pd.DataFrame(arr, index=params.index, columns=pd.Index(years, name="year"))
    fails = {r: m for b in order for r, m in stored[b]["failed"].items()}
    failed = params.loc[sorted(fails)].copy()
    failed["error"] = [fails[r] for r in sorted(fails)]
    return EnsembleResult(params, indicators, series, failed.reset_index(), out_dir=out_dir)


def load_ensemble(out_dir: str | Path) -> EnsembleResult:
    """Read a finished ensemble back from its folder.

    Raises
    ------
    UserInputError
        No manifest, or batches missing (the ensemble has not finished: run it again to resume).
    """
    out_dir = Path(out_dir)
    try:
        man = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserInputError(f"{out_dir}: no readable manifest.json; allowed: the folder of an ensemble") from None
    params = pd.read_csv(out_dir / "params.csv").set_index("run")
    spec = _Spec(man["engine"], tuple(man["parameters"]), tuple(tuple(x) for x in man["base"].items()),
                 tuple(man["indicators"]), tuple(man["series"]), man["time_step"], "")
    stored = {}
    for b in range(man["n_batches"]):
        got = _read_batch(out_dir, b, len(spec.series))
        if got is None:
            raise UserInputError(f"{out_dir}: batch {b} missing; allowed: a finished ensemble (run it again "
                                 "to resume)")
        stored[b] = got
    res = _assemble(params, stored, spec, man["n"], out_dir)
    res.stats = {"runs": man["n"], "batches": man["n_batches"], "batch_size": man["batch_size"]}
    return res


def _progress(enabled: bool, total: int, initial: int, label: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="run", desc=label, smoothing=0.1, mininterval=0.5,
                dynamic_ncols=True, disable=not enabled)
