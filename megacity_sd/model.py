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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "check_constant",
    "MODEL_PATH",
    "Variable",
    "canonical",
    "equation_groups",
    "model_doc",
    "load_pysd",
    "load_simlin",
    "translated_path",
    "cache_dir",
]

_HERE = Path(__file__).resolve().parent


def _resource_dir(name: str) -> Path:
    """Find a top-level project folder (``sd_models``, ``scenarios``).

    In a source checkout or an editable install the folder sits beside the
    package; in a regular install it is installed as ``megacity_sd/<name>``.
    """
    for candidate in (_HERE.parent / name, _HERE / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"megacity-sd: cannot find the '{name}' folder beside {_HERE}")


MODEL_PATH = _resource_dir("sd_models") / "megacity.mdl"


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


def _sectors(text: str) -> dict[str, str]:
    """Map canonical variable names to the sketch view (sector) they are drawn in."""
    sector_of: dict[str, str] = {}
    view = None
    for line in text.split("\\\\\\---///", 1)[-1].splitlines():
        if line.startswith("*"):
            view = line[1:].strip()
        elif line.startswith("10,") and view is not None:
            fields = line.split(",")
            if len(fields) > 2:
                sector_of.setdefault(canonical(fields[2].strip('"')), view)
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
        write_text_atomic(json.dumps({k: dataclasses.asdict(v) for k, v in out.items()}), cached)
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


def translated_path(mdl_path: str | Path = MODEL_PATH) -> Path:
    """Translate the model with PySD once and return the path of the ``.py``.

    The translation is keyed by the hash of the model text and the PySD
    version, and is written into a temporary folder that is renamed into place,
    so concurrent processes never see half a translation.
    """
    import pysd

    mdl_path = Path(mdl_path)
    text = mdl_path.read_bytes()
    key = hashlib.sha256(text + pysd.__version__.encode()).hexdigest()[:16]
    target = cache_dir() / "pysd" / f"{mdl_path.stem}-{key}"
    py = target / f"{mdl_path.stem}.py"
    if py.is_file():
        return py
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        shutil.copyfile(mdl_path, tmp / mdl_path.name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pysd.read_vensim(str(tmp / mdl_path.name), split_views=True, subview_sep=["."],
                             initialize=False)
        try:
            tmp.rename(target)
        except OSError:  # another process won the race
            if not py.is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return py


def load_pysd(mdl_path: str | Path = MODEL_PATH):
    """Load the translated model with PySD (translating it first if needed).

    Returns
    -------
    pysd.py_backend.model.Model
    """
    import pysd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.load(str(translated_path(mdl_path)))


def load_simlin(mdl_path: str | Path = MODEL_PATH):
    """Load the model with pysimlin.

    Returns
    -------
    simlin.Model
    """
    import simlin

    return simlin.load(str(mdl_path))
