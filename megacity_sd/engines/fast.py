"""An accelerated PySD path: PySD's own translation, compiled to one Euler loop.

Profiling ``pysd.load(...).run(params=...)`` (PySD 3.14.3, xarray 2026.9) on
this model at TIME STEP 1/8 (440 steps, about 1.2 s a run) gives: about 72 % of
the time in the two lookups (882 calls a run, each an
``xarray.DataArray.interp``: sorting, alignment, localisation, then
``numpy.interp``); the rest in PySD's per-step machinery (a cache decorator
around every component call, about 190,000 calls a run, the stateful objects'
``ddt``, the per-saved-step output object and its pandas frame). Restricting
``return_columns`` saves under 5 %. Measured here after the changes below:
about 15-18 ms for one run returning every variable, and about 0.1-0.2 ms a
run in batches of 1,000-4,000 sets (one core).

This module (with :mod:`.fast_translation` and :mod:`.fast_codegen`) does not
change PySD or the translation. It reads the Python files that PySD wrote for
the model (:func:`megacity_sd.model.translated_path`),
takes each component's expression as PySD wrote it, and generates one Python
function that evaluates them in dependency order inside an explicit Euler
loop that reproduces PySD's (all derivatives at time ``t`` from the state at
``t``, then ``state + ddt * dt``; time accumulated as PySD accumulates it; the
same saving rule):

* components that depend on no stock and not on time are evaluated once per
  run (PySD's ``run`` cache);
* in a single run, auxiliaries that are functions of time alone (the policy
  levers' phases and paths) are evaluated for all steps at once as numpy
  arrays and read by index in the loop, when their operations give the same
  doubles element by element (arithmetic, MIN/MAX, ZIDZ, lookups; not exp,
  log or powers); MIN, MAX and ZIDZ are written inline;
* auxiliaries needed only for reported columns are evaluated at saved steps
  only; auxiliaries that no stock and no reported column needs are dropped;
* lookups are evaluated as PySD does (exact value at a node, clamped outside
  the range) with ``numpy.interp``, the routine xarray itself calls for 1-D
  linear interpolation;
* ``run_batch`` evaluates many parameter sets at once: constants become numpy
  arrays of the batch size, so one pass of the loop advances every set (the
  same element-wise IEEE operations; ``zidz`` becomes ``numpy.where``).

Supported: what PySD writes for the functions the model uses (INTEG,
first-order SMOOTH and SMOOTHI, MIN, MAX, EXP, LN, ZIDZ, hard-coded lookups),
in a translation split into views or in one file, with control variables
(INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER) that are numbers or arithmetic
of numbers and of one another (``SAVEPER = TIME STEP``, which Vensim writes
into every new model, follows the run's time step as in PySD). Anything else
raises :class:`~megacity_sd.engines.errors.UnsupportedModel` (a
:class:`NotImplementedError` and a one-line user error) when the model is
loaded, naming the model file, the variable and the construct: SMOOTH3 and
SMOOTHN, DELAY1, DELAY3 and the other delays, subscripts, IF THEN ELSE, any
function not listed, a control variable computed from a model constant or a
function (``tests/test_pysd_fast.py`` and ``tests/test_engine_refusals.py``
have one small model per refused construct). The results equal the unmodified
``pysd.load(...).run(params=...)`` to 1e-12 (relative), checked by
:func:`compare_with_pysd` and the test suite.

Division by zero. PySD writes Vensim's arithmetic as Python's on Python
floats (it wraps every numpy call in ``float``), so ``x / 0`` raises
:class:`ZeroDivisionError` and ends the run; ``LN(0)`` gives ``-inf`` with
numpy's RuntimeWarning, and ZIDZ gives 0. The fast engine does the same in a
single run and in a batch of any size (one set or thousands: a batch is
several runs at once, so it stops where the first of them would): it raises
:class:`~megacity_sd.engines.errors.ModelZeroDivision` (a
:class:`ZeroDivisionError` and a one-line user error) naming the model file,
the variable, the time and, in a batch, the parameter sets that divide by
zero. A batch keeps its speed: it runs with numpy's floating-point flags
watched, and only when one is raised (a division by zero, or a NaN or
infinity from LN(0) or a power of a negative number, which it keeps as PySD
does) is it run again with every division checked. The functions of time
alone, computed once over every step, are always checked; there a division
by zero raises even at a step PySD would not evaluate (a reported variable
between two saved times).

What a PySD upgrade could change silently: the runtime rules copied here
(the accumulation of time, the saving rule, the ZIDZ threshold, lookup
extrapolation, the run cache). That is why ``pyproject.toml`` pins PySD to
3.14.x and the translation cache is keyed by the PySD version: a new PySD
version is adopted only with the equality tests passing.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import pandas as pd

from ..model import MODEL_PATH, canonical, translated_path
from .errors import ModelZeroDivision, UnsupportedModel
from .fast_codegen import (
    SMALL_VENSIM,
    ZeroDivide,
    _Codegen,
    _div_s,
    _div_v,
    _lookup_s,
    _lookup_v,
    _max_s,
    _min_s,
    _zidz_s,
    _zidz_v,
)
from .fast_translation import NotRunnable, _Model

__all__ = [
    "FastModel",
    "load_translation",
    "load_fast",
    "compare_with_pysd",
    "SMALL_VENSIM",
]


_RPREC = 1e-5  # pysd.py_backend.components.Time.rprec


def _times(t0: float, final: float, dt: float, saveper: float) -> tuple[np.ndarray, np.ndarray]:
    """Times of PySD's Euler loop and the saving mask, computed as PySD does."""
    times = [t0]
    t = t0
    while t + dt * _RPREC < final:  # Time.in_bounds
        t = t + dt
        times.append(t)
    prec = dt * _RPREC
    save = [((tt - t0) % saveper < prec) or ((-(tt - t0)) % saveper < prec) for tt in times]  # Time.in_return
    return np.asarray(times), np.asarray(save)


