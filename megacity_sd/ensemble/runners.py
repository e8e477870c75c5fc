"""Where batches run: a local process pool, or a Dask cluster, both as a ``concurrent.futures`` executor.

The ensemble runner sees one interface: ``submit`` returns a
:class:`concurrent.futures.Future` (from :class:`~concurrent.futures.ProcessPoolExecutor`,
or from the executor of a Dask client, :meth:`distributed.Client.get_executor`),
waited on with :func:`concurrent.futures.wait` whatever the runner. The runners
differ only in how their workers start, load the model and are replaced.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

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

    #: no time limit on a batch: a dead worker breaks the pool, which :meth:`lost` recognises
    poll = None

    def check(self) -> None:
        """Nothing to check: the pool is in this machine."""

    def lost(self, err: BaseException) -> bool:
        """Whether a batch's error is the pool's (a worker died), not the batch's."""
        return isinstance(err, BrokenProcessPool)

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

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``tcp://HOST:PORT`` of a running scheduler, or a client.
    timeout : float, optional
        Seconds the scheduler has to answer (connecting, and each check while
        batches run). Default: Dask's connect timeout,
        ``distributed.comm.timeouts.connect`` (30 s unless configured, e.g.
        ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=10s``).

    Raises
    ------
    UserInputError
        The address is not one, or no scheduler answers there within ``timeout``
        (refused, unreachable, or a process that accepts and never answers).

    Notes
    -----
    A scheduler lost while batches run (its process killed, stopped, or its
    machine gone) is noticed within about twice ``timeout``: :meth:`check`
    and :meth:`restart` raise :class:`ConnectionError`, and the ensemble stops
    with one line saying what was kept (a batch is never marked failed because
    the scheduler went away). A client construction or a call that hangs on a
    scheduler that does not answer is left behind in a daemon thread.
    """

    def __init__(self, scheduler, *, timeout: float | None = None):
        from distributed import Client

        self.timeout = _dask_timeout() if timeout is None else float(timeout)
        if not self.timeout > 0:
            raise UserInputError(f"timeout {timeout!r}: not allowed; allowed: a number of seconds > 0")
        if isinstance(scheduler, Client):
            self.client, self._own = scheduler, False
            self.address = str(getattr(scheduler.scheduler, "address", scheduler))
        else:
            self.address = str(scheduler).strip()
            allowed = "allowed: the address of a running Dask scheduler, e.g. tcp://HOST:8786"
            try:
                # Client(..., timeout=) gives up on a refused or unreachable address, but waits forever on one
                # that accepts the connection and never answers (a stopped scheduler): bounded here
                self.client = _in_thread(lambda: Client(self.address, timeout=self.timeout, set_as_default=False),
                                         1.5 * self.timeout + 1)
            except _NoAnswer:
                raise UserInputError(f"scheduler {self.address}: no answer within {self.timeout:g} s; "
                                     f"{allowed}") from None
            except (OSError, TimeoutError, ValueError, TypeError) as err:
                why = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise UserInputError(f"scheduler {self.address}: cannot connect ({why}); {allowed}") from None
            self._own = True
        try:
            self.workers = max(1, sum(self._watched(self.client.nthreads).values()))
        except ConnectionError as err:
            self.close()
            raise UserInputError(f"{err}; allowed: the address of a running Dask scheduler") from None
        self.executor = self.client.get_executor(pure=False)  # concurrent.futures.Executor over the cluster

    @property
    def slots(self) -> int:
        return self.workers

    @property
    def max_inflight(self) -> int:
        return 2 * self.workers

    @property
    def poll(self) -> float:
        """Seconds to wait for a batch before checking that the scheduler still answers."""
        return self.timeout

    def check(self) -> None:
        """Ask the scheduler who it is; a scheduler that does not answer within ``timeout`` is lost.

        Raises
        ------
        ConnectionError
            The client is closed, or the scheduler did not answer.
        """
        if self.client.status in ("closing", "closed"):
            _quiet_client_logs(3 * self.timeout + 5)
            raise ConnectionError(f"Dask scheduler {self.address}: connection lost (the client gave up "
                                  "reconnecting)")
        try:
            self.client.sync(self.client.scheduler.identity, callback_timeout=self.timeout)
        except Exception:  # noqa: BLE001 - refused, timed out, closed while asking: all mean no scheduler
            _quiet_client_logs(3 * self.timeout + 5)
            raise ConnectionError(f"Dask scheduler {self.address}: no answer within {self.timeout:g} s "
                                  "(stopped, killed or unreachable)") from None

    def lost(self, err: BaseException) -> bool:
        """Whether a batch's error means the connection to the scheduler broke (not the batch failing)."""
        from concurrent.futures import CancelledError

        return isinstance(err, CancelledError) or self.client.status != "running"

    def _watched(self, fn, *args):
        """``fn(*args)`` (a call to the cluster), checking every ``timeout`` that the scheduler still answers."""
        box: dict = {}

        def call():
            try:
                box["value"] = fn(*args)
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                box["error"] = err

        t = threading.Thread(target=call, daemon=True, name="megacity-sd dask call")
        t.start()
        while True:
            t.join(self.timeout)
            if not t.is_alive():
                break
            self.check()
        if "error" in box:
            raise box["error"]
        return box["value"]

    def warm_up(self, spec: _Spec | None = None) -> None:
        """Load the model in every worker now (else each loads it with its first task)."""
        self._watched(self.client.run, _init_worker_quiet)
        if spec is not None:
            self._watched(self.client.run, _init_worker, spec)

    def submit(self, spec: _Spec, rows: np.ndarray, values: np.ndarray):
        try:
            return self.executor.submit(_evaluate_task, spec, rows, values)
        except Exception:
            if self.client.status != "running":
                self.check()  # raises ConnectionError where the scheduler is gone
            raise

    def restart(self) -> None:
        """Dask replaces dead workers itself; after a broken connection, the scheduler must answer again."""
        self.check()

    def close(self) -> None:
        if self._own:
            try:
                _in_thread(lambda: self.client.close(timeout=self.timeout), 2 * self.timeout + 1)
            except Exception:  # noqa: BLE001 - closing a client whose scheduler is gone: nothing more to do
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _NoAnswer(Exception):
    pass


def _in_thread(fn, seconds: float):
    """``fn()`` in a daemon thread: its result or its error, or :class:`_NoAnswer` after ``seconds``."""
    box: dict = {}

    def call():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            box["error"] = err

    t = threading.Thread(target=call, daemon=True, name="megacity-sd dask call")
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise _NoAnswer
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _dask_timeout() -> float:
    """Dask's connect timeout in seconds (``distributed.comm.timeouts.connect``; 30 if unset)."""
    import dask.config
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect", "30s"), default="s"))


class _QuietFor(logging.Filter):
    """Drops records until a time: the client's own reports of a loss already reported in one line."""

    until = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        return time.monotonic() > self.until


_QUIET = _QuietFor()


def _quiet_client_logs(seconds: float) -> None:
    """Silence ``distributed.client`` for ``seconds``: after a lost scheduler it logs its failed reconnection
    and the cancelled calls of its closing, as tracebacks, around the one line the ensemble reports."""
    log = logging.getLogger("distributed.client")
    if _QUIET not in log.filters:
        log.addFilter(_QUIET)
    _QUIET.until = max(_QUIET.until, time.monotonic() + seconds)
