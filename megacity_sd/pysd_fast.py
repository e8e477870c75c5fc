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

This module does not change PySD or the translation. It reads the Python files
that PySD wrote for the model (:func:`megacity_sd.model.translated_path`),
takes each component's expression as PySD wrote it, and generates one Python
function that evaluates them in dependency order inside an explicit Euler
loop that reproduces PySD's (all derivatives at time ``t`` from the state at
``t``, then ``state + ddt * dt``; time accumulated as PySD accumulates it; the
same saving rule):

* components that depend on no stock and not on time are evaluated once per
  run (PySD's ``run`` cache);
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
in a translation split into views or in one file. Anything else raises
:class:`NotImplementedError` when the model is loaded, with the construct
named: SMOOTH3 and SMOOTHN, DELAY1, DELAY3 and the other delays, subscripts,
IF THEN ELSE, and any function not listed (``tests/test_pysd_fast.py`` has one
small model per refused construct). The results equal the unmodified
``pysd.load(...).run(params=...)`` to 1e-12 (relative), checked by
:func:`compare_with_pysd` and the test suite.

What a PySD upgrade could change silently: the runtime rules copied here
(the accumulation of time, the saving rule, the ZIDZ threshold, lookup
extrapolation, the run cache). That is why ``pyproject.toml`` pins PySD to
3.14.x and the translation cache is keyed by the PySD version: a new PySD
version is adopted only with the equality tests passing.
"""

from __future__ import annotations

import ast
import json
import math
import warnings
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import pandas as pd

from .model import MODEL_PATH, canonical, translated_path

__all__ = ["FastModel", "load_fast", "load_translation", "compare_with_pysd", "SMALL_VENSIM"]

SMALL_VENSIM = 1e-6  # pysd.py_backend.functions.SMALL_VENSIM (ZIDZ threshold)
_CONTROL = ("time", "initial_time", "final_time", "time_step", "saveper")
_RPREC = 1e-5  # pysd.py_backend.components.Time.rprec


# ----------------------------------------------------------------------------- scalar helpers
# Same values as PySD's calls on Python floats (np.maximum/np.minimum return the
# same double; the NaN rule of numpy is kept).

def _max_s(a, b):
    return a if (a >= b or a != a) else b


def _min_s(a, b):
    return a if (a <= b or a != a) else b


def _zidz_s(a, b):
    return 0 if abs(b) < SMALL_VENSIM else a / b


def _lookup_s(x, xp, fp, xp_arr, fp_arr):
    """PySD's ``Lookups._call`` for a float ``x`` (``interpolate`` method)."""
    if x in xp:
        return fp[xp.index(x)]
    if x > xp[-1]:
        return fp[-1]
    if x < xp[0]:
        return fp[0]
    j = bisect_right(xp, x) - 1  # xarray localises to the bracketing nodes, then calls np.interp
    return float(np.interp(x, xp_arr[j:j + 2], fp_arr[j:j + 2]))


def _lookup_v(x, xp, fp):
    """PySD's lookup for an array ``x``: numpy.interp returns the node value at a node and clamps outside."""
    return np.interp(x, xp, fp)


def _zidz_v(a, b):
    # called inside run_batch's np.errstate: the division by the masked zeros is silent
    return np.where(np.abs(b) < SMALL_VENSIM, 0.0, a / b)


# ----------------------------------------------------------------------------- parsing


@dataclass
class _Component:
    py: str
    name: str
    kind: str  # constant | aux | stock | smooth | lookup | control
    expr: ast.expr | None = None
    deps: set[str] = field(default_factory=set)


@dataclass
class _Stateful:
    py: str                    # the component that returns its state
    obj: str                   # _integ_x / _smooth_x
    kind: str                  # integ | smooth
    ddt: ast.expr | None = None        # integ
    init: ast.expr | None = None
    inp: ast.expr | None = None        # smooth
    time: ast.expr | None = None       # smooth
    order: ast.expr | None = None      # smooth
    init_deps: set[str] = field(default_factory=set)
    step_deps: set[str] = field(default_factory=set)


def _kw(call: ast.Call) -> dict[str, object]:
    out = {}
    for k in call.keywords:
        try:
            out[k.arg] = ast.literal_eval(k.value)
        except ValueError:
            out[k.arg] = None
    return out


def _is_number(expr: ast.expr) -> bool:
    try:
        return isinstance(ast.literal_eval(expr), int | float) and not isinstance(ast.literal_eval(expr), bool)
    except ValueError:
        return False


def _lambda_body(node: ast.expr, what: str) -> ast.expr:
    if not isinstance(node, ast.Lambda) or node.args.args:
        raise NotImplementedError(f"pysd_fast: {what}: expected a lambda without arguments")
    return node.body


class _Model:
    """The translated model as data: components, stateful objects, lookups."""

    def __init__(self, py_path: Path):
        self.py_path = Path(py_path)
        root = self.py_path.parent
        stem = self.py_path.stem
        files = [self.py_path]
        modules_dir = root / f"modules_{stem}"
        if modules_dir.is_dir():  # split_views writes one module per view; a model with one view has none
            modules = json.loads((modules_dir / "_modules.json").read_text(encoding="utf-8"))
            if not modules:
                raise NotImplementedError(f"pysd_fast: {modules_dir}/_modules.json lists no modules")
            files += sorted(modules_dir.rglob("*.py"))
        self.components: dict[str, _Component] = {}
        self.statefuls: dict[str, _Stateful] = {}
        self.lookups: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
        self.control: dict[str, float] = {}
        objs: dict[str, ast.Call] = {}
        for f in files:
            tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
            for node in tree.body:
                if isinstance(node, ast.FunctionDef):
                    self._function(node)
                elif isinstance(node, ast.Assign) and len(node.targets) == 1 \
                        and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call):
                    objs[node.targets[0].id] = node.value
                elif isinstance(node, ast.AnnAssign | ast.AugAssign):
                    raise NotImplementedError(f"pysd_fast: {f.name}: unsupported statement")
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) \
                        and node.targets[0].id == "_control_vars":
                    for k, v in zip(node.value.keys, node.value.values, strict=True):
                        self.control[ast.literal_eval(k)] = ast.literal_eval(_lambda_body(v, "control"))
        self._objects(objs)
        missing = [c for c in ("initial_time", "final_time", "time_step", "saveper") if c not in self.control]
        if missing:
            raise NotImplementedError(f"pysd_fast: control variables missing: {missing}")
        self._dependencies()

    # -- component functions
    def _function(self, node: ast.FunctionDef) -> None:
        deco = [d for d in node.decorator_list if isinstance(d, ast.Call)
                and ast.unparse(d.func) == "component.add"]
        if not deco:
            return  # helper functions of the main file (_init_outer_references)
        meta = _kw(deco[0])
        if meta.get("subscripts") or meta.get("dims"):
            raise NotImplementedError(f"pysd_fast: {node.name}: subscripted variables are not supported")
        stmts = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(stmts) != 1 or not isinstance(stmts[0], ast.Return) or stmts[0].value is None:
            raise NotImplementedError(f"pysd_fast: {node.name}: only single-expression components are supported")
        expr = stmts[0].value
        name = str(meta.get("name"))
        comp_type = meta.get("comp_type")
        if node.name in _CONTROL:
            kind = "control"
        elif comp_type == "Lookup":
            kind = "lookup"
        elif comp_type == "Stateful":
            if meta.get("comp_subtype") not in ("Integ", "Smooth"):
                raise NotImplementedError(f"pysd_fast: {node.name}: stateful {meta.get('comp_subtype')} "
                                          "is not supported")
            kind = "stock"
        elif comp_type == "Constant" and _is_number(expr):
            kind = "constant"
        elif comp_type in ("Auxiliary", "Constant"):
            kind = "aux"
        else:
            raise NotImplementedError(f"pysd_fast: {node.name}: component type {comp_type} is not supported")
        self.components[node.name] = _Component(node.name, name, kind, expr)

    # -- Integ, Smooth, HardcodedLookups objects
    def _objects(self, objs: dict[str, ast.Call]) -> None:
        for comp in self.components.values():
            if comp.kind == "stock":
                call = comp.expr
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.args):
                    raise NotImplementedError(f"pysd_fast: {comp.py}: unexpected stateful body")
                obj = call.func.id
                spec = objs.get(obj)
                cls = ast.unparse(spec.func) if spec is not None else None
                if cls == "Integ":
                    ddt, init = (_lambda_body(a, obj) for a in spec.args[:2])
                    self.statefuls[comp.py] = _Stateful(comp.py, obj, "integ", ddt=ddt, init=init)
                elif cls == "Smooth":
                    inp, tim, init, order = (_lambda_body(a, obj) for a in spec.args[:4])
                    self.statefuls[comp.py] = _Stateful(comp.py, obj, "smooth", inp=inp, time=tim,
                                                        init=init, order=order)
                else:
                    raise NotImplementedError(f"pysd_fast: {comp.py}: stateful object {cls} is not supported")
            elif comp.kind == "lookup":
                call = comp.expr
                obj = call.func.id if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) else None
                spec = objs.get(obj)
                if spec is None or ast.unparse(spec.func) != "HardcodedLookups":
                    raise NotImplementedError(f"pysd_fast: {comp.py}: only hardcoded lookups are supported")
                x, y, coords, interp = (ast.literal_eval(a) for a in spec.args[:4])
                if coords or interp != "interpolate":
                    raise NotImplementedError(f"pysd_fast: {comp.py}: lookup with {interp!r}/{coords} "
                                              "is not supported")
                if any(b <= a for a, b in zip(x[:-1], x[1:], strict=True)):
                    raise NotImplementedError(f"pysd_fast: {comp.py}: lookup x values not increasing")
                self.lookups[comp.py] = (tuple(float(v) for v in x), tuple(float(v) for v in y))

    # -- dependencies
    def _calls(self, expr: ast.expr) -> set[str]:
        out = set()
        for n in ast.walk(expr):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
                fn = n.func.id
                if fn in self.components:
                    kind = self.components[fn].kind
                    if kind != "lookup" and n.args:
                        raise NotImplementedError(f"pysd_fast: call of {fn} with arguments")
                    if kind != "lookup":
                        out.add(fn)
                elif fn not in ("float", "zidz", "abs"):
                    raise NotImplementedError(f"pysd_fast: function {fn}() is not supported")
            elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
                fn = ast.unparse(n.func)
                if fn not in ("np.maximum", "np.minimum", "np.exp", "np.log"):
                    raise NotImplementedError(f"pysd_fast: function {fn}() is not supported")
            elif isinstance(n, ast.Subscript | ast.IfExp | ast.Compare | ast.BoolOp | ast.Lambda):
                raise NotImplementedError(f"pysd_fast: expression {ast.unparse(n)[:60]} is not supported")
        return out

    def _dependencies(self) -> None:
        for comp in self.components.values():
            if comp.kind == "aux":
                comp.deps = self._calls(comp.expr)
        for st in self.statefuls.values():
            st.init_deps = self._calls(st.init)
            if st.kind == "integ":
                st.step_deps = self._calls(st.ddt)
            else:
                st.step_deps = self._calls(st.inp) | self._calls(st.time)
                if self._calls(st.order) or not _is_number(st.order):
                    raise NotImplementedError(f"pysd_fast: {st.py}: SMOOTH order must be a number")
                if ast.literal_eval(st.order) != 1:  # SMOOTH3 and SMOOTHN keep `order` cascaded stocks in PySD
                    raise NotImplementedError(f"pysd_fast: {st.py}: SMOOTH of order {ast.literal_eval(st.order)} "
                                              "(SMOOTH3, SMOOTHN) is not supported; only first-order SMOOTH")
                st.init_deps |= self._calls(st.time)  # PySD evaluates time and order once known
        # dynamic = depends (transitively) on a stock or on time
        dyn: dict[str, bool] = {}

        def is_dyn(py: str, stack=()) -> bool:
            if py in dyn:
                return dyn[py]
            comp = self.components[py]
            if comp.kind == "stock" or py == "time":
                dyn[py] = True
            elif comp.kind in ("constant", "control", "lookup"):
                dyn[py] = False
            else:
                if py in stack:
                    raise NotImplementedError(f"pysd_fast: algebraic loop through {py}")
                dyn[py] = any(is_dyn(d, (*stack, py)) for d in comp.deps)
            return dyn[py]

        for py in self.components:
            is_dyn(py)
        self.dynamic = dyn

    # -- naming
    @property
    def constants(self) -> dict[str, float]:
        return {c.py: ast.literal_eval(c.expr) for c in self.components.values() if c.kind == "constant"}