class FastModel:
    """The PySD-translated model, run by a generated straight-line Euler loop.

    Parameters
    ----------
    py_path : str or Path, optional
        The PySD translation (``.py``); default: translate ``mdl_path`` once
        into the cache (:func:`megacity_sd.model.translated_path`).
    mdl_path : str or Path
        The Vensim model, used when ``py_path`` is not given.

    Raises
    ------
    UnsupportedModel
        The translation uses something this path does not reproduce (a
        :class:`NotImplementedError`); the message names the model file
        (``mdl_path``, or with ``py_path`` the copy of the model beside the
        translation), the variable and the construct, in one line.
    """

    def __init__(self, py_path: str | Path | None = None, mdl_path: str | Path = MODEL_PATH):
        self.py_path = Path(py_path) if py_path is not None else translated_path(mdl_path)
        beside = self.py_path.with_suffix(".mdl")  # translated_path copies the model beside its translation
        self.model_file = Path(mdl_path) if py_path is None else beside if beside.is_file() else self.py_path
        try:
            self._m = _Model(self.py_path)
        except NotImplementedError as err:
            raise UnsupportedModel(str(err), self.model_file, not isinstance(err, NotRunnable)) from None
        self._defaults = self._m.constants
        self._kernels: dict[tuple, object] = {}
        self._names: dict[str, str] = {}
        for py, comp in self._m.components.items():
            for key in (py, comp.name, canonical(comp.name)):
                self._names.setdefault(key, py)
            self._names.setdefault(comp.name.lower(), py)

    # -- names
    @property
    def constants(self) -> dict[str, float]:
        """Default values of the model constants, keyed by PySD (Python) name."""
        return dict(self._defaults)

    def py_name(self, name: str) -> str:
        """PySD name of a model variable given by its model name, PySD name or canonical name."""
        for key in (name, name.lower(), canonical(name)):
            if key in self._names:
                return self._names[key]
        raise KeyError(f"{name!r} is not a variable of the model")

    def model_name(self, name: str) -> str:
        """Model (Vensim) name of a variable."""
        return self._m.components[self.py_name(name)].name

    def _constant(self, name: str) -> str:
        py = self.py_name(name)
        if self._m.components[py].kind != "constant":
            raise ValueError(f"{name!r} is not a constant of the model; only constants can be set")
        return py

    # -- kernels
    def source(self, outputs: list[str], vector: bool = False, checked: bool = False) -> str:
        """The generated Python source of the loop for ``outputs`` (PySD names); ``checked``: every division
        checked for a zero divisor (the kernel run again to name the variable that divides by zero)."""
        return _Codegen(self._m, outputs, vector, checked).build()

    def _kernel(self, outputs: tuple[str, ...], vector: bool, checked: bool = False):
        key = (outputs, vector, checked)
        if key not in self._kernels:
            try:
                src = self.source(list(outputs), vector, checked)
            except NotImplementedError as err:  # an algebraic loop, a circular initialisation
                raise UnsupportedModel(str(err), self.model_file, not isinstance(err, NotRunnable)) from None
            ns: dict[str, object] = {"np": np, "math": math}
            if vector:
                ns.update(_zidz=_zidz_v, _div=_div_v)
                for py, (x, y) in self._m.lookups.items():
                    ns[f"_lk_{py}"] = partial(_lookup_v, xp=np.asarray(x), fp=np.asarray(y))
            else:
                ns.update(_zidz=_zidz_s, _max=_max_s, _min=_min_s, _zidzv=_zidz_v, _div=_div_s, _divv=_div_v)
                for py, (x, y) in self._m.lookups.items():
                    ns[f"_lk_{py}"] = partial(_lookup_s, xp=x, fp=y, xp_arr=np.asarray(x), fp_arr=np.asarray(y))
                    ns[f"_lkv_{py}"] = partial(_lookup_v, xp=np.asarray(x), fp=np.asarray(y))  # functions of time
            exec(compile(src, f"<pysd_fast:{self.py_path.stem}>", "exec"), ns)
            self._kernels[key] = ns["kernel"]
        return self._kernels[key]

    def _columns(self, return_columns) -> tuple[list[str], tuple[str, ...]]:
        if return_columns is None:
            cols = [c.name for c in self._m.components.values() if c.kind in ("aux", "stock")]
        else:
            cols = list(return_columns)
        pys = tuple(dict.fromkeys(self.py_name(c) for c in cols))
        for p in pys:
            if self._m.components[p].kind in ("lookup",):
                raise ValueError(f"{p!r} is a lookup and cannot be reported")
        return cols, pys

    def _setup(self, time_step, final_time) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        """The run's control variables (the overrides, and the others computed from them as PySD does), its
        step times and its saving mask."""
        try:
            c = self._m.control_values(time_step=None if time_step is None else float(time_step),
                                       final_time=None if final_time is None else float(final_time))
        except NotImplementedError as err:  # e.g. 1/0 with the given time step
            raise UnsupportedModel(str(err), self.model_file, not isinstance(err, NotRunnable)) from None
        times, save = _times(c["initial_time"], c["final_time"], c["time_step"], c["saveper"])
        return c, times, save

    def run(self, params: dict[str, float] | None = None, return_columns: list[str] | None = None, *,
            time_step: float | None = None, final_time: float | None = None) -> pd.DataFrame:
        """One run, with PySD's ``Model.run`` arguments and result layout.

        Parameters
        ----------
        params : dict, optional
            Constant overrides keyed by model name (or PySD name); numbers only.
        return_columns : list of str, optional
            Variables to report (default: every stock and auxiliary).
        time_step, final_time : float, optional
            Integration step and final time in years (default: the model's).

        Returns
        -------
        pandas.DataFrame
            Index ``time`` (the saved times), one column per requested variable.

        Raises
        ------
        ModelZeroDivision
            A division by zero (a :class:`ZeroDivisionError`, as in PySD),
            naming the variable and the time.
        """
        cols, _ = self._columns(return_columns)
        times, arrays = self.run_arrays(params, cols, time_step=time_step, final_time=final_time)
        return pd.DataFrame(dict(zip(cols, arrays, strict=True)), index=pd.Index(times, name="time"))

    def run_arrays(self, params: dict[str, float] | None = None, return_columns: list[str] | None = None, *,
                   time_step: float | None = None, final_time: float | None = None
                   ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One run as arrays: the saved times and one array per requested column (as :meth:`run`, no pandas)."""
        C = dict(self._defaults)
        for k, v in (params or {}).items():
            C[self._constant(k)] = v
        c, times, save = self._setup(time_step, final_time)
        C["__final_time"], C["__saveper"] = c["final_time"], c["saveper"]
        cols, pys = self._columns(return_columns)
        args = (C, c["initial_time"], c["time_step"], len(times) - 1, save.tolist(), int(save.sum()))
        try:
            out = self._kernel(pys, vector=False)(*args, [[] for _ in pys])
        except ZeroDivisionError as err:  # as PySD raises; the checked kernel names the variable
            self._raise_zero_division(pys, False, args, [[] for _ in pys], err)
        data = {p: np.asarray(o, dtype=float) for p, o in zip(pys, out, strict=True)}
        return times[save], [data[self.py_name(c)] for c in cols]

    def run_batch(self, params: dict[str, np.ndarray] | pd.DataFrame, return_columns: list[str], *,
                  base: dict[str, float] | None = None, time_step: float | None = None,
                  final_time: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Many runs at once: each varied constant is an array over the batch.

        Parameters
        ----------
        params : dict of str to array or DataFrame
            Varied constants (model names), each a 1-D array of the batch size.
        return_columns : list of str
            Variables to report.
        base : dict, optional
            Constant overrides shared by the whole batch (a scenario).
        time_step, final_time : float, optional
            As in :meth:`run`.

        Returns
        -------
        times : numpy.ndarray
            The saved times.
        series : dict of str to numpy.ndarray
            For each requested column, an array ``(batch, len(times))``.

        Raises
        ------
        ModelZeroDivision
            A set divides by zero (where PySD's run of that set raises
            :class:`ZeroDivisionError`): the whole batch stops, as a single
            run does, naming the variable, the time and the sets.
        """
        if isinstance(params, pd.DataFrame):
            params = {c: params[c].to_numpy(dtype=float) for c in params.columns}
        sizes = {np.asarray(v).shape for v in params.values()}
        if len(sizes) > 1 or any(len(s) != 1 for s in sizes):
            raise ValueError("run_batch: every varied constant must be a 1-D array of the same length")
        n = next(iter(sizes))[0] if sizes else 1
        C = dict(self._defaults)
        for k, v in (base or {}).items():
            C[self._constant(k)] = v
        for k, v in params.items():
            C[self._constant(k)] = np.asarray(v, dtype=float)
        c, times, save = self._setup(time_step, final_time)
        C["__final_time"], C["__saveper"] = c["final_time"], c["saveper"]
        cols, pys = self._columns(return_columns)
        nsave = int(save.sum())
        out = [np.empty((nsave, n)) for _ in pys]
        args = (C, c["initial_time"], c["time_step"], len(times) - 1, save.tolist(), nsave)
        flagged = []  # numpy's divide or invalid flag: a division by zero, or LN(0), inf - inf...
        try:
            with np.errstate(divide="call", invalid="call", over="ignore", call=lambda *_: flagged.append(1)):
                self._kernel(pys, vector=True)(*args, out)
        except ZeroDivisionError as err:  # from a function of time alone (always checked)
            self._raise_zero_division(pys, True, args, out, err, n)
        if flagged:  # run again with every division checked: raises if one divides by zero
            self._raise_zero_division(pys, True, args, out, None, n)
        arrays = dict(zip(pys, out, strict=True))
        return times[save], {c: np.ascontiguousarray(arrays[self.py_name(c)].T) for c in cols}


    def _raise_zero_division(self, pys, vector: bool, args, out, err: ZeroDivisionError | None, n: int = 1) -> None:
        """Run the checked kernel; raise :class:`ModelZeroDivision` naming the variable, the time and the sets.

        Returns only for a batch whose flags came from something else than a
        division by zero (LN(0), inf - inf): ``out`` then holds its results.
        """
        try:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                self._kernel(pys, vector, checked=True)(*args, out)
        except ZeroDivide as zd:
            comp = self._m.components.get(zd.py)
            name = comp.name if comp is not None else zd.py
            t, zero = np.asarray(zd.t, dtype=float), np.asarray(zd.zero)
            if t.ndim:  # a function of time alone, over every step at once: the first step that divides by zero
                steps = t.reshape(-1)
                zero = np.broadcast_to(zero, np.broadcast_shapes(zero.shape, t.shape)).reshape(len(steps), -1)
                k = int(np.flatnonzero(zero.any(axis=1))[0])
                t, zero = steps[k], zero[k]
            sets = ""
            if vector:
                rows = np.flatnonzero(np.broadcast_to(zero.reshape(-1) if zero.ndim else zero, (n,)))
                shown = ", ".join(str(r) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
                sets = f" in parameter set{'s' if len(rows) > 1 else ''} {shown} of {n}"
            raise ModelZeroDivision(f"{self.model_file}: division by zero in '{name}' at time {float(t):.10g}{sets}; "
                                    "PySD stops the run there too (ZIDZ(a, b) gives 0 where b is 0)") from None
        except ZeroDivisionError as other:  # not a division (0 ** -1): the error as Python gives it
            raise ModelZeroDivision(f"{self.model_file}: {other}") from None
        if err is not None:  # not a division (0 ** -1): the error as Python gave it
            raise ModelZeroDivision(f"{self.model_file}: {err}") from None


@lru_cache(maxsize=4)
def load_translation(py_path: str) -> FastModel:
    """The accelerated model of a PySD translation already on disk (built once per process and path)."""
    return FastModel(py_path)


def load_fast(mdl_path: str | Path = MODEL_PATH) -> FastModel:
    """The accelerated model for ``mdl_path``, translated once and built once per process.

    Raises
    ------
    UnsupportedModel
        As :class:`FastModel`, naming ``mdl_path``.
    """
    try:
        fm = load_translation(str(translated_path(mdl_path)))
    except UnsupportedModel as err:
        raise err.for_model(mdl_path) from None
    fm.model_file = Path(mdl_path)  # a refusal found later (building a loop) names the user's file too
    return fm


def compare_with_pysd(params: dict[str, float] | None = None, return_columns: list[str] | None = None, *,
                      mdl_path: str | Path = MODEL_PATH, time_step: float | None = None) -> float:
    """Largest relative difference between the fast path and a fresh, unmodified PySD run.

    The reference is ``pysd.load(translation).run(params=params)`` on a newly
    loaded model, as installed. Differences are ``|a - b| / max(|b|, 1e-300)``
    where ``|b| > 1e-9``, and absolute below that.

    Returns
    -------
    float
    """
    import pysd

    fast = load_fast(mdl_path)
    cols = return_columns or [c.name for c in fast._m.components.values() if c.kind in ("aux", "stock")]
    from . import known_warnings_silenced

    with known_warnings_silenced():
        ref = pysd.load(str(fast.py_path)).run(params=dict(params or {}), return_columns=cols,
                                               time_step=time_step)
    got = fast.run(params, cols, time_step=time_step)
    a, b = got.to_numpy(dtype=float), ref[cols].to_numpy(dtype=float)
    if a.shape != b.shape:
        raise AssertionError(f"shape {a.shape} != PySD {b.shape}")
    big = np.abs(b) > 1e-9
    rel = np.where(big, np.abs(a - b) / np.where(big, np.abs(b), 1.0), np.abs(a - b))
    return float(np.nanmax(rel)) if rel.size else 0.0
