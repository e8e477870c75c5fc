"""The model file: where it is, what it declares, and loading it for either engine.

The model is one Vensim ``.mdl`` text file, ``sd_models/megacity.mdl``. This
module reads its declarations (names, units, ranges, comments and sectors)
with PySD's own Vensim parser, translates it once with PySD into a cache
outside the source tree, and loads it for PySD or pysimlin.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = [
    "SKETCH_MARK",
    "Element",
    "ViewLayout",
    "read_sketch",
    "split_sketch",
    "check_constant",
    "MODEL_PATH",
    "resource_dir",
    "Variable",
    "canonical",
    "equation_groups",
    "model_doc",
    "model_years",
    "load_pysd",
    "load_simlin",
    "translated_path",
    "cache_dir",
]

_HERE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Find a top-level project folder (``sd_models``, ``scenarios``).

    In a source checkout or an editable install the folder sits beside the
    package; in a regular install it is installed as ``megacity_sd/<name>``.
    """
    for candidate in (_HERE.parent / name, _HERE / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"megacity-sd: cannot find the '{name}' folder beside {_HERE}")


MODEL_PATH = resource_dir("sd_models") / "megacity.mdl"


def canonical(name: str) -> str:
    """Canonical form of a model name: lower case, words joined by ``_``.

    This is the identifier pysimlin uses, and it makes look-ups insensitive to
    case and spacing, as Vensim is.
    """
    return re.sub(r"[\s_]+", "_", name.strip().lower())


@dataclass(frozen=True)
class Variable:
    """One declared model variable.

    Attributes
    ----------
    name : str
        Name as written in the ``.mdl`` file.
    kind : str
        ``"constant"``, ``"stock"``, ``"lookup"`` or ``"auxiliary"``.
    units : str
        Vensim units string.
    limits : tuple of float or None
        ``(min, max)`` from the Vensim range, where declared.
    comment : str
        The variable's comment (for constants, its source).
    sector : str
        The view (sector) the variable is drawn in.
    value : float or None
        Default value of a constant.
    equation : str
        The equation text.
    """

    name: str
    kind: str
    units: str
    limits: tuple[float, float] | None
    comment: str
    sector: str
    value: float | None
    equation: str


def _limits(raw) -> tuple[float, float] | None:
    if not raw:
        return None
    lo, hi = raw[0], raw[1]
    if lo is None or hi is None:
        return None
    try:
        return float(lo), float(hi)
    except (TypeError, ValueError):
        return None


def equation_groups(text: str) -> dict[str, str]:
    """Map canonical variable names to the equation group they are written in.

    Groups are the ``.Name`` headers between the ``****`` lines of the equation
    section (``.Energy.Supply`` gives ``Energy.Supply``); they are written to
    match the sketch views, so a variable that is not drawn yet belongs to the
    view of its group.
    """
    groups: dict[str, str] = {}
    group = None
    lines = text.split("\\\\\\---///", 1)[0].splitlines()
    for i, line in enumerate(lines):
        if line.startswith("\t.") and i > 0 and lines[i - 1].startswith("****"):
            group = line.strip()[1:]
        elif group and line and not line[0].isspace() and line[0] not in "~|*{":
            m = re.match(r"([^=(~|]+?)\s*(=|\(\s*$)", line)
            if m:
                groups.setdefault(canonical(m.group(1)), group)
    return groups


# --------------------------------------------------------------------------- the sketch

SKETCH_MARK = "\\\\\\---///"


@dataclass
class Element:
    """One object of a view.

    Attributes
    ----------
    uid : int
        Id in the sketch.
    kind : str
        ``stock``, ``aux`` (any variable drawn without a valve), ``flow`` (a
        flow's name, attached to its valve), ``valve``, ``cloud`` or
        ``shadow``.
    name : str
        Variable name as written in the model (empty for valves and clouds).
    x, y : float
        Centre.
    key : str
        Canonical name of the variable ('' for valves and clouds).
    """

    uid: int
    kind: str
    name: str
    x: float
    y: float
    key: str = ""


