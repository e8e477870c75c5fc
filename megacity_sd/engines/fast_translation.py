"""The fast engine's reading of PySD's translation: components, stateful objects, dependencies; every construct it
cannot reproduce exactly refused at load, named."""

from __future__ import annotations

import ast
import json
import operator
from dataclasses import dataclass, field
from pathlib import Path

_CONTROL = ("time", "initial_time", "final_time", "time_step", "saveper")
_CONTROL_VARS = ("initial_time", "final_time", "time_step", "saveper")
_CONTROL_NAMES = {"initial_time": "INITIAL TIME", "final_time": "FINAL TIME", "time_step": "TIME STEP",
                  "saveper": "SAVEPER"}
# the operators PySD writes for Vensim's + - * / ^ (Python's own, on Python numbers: the doubles PySD computes)
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


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


class NotRunnable(NotImplementedError):
    """A model no engine runs as written (a control variable defined through itself, an algebraic loop)."""


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
        self.control_expr: dict[str, ast.expr] = {}
        self.control: dict[str, float] = {}  # the model's own values (no override)
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
                        and node.targets[0].id == "_control_vars" and isinstance(node.value, ast.Dict):
                    for k, v in zip(node.value.keys, node.value.values, strict=True):
                        self.control_expr[ast.literal_eval(k)] = _lambda_body(v, "control")
        self._objects(objs)
        missing = [_CONTROL_NAMES[c] for c in _CONTROL_VARS if c not in self.control_expr]
        if missing:
            raise NotImplementedError(f"pysd_fast: control variables missing: {', '.join(missing)}")
        self.control = self.control_values()
        self._dependencies()

    # -- control variables
    def control_values(self, **overrides: float | None) -> dict[str, float]:
        """INITIAL TIME, FINAL TIME, TIME STEP and SAVEPER as PySD computes them for a run.

        PySD keeps each control variable as a function (``_control_vars``):
        ``SAVEPER = TIME STEP`` becomes ``lambda: time_step()``, which follows
        a ``time_step`` given to ``run``. Here an override replaces its
        variable and every other one is evaluated from its expression, with
        Python's operators on Python numbers, as PySD evaluates it.

        Parameters
        ----------
        **overrides : float or None
            ``time_step``, ``final_time``...: values given to the run (None: the model's).

        Returns
        -------
        dict of str to float
            Keyed by PySD name (``initial_time``, ``final_time``, ``time_step``, ``saveper``).

        Raises
        ------
        NotImplementedError
            An expression other than numbers, ``+ - * / **`` and the other
            control variables (a model constant, a function, ``Time``), a
            circular definition or a division by zero.
        """
        values = {k: v for k, v in overrides.items() if v is not None}

        def value(py: str, stack: tuple[str, ...]) -> float:
            if py in values:
                return values[py]
            if py in stack:
                loop = " -> ".join(_CONTROL_NAMES[s] for s in (*stack[stack.index(py):], py))
                raise NotRunnable(f"pysd_fast: control variable '{_CONTROL_NAMES[py]}' is defined through "
                                  f"itself ({loop})")
            values[py] = evaluate(self.control_expr[py], py, (*stack, py))
            return values[py]

        def evaluate(node: ast.expr, py: str, stack: tuple[str, ...]) -> float:
            if isinstance(node, ast.Constant) and type(node.value) in (int, float):
                return node.value
            if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
                return _UNARY[type(node.op)](evaluate(node.operand, py, stack))
            if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
                a, b = evaluate(node.left, py, stack), evaluate(node.right, py, stack)
                try:
                    return _OPS[type(node.op)](a, b)
                except ArithmeticError as err:  # 1/0, 0**-1, an overflow
                    raise NotImplementedError(f"pysd_fast: control variable '{_CONTROL_NAMES[py]}' cannot be "
                                              f"computed: {ast.unparse(node)} gives {err}") from None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONTROL_VARS \
                    and not node.args and not node.keywords:
                return value(node.func.id, stack)
            raise NotImplementedError(f"pysd_fast: control variable '{_CONTROL_NAMES[py]}' is not a number or "
                                      "arithmetic (+ - * / ^) of numbers and of INITIAL TIME, FINAL TIME, TIME STEP "
                                      f"and SAVEPER (PySD translates it to {ast.unparse(self.control_expr[py])})")

        return {py: value(py, ()) for py in _CONTROL_VARS}

    # -- component functions
    def _function(self, node: ast.FunctionDef) -> None:
        deco = [d for d in node.decorator_list if isinstance(d, ast.Call)
                and ast.unparse(d.func) == "component.add"]
        if not deco:
            return  # helper functions of the main file (_init_outer_references)
        meta = _kw(deco[0])
        name = str(meta.get("name") or node.name)
        where = f"pysd_fast: variable '{name}'"
        if meta.get("subscripts") or meta.get("dims"):
            raise NotImplementedError(f"{where}: subscripted variables are not supported")
        stmts = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(stmts) != 1 or not isinstance(stmts[0], ast.Return) or stmts[0].value is None:
            raise NotImplementedError(f"{where}: only single-expression components are supported")
        expr = stmts[0].value
        comp_type = meta.get("comp_type")
        if node.name in _CONTROL:
            kind = "control"
        elif comp_type == "Lookup":
            kind = "lookup"
        elif comp_type == "Stateful":
            if meta.get("comp_subtype") not in ("Integ", "Smooth"):
                raise NotImplementedError(f"{where}: stateful {meta.get('comp_subtype')} is not supported")
            kind = "stock"
        elif comp_type == "Constant" and _is_number(expr):
            kind = "constant"
        elif comp_type in ("Auxiliary", "Constant"):
            kind = "aux"
        else:
            raise NotImplementedError(f"{where}: component type {comp_type} is not supported")
        self.components[node.name] = _Component(node.name, name, kind, expr)

    # -- Integ, Smooth, HardcodedLookups objects
    def _objects(self, objs: dict[str, ast.Call]) -> None:
        for comp in self.components.values():
            if comp.kind == "stock":
                call = comp.expr
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.args):
                    raise NotImplementedError(f"pysd_fast: variable '{comp.name}': unexpected stateful body")
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
                    raise NotImplementedError(f"pysd_fast: variable '{comp.name}': stateful object {cls} is not "
                                              "supported")
            elif comp.kind == "lookup":
                call = comp.expr
                obj = call.func.id if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) else None
                spec = objs.get(obj)
                if spec is None or ast.unparse(spec.func) != "HardcodedLookups":
                    raise NotImplementedError(f"pysd_fast: variable '{comp.name}': only hardcoded lookups are "
                                              "supported")
                x, y, coords, interp = (ast.literal_eval(a) for a in spec.args[:4])
                if coords or interp != "interpolate":
                    raise NotImplementedError(f"pysd_fast: variable '{comp.name}': lookup with {interp!r}/{coords} "
                                              "is not supported")
                if any(b <= a for a, b in zip(x[:-1], x[1:], strict=True)):
                    raise NotImplementedError(f"pysd_fast: variable '{comp.name}': lookup x values not increasing")
                self.lookups[comp.py] = (tuple(float(v) for v in x), tuple(float(v) for v in y))

    # -- dependencies
    def _calls(self, expr: ast.expr, name: str) -> set[str]:
        """The components ``expr`` calls; a construct not supported is refused, naming the variable ``name``."""
        try:
            return self._calls_of(expr)
        except NotImplementedError as err:
            raise type(err)(f"pysd_fast: variable '{name}': {str(err).removeprefix('pysd_fast: ')}") from None

    def _calls_of(self, expr: ast.expr) -> set[str]:
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
                comp.deps = self._calls(comp.expr, comp.name)
        for st in self.statefuls.values():
            name = self.components[st.py].name
            st.init_deps = self._calls(st.init, name)
            if st.kind == "integ":
                st.step_deps = self._calls(st.ddt, name)
            else:
                st.step_deps = self._calls(st.inp, name) | self._calls(st.time, name)
                if self._calls(st.order, name) or not _is_number(st.order):
                    raise NotImplementedError(f"pysd_fast: variable '{name}': SMOOTH order must be a number")
                if ast.literal_eval(st.order) != 1:  # SMOOTH3 and SMOOTHN keep `order` cascaded stocks in PySD
                    raise NotImplementedError(f"pysd_fast: variable '{name}': SMOOTH of order "
                                              f"{ast.literal_eval(st.order)} (SMOOTH3, SMOOTHN) is not supported; "
                                              "only first-order SMOOTH")
                st.init_deps |= self._calls(st.time, name)  # PySD evaluates time and order once known
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
                    raise NotRunnable(f"pysd_fast: variable '{comp.name}': algebraic loop")
                dyn[py] = any(is_dyn(d, (*stack, py)) for d in comp.deps)
            return dyn[py]

        for py in self.components:
            is_dyn(py)
        self.dynamic = dyn
        # on_stock = depends (transitively) on a stock; dynamic but not on_stock: a function of time alone
        on: dict[str, bool] = {}

        def is_on_stock(py: str) -> bool:
            if py not in on:
                comp = self.components[py]
                on[py] = comp.kind == "stock" or (comp.kind == "aux" and any(is_on_stock(d) for d in comp.deps))
            return on[py]

        for py in self.components:
            is_on_stock(py)
        self.on_stock = on

    # -- naming
    @property
    def constants(self) -> dict[str, float]:
        return {c.py: ast.literal_eval(c.expr) for c in self.components.values() if c.kind == "constant"}