# ----------------------------------------------------------------------------- code generation


class _Rewrite(ast.NodeTransformer):
    """Component calls -> local variables; PySD functions -> kernel helpers."""

    def __init__(self, model: _Model, vector: bool):
        self.m = model
        self.vector = vector

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Name):
            if f.id in self.m.components:
                comp = self.m.components[f.id]
                if comp.kind == "lookup":
                    return ast.Call(ast.Name(f"_lk_{f.id}", ast.Load()), [node.args[0]], [])
                return ast.Name(_var(f.id), ast.Load())
            if f.id == "float":
                return node.args[0] if self.vector else node
            if f.id == "zidz":
                return ast.Call(ast.Name("_zidz", ast.Load()), node.args, [])
            return node
        fn = ast.unparse(f)
        if fn in ("np.maximum", "np.minimum") and not self.vector:
            return ast.Call(ast.Name("_max" if fn == "np.maximum" else "_min", ast.Load()), node.args, [])
        return node


def _var(py: str) -> str:
    return "t" if py == "time" else f"v_{py}"


class _Codegen:
    def __init__(self, m: _Model, outputs: list[str], vector: bool):
        self.m = m
        self.vector = vector
        self.rw = _Rewrite(m, vector)
        self.outputs = outputs

    def expr(self, e: ast.expr) -> str:
        import copy

        return ast.unparse(self.rw.visit(copy.deepcopy(e)))

    def order(self, roots: set[str], done: set[str]) -> list[str]:
        """Auxiliaries needed for ``roots``, in dependency order, excluding ``done``."""
        out: list[str] = []
        seen = set(done)

        def visit(py: str, stack=()):
            if py in seen:
                return
            comp = self.m.components[py]
            if comp.kind != "aux":
                seen.add(py)
                return
            if py in stack:
                raise NotImplementedError(f"pysd_fast: algebraic loop through {py}")
            for d in sorted(comp.deps):
                visit(d, (*stack, py))
            seen.add(py)
            out.append(py)

        for r in sorted(roots):
            visit(r)
        return out

    def build(self) -> str:
        m = self.m
        L = ["def kernel(C, t0, dt, nsteps, save, nsave, out):"]
        ind = "    "
        # constants and control
        for py, comp in m.components.items():
            if comp.kind == "constant":
                L.append(f"{ind}{_var(py)} = C[{py!r}]")
        L.append(f"{ind}v_initial_time = t0")
        L.append(f"{ind}v_time_step = dt")
        L.append(f"{ind}v_final_time = C['__final_time']")
        L.append(f"{ind}v_saveper = C['__saveper']")
        L.append(f"{ind}t = t0")
        needed_step = set()
        for st in m.statefuls.values():
            needed_step |= st.step_deps
        out_aux = {o for o in self.outputs if m.components[o].kind == "aux"}
        # static auxiliaries (run cache): everything static any phase needs
        all_roots = set(needed_step) | out_aux
        for st in m.statefuls.values():
            all_roots |= st.init_deps
        closure = self.order(all_roots, set())
        static = [p for p in closure if not m.dynamic[p]]
        for py in static:
            L.append(f"{ind}{_var(py)} = {self.expr(m.components[py].expr)}")
        done = set(static)
        # initial values of the stateful objects, in dependency order
        init_done: set[str] = set()

        def init(py: str, stack=()):
            if py in init_done:
                return
            if py in stack:
                raise NotImplementedError(f"pysd_fast: circular initialisation through {py}")
            st = m.statefuls[py]
            for d in sorted(st.init_deps):
                need_init(d, (*stack, py))
            if st.kind == "integ":
                L.append(f"{ind}{_var(py)} = {self.expr(st.init)}")
            else:
                L.append(f"{ind}{_var(py)} = {self.expr(st.init)}")
                L.append(f"{ind}o_{py} = {self.expr(st.order)}")
            init_done.add(py)

        def need_init(py: str, stack):
            comp = m.components[py]
            if comp.kind == "stock":
                init(py, stack)
            elif comp.kind == "aux" and py not in done:
                for d in sorted(comp.deps):
                    need_init(d, stack)
                L.append(f"{ind}{_var(py)} = {self.expr(comp.expr)}")
                done.add(py)

        for py in sorted(m.statefuls):
            init(py)
        # the loop
        core = [p for p in self.order(needed_step, set(static)) if m.dynamic[p]]
        report = [p for p in self.order(out_aux, set(static) | set(core)) if m.dynamic[p]]
        L.append(f"{ind}j = 0")
        L.append(f"{ind}for k in range(nsteps + 1):")
        ind2 = ind * 2
        for py in core:
            L.append(f"{ind2}{_var(py)} = {self.expr(m.components[py].expr)}")
        L.append(f"{ind2}if save[k]:")
        ind3 = ind * 3
        for py in report:
            L.append(f"{ind3}{_var(py)} = {self.expr(m.components[py].expr)}")
        for i, o in enumerate(self.outputs):
            L.append(f"{ind3}out[{i}][j] = {_var(o)}" if self.vector else f"{ind3}out[{i}].append({_var(o)})")
        L.append(f"{ind3}j += 1")
        L.append(f"{ind2}if k == nsteps:")
        L.append(f"{ind3}break")
        # derivatives, all from the state at t, then the update (PySD's Euler step)
        for py, st in m.statefuls.items():
            if st.kind == "integ":
                L.append(f"{ind2}d_{py} = {self.expr(st.ddt)}")
            else:  # Smooth.ddt: (input - state) * order / smooth_time
                L.append(f"{ind2}d_{py} = ({self.expr(st.inp)} - {_var(py)}) * o_{py} / {self.expr(st.time)}")
        for py in m.statefuls:
            L.append(f"{ind2}{_var(py)} = {_var(py)} + d_{py} * dt")
        L.append(f"{ind2}t = t + dt")
        L.append(f"{ind}return out")
        return "\n".join(L) + "\n"


