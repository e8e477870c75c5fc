"""Where batches run: a local process pool, or a Dask cluster, both as a ``concurrent.futures`` executor.

The ensemble runner sees one interface: ``submit`` returns a
:class:`concurrent.futures.Future` (from :class:`~concurrent.futures.ProcessPoolExecutor`,
or from the executor of a Dask client, :meth:`distributed.Client.get_executor`),
waited on with :func:`concurrent.futures.wait` whatever the runner. The runners
differ only in how their workers start, load the model and are replaced.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..errors import UserInputError
from .tasks import _evaluate_task, _init_worker, _init_worker_quiet, _Spec

__all__ = [
    "LocalRunner",
    "DaskRunner",
]


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
            ctx.set_forkserver_preload(["megacity_sd.ensemble", "megacity_sd.engines.fast"])
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
        self.executor = self.client.get_executor(pure=False)  # concurrent.futures.Executor over the cluster

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
        return self.executor.submit(_evaluate_task, spec, rows, values)

    def restart(self) -> None:  # Dask replaces dead workers itself
        pass

    def close(self) -> None:
        if self._own:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
