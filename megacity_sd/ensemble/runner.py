"""Running an ensemble: batches over a runner, retries, isolation of failing sets, progress, resume, Ctrl-C."""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import Interrupted, UserInputError
from ..io import write_csv_atomic
from ..model import MODEL_PATH
from ..options import check_count
from .identity import _identify
from .runners import DaskRunner, LocalRunner
from .store import (
    EnsembleResult,
    _assemble,
    _batch_path,
    _DamagedBatch,
    _read_batch,
    _write_batch,
    _write_json,
)
from .tasks import _Spec

__all__ = [
    "run_ensemble",
]


def _default_batch_size(engine, n: int, slots: int) -> int:
    if engine == "fast":
        cap, floor = 2000, 16
    elif engine == "simlin":
        cap, floor = 100, 1
    else:
        cap, floor = 2, 1
    return int(min(cap, max(floor, math.ceil(n / (4 * slots)))))


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
        replaces the local pool. It must answer within Dask's connect timeout
        (:class:`~megacity_sd.ensemble.DaskRunner`).
    runner : LocalRunner or DaskRunner, optional
        An already started runner (reused across ensembles; not closed here).
    time_step : float, optional
        Integration step in years, 1/k year for an integer k from 1 to
        :data:`~megacity_sd.options.MAX_STEPS_PER_YEAR` (default: the
        model's TIME STEP, 1/8).
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
        ``out_dir`` holding a different ensemble, a count (``workers``,
        ``batch_size``, ``retries``) that is not an integer in range, a
        ``time_step`` that is not allowed, a scheduler that does not answer
        when the run starts.
    ConnectionError
        The Dask scheduler stopped answering while batches ran (one line: the
        scheduler, and how many runs are kept for the resume).
    RuntimeError
        Every evaluation fails (the first sets failed in isolation).
    """
    mdl_path = Path(mdl_path)
    workers = check_count(workers, "workers", 0)
    batch_size = check_count(batch_size, "batch_size", 1)
    retries = check_count(retries, "retries", 0, none=False)
    if scheduler is not None and workers is not None:
        raise UserInputError("workers and scheduler: choose one (a local pool or a Dask cluster)")
    idn = _identify(params, base=base, indicators=indicators, series=series, engine=engine, time_step=time_step,
                    mdl_path=mdl_path)
    params, ident, key = idn.params, idn.ident, idn.key
    n = len(params)
    py_path = None
    if engine in ("fast", "pysd"):
        from ..model import translated_path

        py_path = str(translated_path(mdl_path))  # translate once, here, before any worker needs it
    spec = _Spec(engine, tuple(params.columns), idn.base, idn.indicators, idn.series, idn.time_step,
                 None if mdl_path.resolve() == MODEL_PATH.resolve() else str(mdl_path), idn.model_sha, py_path)

    out_dir = Path(out_dir)
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
                                 "engine, time step or model); allowed: an empty folder or the folder of the same "
                                 "ensemble")
        stored_bs = int(old["batch_size"])
        if batch_size is not None and int(batch_size) != stored_bs:
            raise UserInputError(f"batch_size {batch_size}: the stored ensemble in {out_dir} uses {stored_bs}; "
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
        write_csv_atomic(params.reset_index(), out_dir / "params.csv", now=True)
        _write_json(manifest, out_dir / "manifest.json")
    values = params.to_numpy(dtype=float)
    stored: dict[int, dict] = {}
    damaged = []
    for b in range(n_batches):
        try:
            got = _read_batch(out_dir, b, len(spec.series), rows=np.arange(b * bs, min(n, (b + 1) * bs)),
                              n_ind=len(spec.indicators))
        except _DamagedBatch as err:  # truncated (a crash, a full disk) or altered: dropped, computed again
            path = _batch_path(out_dir, b)
            path.unlink(missing_ok=True)
            damaged.append(b)
            print(f"{label}: batch {b} of {out_dir} was damaged ({err}); dropped, computing it again",
                  file=sys.stderr, flush=True)
            continue
        if got is not None:
            stored[b] = got
    n_stored_batches = len(stored)
    todo = deque((b, np.arange(b * bs, min(n, (b + 1) * bs)), 0) for b in range(n_batches) if b not in stored)
    stats = {"runs": n, "batches": n_batches, "batch_size": bs, "batches_stored": n_stored_batches,
             "batches_damaged": damaged, "batches_computed": 0, "runs_computed": 0, "failed_attempts": 0}
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
            # a Dask batch is waited for `poll` seconds at a time; between, the scheduler must answer (else
            # ConnectionError): a lost scheduler ends the run instead of hanging it
            done, _ = wait(list(inflight), timeout=runner.poll, return_when=FIRST_COMPLETED)
            if not done:
                runner.check()
                continue
            broken = False
            for fut in sorted(done, key=lambda f: (inflight[f][0], int(inflight[f][1][0]))):  # in batch order
                b, rows, attempt, isolated = inflight.pop(fut)
                try:
                    res = fut.result()
                except BaseException as err:  # noqa: BLE001 - a dying worker or a failing model run
                    if isinstance(err, KeyboardInterrupt):
                        raise
                    if runner.lost(err) and not isinstance(err, BrokenProcessPool):
                        # the connection to the cluster broke, the batch did not fail: again, not an attempt
                        (isolation if isolated else todo).appendleft((b, rows, attempt))
                        broken = True
                        continue
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
    except ConnectionError as err:  # the runner's: the scheduler is lost (a batch's own errors are caught above)
        kept = sum(len(s["rows"]) for s in stored.values())
        raise ConnectionError(f"{err}; {kept} of {n} runs of {label} kept in {out_dir}; run the same command "
                              "to resume") from None
    finally:
        for fut in inflight:
            fut.cancel()
        bar.close()
    stats["seconds"] = time.perf_counter() - t_start
    result = _assemble(params, stored, spec, n, out_dir)
    result.stats = stats
    if len(result.failed):
        write_csv_atomic(result.failed, out_dir / "failed.csv", now=True)
    return result


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


def _progress(enabled: bool, total: int, initial: int, label: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="run", desc=label, smoothing=0.1, mininterval=0.5,
                dynamic_ncols=True, disable=not enabled)