# ----------------------------------------------------------------------------- public model


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
    NotImplementedError
        The translation uses something this path does not reproduce.
    """

    def __init__(self, py_path: str | Path | None = None, mdl_path: str | Path = MODEL_PATH):
        self.py_path = Path(py_path) if py_path is not None else translated_path(mdl_path)
        self._m = _Model(self.py_path)
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
    def source(self, outputs: list[str], vector: bool = False) -> str:
        """The generated Python source of the loop for ``outputs`` (PySD names)."""
        return _Codegen(self._m, outputs, vector).build()

    def _kernel(self, outputs: tuple[str, ...], vector: bool):
        key = (outputs, vector)
        if key not in self._kernels:
            src = self.source(list(outputs), vector)
            ns: dict[str, object] = {"np": np, "math": math}
            if vector:
                ns["_zidz"] = _zidz_v
                for py, (x, y) in self._m.lookups.items():
                    ns[f"_lk_{py}"] = partial(_lookup_v, xp=np.asarray(x), fp=np.asarray(y))
            else:
                ns.update(_zidz=_zidz_s, _max=_max_s, _min=_min_s)
                for py, (x, y) in self._m.lookups.items():
                    ns[f"_lk_{py}"] = partial(_lookup_s, xp=x, fp=y, xp_arr=np.asarray(x), fp_arr=np.asarray(y))
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

    def _setup(self, time_step, final_time):
        c = self._m.control
        dt = float(time_step) if time_step is not None else c["time_step"]
        final = float(final_time) if final_time is not None else c["final_time"]
        times, save = _times(c["initial_time"], final, dt, c["saveper"])
        return c["initial_time"], dt, final, times, save

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
        """
        C = dict(self._defaults)
        for k, v in (params or {}).items():
            C[self._constant(k)] = v
        t0, dt, final, times, save = self._setup(time_step, final_time)
        C["__final_time"], C["__saveper"] = final, self._m.control["saveper"]
        cols, pys = self._columns(return_columns)
        kernel = self._kernel(pys, vector=False)
        out = kernel(C, t0, dt, len(times) - 1, save.tolist(), int(save.sum()), [[] for _ in pys])
        data = {p: np.asarray(o, dtype=float) for p, o in zip(pys, out, strict=True)}
        df = pd.DataFrame({c: data[self.py_name(c)] for c in cols}, index=pd.Index(times[save], name="time"))
        return df

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
        t0, dt, final, times, save = self._setup(time_step, final_time)
        C["__final_time"], C["__saveper"] = final, self._m.control["saveper"]
        cols, pys = self._columns(return_columns)
        nsave = int(save.sum())
        out = [np.empty((nsave, n)) for _ in pys]
        kernel = self._kernel(pys, vector=True)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            kernel(C, t0, dt, len(times) - 1, save.tolist(), nsave, out)
        arrays = dict(zip(pys, out, strict=True))
        return times[save], {c: np.ascontiguousarray(arrays[self.py_name(c)].T) for c in cols}


@lru_cache(maxsize=4)
def load_translation(py_path: str) -> FastModel:
    """The accelerated model of a PySD translation already on disk (built once per process and path)."""
    return FastModel(py_path)


def load_fast(mdl_path: str | Path = MODEL_PATH) -> FastModel:
    """The accelerated model for ``mdl_path``, translated once and built once per process."""
    return load_translation(str(translated_path(mdl_path)))


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pysd.load(str(fast.py_path)).run(params=dict(params or {}), return_columns=cols,
                                               time_step=time_step)
    got = fast.run(params, cols, time_step=time_step)
    a, b = got.to_numpy(dtype=float), ref[cols].to_numpy(dtype=float)
    if a.shape != b.shape:
        raise AssertionError(f"shape {a.shape} != PySD {b.shape}")
    big = np.abs(b) > 1e-9
    rel = np.where(big, np.abs(a - b) / np.where(big, np.abs(b), 1.0), np.abs(a - b))
    return float(np.nanmax(rel)) if rel.size else 0.0