@dataclass
class ViewLayout:
    """A laid-out view: elements, pipes and connectors.

    Attributes
    ----------
    name : str
    elements : list of Element
    pipes : list of tuple
        ``(valve uid, end uid, "in" | "out")``: a pipe from the valve into a
        stock (``in``) or from a stock or cloud to the valve (``out``).
    connectors : list of tuple
        ``(from uid, to uid, polarity, control point or None)``.
    """

    name: str
    elements: list[Element] = field(default_factory=list)
    pipes: list[tuple[int, int, str]] = field(default_factory=list)
    connectors: list[tuple[int, int, int, tuple[float, float] | None]] = field(default_factory=list)

    def by_key(self) -> dict[str, Element]:
        """Variable elements keyed by canonical name (flows by their name element)."""
        return {e.key: e for e in self.elements if e.key and e.kind in ("stock", "aux", "flow", "shadow")}

def split_sketch(text: str) -> tuple[str, str]:
    """A model text as (equations, sketch), split at the first sketch mark line."""
    i = text.find("\n" + SKETCH_MARK)
    if i < 0:
        raise ValueError("no sketch section (a line starting with \\\\\\---///) in the model file")
    return text[: i + 1], text[i + 1:]


def read_sketch(source: str | Path = MODEL_PATH) -> list[ViewLayout]:
    """The one reader of a ``.mdl`` sketch: its views as :class:`ViewLayout` objects.

    Parameters
    ----------
    source : str or Path
        A model file, or the text of one (a string holding the sketch mark).
    """
    text = source if isinstance(source, str) and SKETCH_MARK in source else Path(source).read_text(encoding="utf-8")
    _, sketch = split_sketch(text)
    out: list[ViewLayout] = []
    for line in sketch.splitlines():
        if line.startswith("*"):
            out.append(ViewLayout(line[1:].strip()))
            continue
        if not out or not re.match(r"^(1|10|11|12),", line):
            continue
        f = line.split(",")
        lay = out[-1]
        if f[0] == "10":
            shape, bits = f[7], f[8]
            kind = "stock" if shape == "3" else "flow" if shape == "40" else "shadow" if bits == "2" else "aux"
            name = f[2].strip('"')
            lay.elements.append(Element(int(f[1]), kind, name, float(f[3]), float(f[4]), canonical(name)))
        elif f[0] == "11":
            lay.elements.append(Element(int(f[1]), "valve", "", float(f[3]), float(f[4])))
        elif f[0] == "12" and f[2] == "48":
            lay.elements.append(Element(int(f[1]), "cloud", "", float(f[3]), float(f[4])))
        elif f[0] == "1":
            a, b, shape = int(f[2]), int(f[3]), f[4]
            if shape in ("4", "100"):
                lay.pipes.append((a, b, "in" if shape == "4" else "out"))
            else:
                pol = {"43": 1, "45": -1}.get(f[6], 0)
                m = re.search(r"\|\((-?[\d.]+),(-?[\d.]+)\)\|", line)
                ctrl = None
                if shape == "1" and m:
                    ctrl = (float(m.group(1)), float(m.group(2)))
                lay.connectors.append((a, b, pol, ctrl))
    return out


def _sectors(text: str) -> dict[str, str]:
    """Map canonical variable names to the first view (sector) they are drawn in, not as a shadow."""
    sector_of: dict[str, str] = {}
    for lay in read_sketch(text):
        for e in lay.elements:
            if e.kind in ("stock", "aux", "flow"):
                sector_of.setdefault(e.key, lay.name)
    return sector_of


