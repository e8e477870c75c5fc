"""The fast engine's code generation: PySD's component expressions rewritten into one Euler loop for a scalar run or a
batch, and the scalar and vector helpers the generated code calls."""

from __future__ import annotations

import ast
import copy
from bisect import bisect_right

import numpy as np

from .fast_translation import NotRunnable, _Model

__all__ = [
    "SMALL_VENSIM",
    "ZeroDivide",
]


SMALL_VENSIM = 1e-6  # pysd.py_backend.functions.SMALL_VENSIM (ZIDZ threshold)


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
    j = bisect_right(xp, x) - 1  # xarray localises to the bracketing nodes, then calls np.interp, which computes
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])  # this slope and this line (numpy's arr_interp, no FMA)
    y = slope * (x - xp[j]) + fp[j]
    if y != y:  # numpy's fallbacks for a non-finite slope
        y = slope * (x - xp[j + 1]) + fp[j + 1]
        if y != y and fp[j] == fp[j + 1]:
            y = fp[j]
    return float(y)


def _lookup_v(x, xp, fp):
    """PySD's lookup for an array ``x``: numpy.interp returns the node value at a node and clamps outside."""
    return np.interp(x, xp, fp)


def _zidz_v(a, b):
    """ZIDZ on arrays: 0 where ``|b| < SMALL_VENSIM``, else ``a / b``; the masked elements are not divided (no
    floating-point flag is raised: a run watches them for divisions by zero)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = ~(np.abs(b) < SMALL_VENSIM)  # a NaN b is divided (NaN), as in PySD's zidz
    return np.divide(a, b, out=np.zeros(np.broadcast_shapes(a.shape, b.shape)), where=keep)


class ZeroDivide(ZeroDivisionError):
    """A division by zero found by a checked kernel: the component (PySD name), the time(s) and where ``b == 0``."""

    def __init__(self, py: str, t, zero):
        super().__init__(f"division by zero in {py}")
        self.py, self.t, self.zero = py, t, zero


def _div_s(a, b, py, t):
    """``a / b`` of a checked scalar kernel: a zero ``b`` raises :class:`ZeroDivide` naming the component."""
    if b == 0:
        raise ZeroDivide(py, t, True)
    return a / b


def _div_v(a, b, py, t):
    """``a / b`` of a checked kernel on arrays (over the batch, or over the steps): any zero ``b`` raises."""
    zero = np.asarray(b) == 0
    if zero.any():
        raise ZeroDivide(py, t, zero)
    return a / b


class _Rewrite(ast.NodeTransformer):
    """Component calls -> local variables; PySD functions -> kernel helpers."""

    def __init__(self, model: _Model, vector: bool, helpers: str = "", checked: bool = False):
        self.m = model
        self.vector = vector
        self.helpers = helpers  # suffix of the helper names (vector helpers inside a scalar kernel: "v")
        self.checked = checked  # divisions through _div, which names the component that divides by zero
        self.where = ""  # the component being rewritten (PySD name)

    def visit_BinOp(self, node: ast.BinOp):
        self.generic_visit(node)
        r = node.right
        if self.checked and isinstance(node.op, ast.Div) and not (
                isinstance(r, ast.Constant) and isinstance(r.value, int | float) and r.value != 0):
            return ast.Call(ast.Name(f"_div{self.helpers}", ast.Load()),
                            [node.left, node.right, ast.Constant(self.where), ast.Name("t", ast.Load())], [])
        return node

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Name):
            if f.id in self.m.components:
                comp = self.m.components[f.id]
                if comp.kind == "lookup":
                    return ast.Call(ast.Name(f"_lk{self.helpers}_{f.id}", ast.Load()), [node.args[0]], [])
                return ast.Name(_var(f.id), ast.Load())
            if f.id == "float":  # the inline MIN/MAX/ZIDZ already give a Python number: no call needed
                return node.args[0] if self.vector or isinstance(node.args[0], ast.IfExp) else node
            if f.id == "zidz":
                if not self.vector and len(node.args) == 2:
                    return self._inline_zidz(*node.args)
                return ast.Call(ast.Name(f"_zidz{self.helpers}", ast.Load()), node.args, [])
            return node
        fn = ast.unparse(f)
        if fn in ("np.maximum", "np.minimum") and not self.vector:
            if len(node.args) == 2 and not node.keywords:
                return self._inline_extreme(*node.args, ast.GtE() if fn == "np.maximum" else ast.LtE())
            return ast.Call(ast.Name("_max" if fn == "np.maximum" else "_min", ast.Load()), node.args, [])
        return node

    # Scalar MIN, MAX and ZIDZ written inline (no call per evaluation: a third of a scalar run's time went to these
    # calls). Each operand is evaluated once, into a local of its own (an assignment expression), and the rule is
    # that of the helpers above: _max_s, _min_s (numpy's NaN rule) and _zidz_s.
    def _temp(self) -> tuple[ast.Name, ast.Name]:
        self.n_temp = getattr(self, "n_temp", 0) + 1
        name = f"_w{self.n_temp}"
        return ast.Name(name, ast.Store()), ast.Name(name, ast.Load())

    def _operand(self, e: ast.expr) -> tuple[ast.expr, ast.expr]:
        """(first use, later uses) of an operand: a name or number as it is, anything else through a temporary."""
        if isinstance(e, (ast.Name, ast.Constant)):
            return e, e
        store, load = self._temp()
        return ast.NamedExpr(store, e), load

    def _inline_extreme(self, a: ast.expr, b: ast.expr, op: ast.cmpop) -> ast.expr:
        """``a if (a >= b or a != a) else b`` (MAX; ``<=`` for MIN), ``a`` and ``b`` evaluated once.

        A number as ``a`` is never NaN: its NaN test is left out.
        """
        a1, a2 = self._operand(a)
        b1, b2 = self._operand(b)
        test = ast.Compare(a1, [op], [b1])
        if not (isinstance(a, ast.Constant) and isinstance(a.value, (int, float)) and a.value == a.value):
            test = ast.BoolOp(ast.Or(), [test, ast.Compare(a2, [ast.NotEq()], [a2])])
        return ast.IfExp(test, a2, b2)

    def _inline_zidz(self, a: ast.expr, b: ast.expr) -> ast.expr:
        """``0 if abs(b) < SMALL_VENSIM else a / b``, ``b`` evaluated once."""
        b1, b2 = self._operand(b)
        test = ast.Compare(ast.Call(ast.Name("abs", ast.Load()), [b1], []), [ast.Lt()], [ast.Constant(SMALL_VENSIM)])
        return ast.IfExp(test, ast.Constant(0), ast.BinOp(a, ast.Div(), b2))


def _elementwise_exact(expr: ast.expr) -> bool:
    """Whether numpy on arrays gives, element by element, the same doubles as the scalar evaluation.

    True for arithmetic (+, -, *, /, unary minus), MIN/MAX, ZIDZ, lookups and
    component calls; False for powers and any other function (exp, log...).
    """
    for node in ast.walk(expr):
        if isinstance(node, ast.BinOp) and not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            return False
        if isinstance(node, ast.Call):
            f = ast.unparse(node.func)
            if f.startswith(("np.", "math.")) and f not in ("np.maximum", "np.minimum"):
                return False
    return True


def _var(py: str) -> str:
    return "t" if py == "time" else f"v_{py}"


class _Codegen:
    """The source of one kernel.

    ``checked``: every division of the loop goes through ``_div``, which raises
    :class:`ZeroDivide` naming the component at a zero divisor (a scalar run
    would raise Python's ZeroDivisionError there without the name; a batch
    would give inf or nan). The functions of time alone, evaluated once over
    every step, are always checked.
    """

    def __init__(self, m: _Model, outputs: list[str], vector: bool, checked: bool = False):
        self.m = m
        self.vector = vector
        self.checked = checked
        self.rw = _Rewrite(m, vector, checked=checked)
        # functions of time alone, over every step at once (a scalar kernel names its vector helpers apart)
        self.rw_time = _Rewrite(m, True, helpers="" if vector else "v", checked=True)
        self.outputs = outputs

    def expr(self, e: ast.expr, py: str) -> str:
        """``e``, the expression of component ``py`` (or of its stateful object), rewritten for the kernel."""
        self.rw.where = py
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
                raise NotRunnable(f"pysd_fast: variable '{comp.name}': algebraic loop")
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
            L.append(f"{ind}{_var(py)} = {self.expr(m.components[py].expr, py)}")
        done = set(static)
        # initial values of the stateful objects, in dependency order
        init_done: set[str] = set()

        def init(py: str, stack=()):
            if py in init_done:
                return
            if py in stack:
                raise NotRunnable(f"pysd_fast: variable '{m.components[py].name}': circular initialisation")
            st = m.statefuls[py]
            for d in sorted(st.init_deps):
                need_init(d, (*stack, py))
            if st.kind == "integ":
                L.append(f"{ind}{_var(py)} = {self.expr(st.init, py)}")
            else:
                L.append(f"{ind}{_var(py)} = {self.expr(st.init, py)}")
                L.append(f"{ind}o_{py} = {self.expr(st.order, py)}")
            init_done.add(py)

        def need_init(py: str, stack):
            comp = m.components[py]
            if comp.kind == "stock":
                init(py, stack)
            elif comp.kind == "aux" and py not in done:
                for d in sorted(comp.deps):
                    need_init(d, stack)
                L.append(f"{ind}{_var(py)} = {self.expr(comp.expr, py)}")
                done.add(py)

        for py in sorted(m.statefuls):
            init(py)
        # the loop
        core = [p for p in self.order(needed_step, set(static)) if m.dynamic[p]]
        report = [p for p in self.order(out_aux, set(static) | set(core)) if m.dynamic[p]]
        # Auxiliaries that are functions of time alone (policy phases and paths, time trends) are evaluated for
        # every step at once, as numpy arrays over the step times (accumulated as the loop accumulates them; in a
        # batch, steps x sets), and read by index in the loop: the same operations element-wise (+ - * /,
        # np.maximum and np.minimum, np.where for ZIDZ, np.interp for lookups). Expressions with exp, log or powers
        # stay in the loop (numpy's array routines may differ from the scalar call in the last bit), and so does
        # what depends on them.
        timed: list[str] = []
        for py in core + report:
            comp = m.components[py]
            if not m.on_stock[py] and _elementwise_exact(comp.expr) and all(
                    d == "time" or not m.dynamic[d] or d in timed for d in comp.deps):
                timed.append(py)
        if timed:
            L.append(f"{ind}ts = [t]")
            L.append(f"{ind}for _ in range(nsteps):")
            L.append(f"{ind}{ind}ts.append(ts[-1] + dt)")
            L.append(f"{ind}t = np.array(ts)" + ("[:, None]" if self.vector else ""))
            L.append(f"{ind}with np.errstate(divide='ignore', invalid='ignore'):")
            for py in timed:
                self.rw_time.where = py
                rhs = ast.unparse(self.rw_time.visit(copy.deepcopy(m.components[py].expr)))
                L.append(f"{ind}{ind}{_var(py)} = {rhs}")
            for py in timed:
                if self.vector:  # a row per step: (sets,) or (1,), broadcast against the batch in the loop
                    v = _var(py)
                    L.append(f"{ind}p_{py} = np.broadcast_to({v}, (len(ts), np.shape({v})[-1] if np.ndim({v}) == 2 "
                             "else 1))")
                else:
                    L.append(f"{ind}p_{py} = np.broadcast_to({_var(py)}, t.shape).tolist()")
            L.append(f"{ind}t = ts[0]")
        L.append(f"{ind}j = 0")
        L.append(f"{ind}for k in range(nsteps + 1):")
        ind2 = ind * 2
        for py in core:
            rhs = f"p_{py}[k]" if py in timed else self.expr(m.components[py].expr, py)
            L.append(f"{ind2}{_var(py)} = {rhs}")
        L.append(f"{ind2}if save[k]:")
        ind3 = ind * 3
        for py in report:
            rhs = f"p_{py}[k]" if py in timed else self.expr(m.components[py].expr, py)
            L.append(f"{ind3}{_var(py)} = {rhs}")
        for i, o in enumerate(self.outputs):
            L.append(f"{ind3}out[{i}][j] = {_var(o)}" if self.vector else f"{ind3}out[{i}].append({_var(o)})")
        L.append(f"{ind3}j += 1")
        L.append(f"{ind2}if k == nsteps:")
        L.append(f"{ind3}break")
        # derivatives, all from the state at t, then the update (PySD's Euler step)
        for py, st in m.statefuls.items():
            if st.kind == "integ":
                L.append(f"{ind2}d_{py} = {self.expr(st.ddt, py)}")
            elif self.checked:  # Smooth.ddt, its division checked
                L.append(f"{ind2}d_{py} = _div(({self.expr(st.inp, py)} - {_var(py)}) * o_{py}, "
                         f"{self.expr(st.time, py)}, {py!r}, t)")
            else:  # Smooth.ddt: (input - state) * order / smooth_time
                L.append(f"{ind2}d_{py} = ({self.expr(st.inp, py)} - {_var(py)}) * o_{py} / {self.expr(st.time, py)}")
        for py in m.statefuls:
            L.append(f"{ind2}{_var(py)} = {_var(py)} + d_{py} * dt")
        L.append(f"{ind2}t = t + dt")
        L.append(f"{ind}return out")
        return "\n".join(L) + "\n"
