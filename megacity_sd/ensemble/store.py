"""The stored ensemble: manifest, one file per batch, resume, and reading a finished ensemble back."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserInputError
from ..io import read_csv_table, write_atomic
from ..model import check_constant
from .tasks import _Spec

__all__ = [
    "EnsembleResult",
    "read_parameter_table",
    "load_ensemble",
]


_FORMAT = 1


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
        ``batches_damaged`` (found on disk but truncated or altered: dropped and
        computed again), ``batches_computed``, ``runs_computed``,
        ``failed_attempts``, ``seconds``.
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

    write_atomic(path, w, ".tmp", now=True)  # the resumable store lands at once, also inside staged_outputs


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
            fh.flush()
            os.fsync(fh.fileno())  # on disk before the rename: a power cut leaves the batch whole or absent

    write_atomic(_batch_path(out_dir, b), w, ".npz.tmp", now=True)


# what numpy.load and zipfile raise on a truncated or altered .npz (found by truncating one at every length
# and flipping single bits): BadZipFile mostly, EOFError and ValueError inside an array, KeyError for a
# damaged member name, NotImplementedError / RuntimeError for a damaged compression or encryption flag
_UNREADABLE = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError,
               RuntimeError)


class _DamagedBatch(Exception):
    """A stored batch file that cannot be read or does not hold what its name says (the message says why)."""


def _read_batch(out_dir: Path, b: int, n_series: int, *, rows: np.ndarray | None = None,
                n_ind: int | None = None) -> dict | None:
    """Batch ``b`` as stored, or None if there is no file.

    Parameters
    ----------
    rows : numpy.ndarray, optional
        The parameter sets the batch must hold (checked when given).
    n_ind : int, optional
        The number of indicators it must hold (checked when given).

    Raises
    ------
    _DamagedBatch
        The file is truncated or altered (unreadable, or arrays of the wrong shape).
    """
    p = _batch_path(out_dir, b)
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            got = {"rows": z["rows"], "years": z["years"], "ind": z["ind"],
                   "series": [z[f"s{j}"] for j in range(n_series)],
                   "failed": dict(zip(z["failed_rows"].tolist(), z["failed_msg"].tolist(), strict=True))}
    except _UNREADABLE as err:
        raise _DamagedBatch(f"unreadable: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                           .rstrip(": ")) from None
    problem = _batch_problem(got, rows, n_ind)
    if problem:
        raise _DamagedBatch(problem)
    return got


def _batch_problem(got: dict, rows: np.ndarray | None, n_ind: int | None) -> str:
    """Why a loaded batch is not consistent ("" if it is)."""
    r, years, ind = got["rows"], got["years"], got["ind"]
    if r.ndim != 1 or years.ndim != 1 or ind.ndim != 2 or not np.issubdtype(r.dtype, np.integer):
        return "arrays of the wrong dimensions"
    if rows is not None and not np.array_equal(r, rows):
        return f"holds other parameter sets than the {len(rows)} of this batch"
    if ind.shape[0] != len(r) or (n_ind is not None and ind.shape[1] != n_ind):
        return f"indicators of shape {ind.shape}"
    for s in got["series"]:
        if s.ndim != 2 or s.shape != (len(r), len(years)):
            return f"a series of shape {s.shape}, not {(len(r), len(years))}"
    if not set(got["failed"]) <= set(r.tolist()):
        return "failed sets outside the batch"
    return ""


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
    bs, n = int(man["batch_size"]), int(man["n"])
    for b in range(man["n_batches"]):
        try:
            got = _read_batch(out_dir, b, len(spec.series), rows=np.arange(b * bs, min(n, (b + 1) * bs)),
                              n_ind=len(spec.indicators))
        except _DamagedBatch as err:
            raise UserInputError(f"{_batch_path(out_dir, b)}: batch {b} damaged ({err}); allowed: a finished "
                                 "ensemble (run it again: the damaged batch is computed again)") from None
        if got is None:
            raise UserInputError(f"{out_dir}: batch {b} missing; allowed: a finished ensemble (run it again "
                                 "to resume)")
        stored[b] = got
    res = _assemble(params, stored, spec, man["n"], out_dir)
    res.stats = {"runs": man["n"], "batches": man["n_batches"], "batch_size": man["batch_size"]}
    return res
