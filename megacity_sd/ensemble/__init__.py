"""Ensembles: many parameter sets, a local process pool or a Dask cluster, stored in chunks.

:func:`run_ensemble` evaluates N parameter sets (rows of a table whose columns
are model constants, from SALib or a user table) on top of a scenario's
constants. The sets are cut into batches; each worker loads the model once
(the accelerated PySD path, :mod:`megacity_sd.engines.fast`, runs a whole batch
as one vectorised pass); every finished batch is written to its own file in
``out_dir`` (written to a temporary name and renamed), next to a manifest
that identifies the ensemble: its key is :func:`ensemble_id`, the one hash of
every input that changes the results (the analyses name their folders after
it). Running the same ensemble into the same folder
again reads the stored batches and computes only the missing ones; a batch
file that is truncated or altered (unreadable, or arrays of the wrong shape)
is dropped and computed again, with one line on stderr naming it.

A batch whose worker dies (or whose evaluation raises) is retried; a batch
that fails again is evaluated in isolation, split in halves down to single
parameter sets, and a set that fails on its own every time is reported
(``failed.csv`` and :attr:`EnsembleResult.failed`, its outputs NaN). The
runner draws no random numbers: the samples come seeded from the caller
(:mod:`megacity_sd.sensitivity`), so results do not depend on the number of
workers, the backend or the batch size (identical to 1e-12).

On a Dask cluster, a scheduler that does not answer when the run starts is
refused (:class:`~megacity_sd.errors.UserInputError`), and one lost while
batches run (killed, stopped, unreachable) ends the run with a one-line
:class:`ConnectionError` saying how many runs are kept for the resume; see
:class:`DaskRunner`. :class:`RunOptions` checks its values when made.

Layout of ``out_dir``::

    manifest.json          what the ensemble is (key, engine, outputs, parameters, base constants)
    params.csv             the N parameter sets, in order (column ``run`` = row number)
    batches/batch-NNNNNN.npz  rows, indicators (rows x indicators), series (rows x years), failures
    failed.csv             parameter sets that failed in isolation (written at the end, if any)
"""

from ..options import MAX_STEPS_PER_YEAR, check_time_step
from .identity import ensemble_id
from .runner import (
    run_ensemble,
)
from .runners import (
    DaskRunner,
    LocalRunner,
)
from .session import RunOptions, session
from .store import (
    EnsembleResult,
    load_ensemble,
    read_parameter_table,
)
from .tasks import EVALUATIONS

__all__ = [
    "EnsembleResult",
    "LocalRunner",
    "DaskRunner",
    "run_ensemble",
    "load_ensemble",
    "EVALUATIONS",
    "read_parameter_table",
    "RunOptions",
    "session",
    "check_time_step",
    "ensemble_id",
    "MAX_STEPS_PER_YEAR",
]