@lru_cache(maxsize=4)
def model_doc(mdl_path: str | Path = MODEL_PATH) -> dict[str, Variable]:
    """Declarations of every model variable, keyed by canonical name.

    Parsing with PySD's Vensim parser takes seconds, so the result is kept in
    :func:`cache_dir` as JSON keyed by the hash of the model text and the PySD
    version (written to a temporary name, then renamed); an unwritable cache
    only costs the parse.

    Parameters
    ----------
    mdl_path : str or Path
        The Vensim model file.

    Returns
    -------
    dict of str to Variable
    """
    import json
    from importlib.metadata import version

    pysd_version = version("pysd")
    mdl_path = Path(mdl_path)
    key = hashlib.sha256(mdl_path.read_bytes() + f"doc-1 {pysd_version}".encode()).hexdigest()[:16]
    cached = cache_dir() / "doc" / f"{mdl_path.stem}-{key}.json"
    try:
        rows = json.loads(cached.read_text(encoding="utf-8"))
        return {k: Variable(**{**v, "limits": tuple(v["limits"]) if v["limits"] else None}) for k, v in rows.items()}
    except (OSError, ValueError, TypeError):
        pass
    out = _parse_doc(mdl_path)
    from .io import write_text_atomic

    try:
        write_text_atomic(json.dumps({k: dataclasses.asdict(v) for k, v in out.items()}), cached, now=True)
    except OSError:
        pass
    return out


def _parse_doc(mdl_path: Path) -> dict[str, Variable]:
    from pysd.translators.vensim.vensim_file import VensimFile

    vf = VensimFile(Path(mdl_path))
    vf.parse()
    section = vf.sections[0]
    sector_of = _sectors(Path(mdl_path).read_text(encoding="utf-8"))
    out: dict[str, Variable] = {}
    for el in section.elements:
        ast = type(el.ast).__name__
        if ast in ("float", "int"):
            kind, value = "constant", float(el.ast)
        elif ast == "IntegStructure":
            kind, value = "stock", None
        elif ast in ("LookupsStructure", "GetLookupsStructure"):
            kind, value = "lookup", None
        else:
            kind, value = "auxiliary", None
        key = canonical(el.name)
        out[key] = Variable(
            name=el.name,
            kind=kind,
            units=(el.units or "").strip(),
            limits=_limits(el.limits),
            comment=" ".join((el.documentation or "").split()),
            sector=sector_of.get(key, "Control"),
            value=value,
            equation=el.expression if isinstance(el.expression, str) else str(el.expression),
        )
    return out


def check_constant(name: str, value: float | None = None, *, where: str = "",
                   mdl_path: str | Path = MODEL_PATH) -> Variable:
    """The one rule for "is this a model constant a user may set, and is the value in its range?".

    A user may set a constant outside the Control sector (not the time
    settings); names match in any case and spacing; the value, when given,
    must lie in the constant's Vensim ``[min, max]``.

    Parameters
    ----------
    name : str
        The name as the user wrote it.
    value : float, optional
        The value to check against the range.
    where : str
        What names the place of the name in the user's input, for the message
        (``"scenario.yaml: key 'constants.X'"``).

    Returns
    -------
    Variable
        The constant's declaration (its ``name`` is the model's spelling).

    Raises
    ------
    UserInputError
        Not a model constant (with a did-you-mean), a stock or auxiliary, a
        time setting, or a value out of range.
    """
    from .errors import UserInputError, suggest

    doc = model_doc(Path(mdl_path))
    var = doc.get(canonical(name))
    prefix = f"{where}: " if where else ""
    if var is None:
        hint = suggest(name, [v.name for v in doc.values() if v.kind == "constant" and v.sector != "Control"],
                       key=canonical)
        raise UserInputError(f"{prefix}'{name}' is not a model constant{hint}; allowed: the levers and constants "
                             "that 'megacity-sd scenarios --all' lists")
    if var.kind != "constant":
        article = "an" if var.kind[0] in "aeiou" else "a"
        raise UserInputError(f"{prefix}'{var.name}' is {article} {var.kind}, not a constant; only constants can "
                             "be set")
    if var.sector == "Control":
        raise UserInputError(f"{prefix}'{var.name}' is a time setting of the model; only other constants can be set")
    if value is not None and var.limits is not None:
        lo, hi = var.limits
        if not lo <= value <= hi:
            raise UserInputError(f"{prefix}value {value:g} out of range; allowed: [{lo:g}, {hi:g}] {var.units}")
    return var


