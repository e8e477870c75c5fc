"""The fast engine's reading of PySD's translation: components, stateful objects, dependencies; every construct it
cannot reproduce exactly refused at load, named."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path

_CONTROL = ("time", "initial_time", "final_time", "time_step", "saveper")


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