def cache_dir() -> Path:
    """Folder of translated models, outside the source tree.

    ``$MEGACITY_SD_CACHE`` if set, else ``$XDG_CACHE_HOME/megacity-sd`` or
    ``~/.cache/megacity-sd``.
    """
    env = os.environ.get("MEGACITY_SD_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "megacity-sd"


#: Notes PySD gives about splitting a translation by views (the forced ``split_views=True``): they concern how the
#: translation's files are organised, which nothing here relies on (the fast engine reads either layout), so they are
#: silenced; every other warning of the translation reaches the user. Regular expressions, matched at the start.
_SPLIT_VIEW_NOTES = (
    r"Only a single view with no subviews was detected\. The model will be built in a single file\.",
    r"The given subview separators were not matched in any view name\.",
    r"Variable '.*' is not declared as a workbench variable in any view\. It will be added to the main module\.",
    r"Variable '.*' is declared as a workbench variable in '.*' but it has been already added in '.*'\.",
    r"Control variable '.*' is declared as a workbench variable in '.*'\.",
    r"Two views with same names but different separators where identified\.",
)


def translated_path(mdl_path: str | Path = MODEL_PATH) -> Path:
    """Translate the model with PySD once and return the path of the ``.py``.

    The translation is keyed by the hash of the model text, the PySD version
    and this procedure's version, and is written into a temporary folder that
    is renamed into place, so concurrent processes never see half a
    translation. PySD itself is imported only to translate: a cached
    translation is found by the version pip installed (the same string as
    ``pysd.__version__``).

    The translation is split by views (``split_views=True``, one module per
    sector: a readable cache; nothing relies on the split). When PySD cannot
    split it (a name in the sketch that the equations do not define, a sketch
    line its grammar does not read), the model is translated into one file
    instead, with a warning: the same components, the same results.

    Parameters
    ----------
    mdl_path : str or Path
        The Vensim model file.

    Returns
    -------
    Path
        The main ``.py`` of the translation.

    Raises
    ------
    UserInputError
        In one line naming the model file: the file is missing; PySD cannot
        translate it (PySD's error); or it reads a data file (``GET DIRECT``,
        ``GET XLS`` functions), which the engines do not read: they run the
        translation from the cache, where only the ``.mdl`` is copied.
    """
    from importlib.metadata import version

    from .errors import UserInputError

    mdl_path = Path(mdl_path)
    try:
        text = mdl_path.read_bytes()
    except OSError as err:
        raise UserInputError(f"{mdl_path}: cannot read the model file ({err.strerror or err})") from None
    key = hashlib.sha256(text + version("pysd").encode() + b" translate-2").hexdigest()[:16]
    target = cache_dir() / "pysd" / f"{mdl_path.stem}-{key}"
    py = target / f"{mdl_path.stem}.py"
    if py.is_file():
        return py
    import pysd

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        copy = tmp / mdl_path.name
        shutil.copyfile(mdl_path, copy)
        _translate(pysd, mdl_path, copy)
        for variable, data_file in _data_files(tmp):
            beside = (mdl_path.parent / data_file).is_file()
            raise UserInputError(
                f"{mdl_path}: variable '{variable}' reads the data file '{data_file}' "
                f"({'found' if beside else 'not found'} beside the model); the engines do not read a model's data "
                "files (they run its translation from a cache folder): write the values into the model")
        try:
            tmp.rename(target)
        except OSError:  # another process won the race
            if not py.is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return py


def _translate(pysd, mdl_path: Path, copy: Path) -> None:
    """``pysd.read_vensim`` on the copy ``copy`` of ``mdl_path``: split by views, else in one file; refused in one
    line when PySD translates it neither way."""
    from .errors import UserInputError

    try:
        with warnings.catch_warnings():
            for note in _SPLIT_VIEW_NOTES:
                warnings.filterwarnings("ignore", message=note, category=UserWarning)
            pysd.read_vensim(str(copy), split_views=True, subview_sep=["."], initialize=False)
        return
    except Exception as err:  # PySD raises KeyError, parsimonious errors...: tried again without the split
        split_error = err
    for f in copy.parent.iterdir():  # what the split attempt left, so that no stale module is read
        if f != copy:
            shutil.rmtree(f) if f.is_dir() else f.unlink()
    try:
        pysd.read_vensim(str(copy), split_views=False, initialize=False)
    except Exception as err:  # any failure of PySD on this model is a fact about the model file
        missing = re.search(r"File '(.+?)' not found", str(err))
        if isinstance(err, FileNotFoundError) and missing:
            name = Path(missing.group(1)).name
            raise UserInputError(f"{mdl_path}: PySD needs the data file '{name}' to translate the model; the engines "
                                 "do not read a model's data files: write the values into the model") from None
        raise UserInputError(f"{mdl_path}: PySD cannot translate the model: {_pysd_error(err)}") from None
    warnings.warn(f"{mdl_path}: PySD cannot split the translation by views ({_view_error(mdl_path, split_error)}); "
                  "translated into one file instead (the same model)", UserWarning, stacklevel=3)


def _pysd_error(err: Exception) -> str:
    """PySD's error in one line: its class and the first line of its message."""
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def _view_error(mdl_path: Path, err: Exception) -> str:
    """What made splitting by views fail: the view that shows a name the equations do not define, else PySD's error."""
    if isinstance(err, KeyError) and err.args:
        key = canonical(str(err.args[0]))
        try:
            views = read_sketch(mdl_path)
        except (OSError, ValueError, IndexError):
            views = []
        for view in views:
            for e in view.elements:
                if e.key == key:
                    return f"view '{view.name}' shows '{e.name}', which the equations do not define"
    return _pysd_error(err)


def _data_files(folder: Path) -> list[tuple[str, str]]:
    """``(variable, data file)`` for every data file a PySD translation in ``folder`` reads (``Ext*`` objects)."""
    import ast

    out: list[tuple[str, str]] = []
    for f in sorted(folder.rglob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        reads: dict[str, list[str]] = {}  # external object -> files
        for node in tree.body:
            call = node.value if isinstance(node, ast.Assign | ast.Expr) else None
            if not isinstance(call, ast.Call) or not call.args or not isinstance(call.args[0], ast.Constant) \
                    or not isinstance(call.args[0].value, str):
                continue
            if isinstance(node, ast.Assign) and isinstance(call.func, ast.Name) and call.func.id.startswith("Ext") \
                    and isinstance(node.targets[0], ast.Name):
                reads.setdefault(node.targets[0].id, []).append(call.args[0].value)
            elif isinstance(call.func, ast.Attribute) and call.func.attr == "add" \
                    and isinstance(call.func.value, ast.Name):
                reads.setdefault(call.func.value.id, []).append(call.args[0].value)
        if not reads:
            continue
        names = {}  # external object -> the variable whose function calls it
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                deco = [d for d in node.decorator_list if isinstance(d, ast.Call)]
                name = next((k.value.value for d in deco for k in d.keywords
                             if k.arg == "name" and isinstance(k.value, ast.Constant)), node.name)
                for n in ast.walk(node):
                    if isinstance(n, ast.Name) and n.id in reads:
                        names.setdefault(n.id, name)
        for obj, files in reads.items():
            out += [(names.get(obj, obj), file) for file in dict.fromkeys(files)]
    return out


def load_pysd(mdl_path: str | Path = MODEL_PATH):
    """Load the translated model with PySD (translating it first if needed).

    Returns
    -------
    pysd.py_backend.model.Model
    """
    import pysd

    return pysd.load(str(translated_path(mdl_path)))


def load_simlin(mdl_path: str | Path = MODEL_PATH):
    """Load the model with pysimlin.

    Returns
    -------
    simlin.Model
    """
    import simlin

    return simlin.load(str(mdl_path))


def model_years(mdl_path: str | Path = MODEL_PATH) -> tuple[int, int]:
    """The run's first and last year: the model's ``INITIAL TIME`` and ``FINAL TIME`` (the one declaration).

    Returns
    -------
    tuple of int
        ``(first, last)``, e.g. ``(2005, 2060)``.
    """
    doc = model_doc(Path(mdl_path))
    return int(doc["initial_time"].value), int(doc["final_time"].value)
