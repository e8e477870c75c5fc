"""The Policy sector generated from the lever table ``megacity_sd/data/levers.csv``: its equations and its sketch.

Every lever of the model is one row of the table and the same eleven variables
in the ``.Policy`` equation group of ``sd_models/megacity.mdl``:

* the city's baseline path: ``<stem> initial value``, ``<stem> baseline
  target``, ``<stem> baseline start year``, ``<stem> baseline phase in time``
  (constants), ``<stem> baseline phase`` = MIN(1, MAX(0, (Time - start) /
  phase in time)) and ``<stem> baseline path`` = initial + (target - initial)
  * phase;
* the scenario part: ``<stem> target``, ``<stem> start year``, ``<stem> phase
  in time`` (the constants a scenario sets) and ``<stem> phase``;
* the effective value (the table's ``effective`` name), which the lever's
  sector reads: with ``effect`` = ``max`` the baseline path raised to the
  target as the new policy phases in, ``path + MAX(0, target - path) *
  phase``; with ``uptake`` the baseline path plus ``<stem> policy uptake``, a
  stock of the lever's sector that follows the new policy at the pace of the
  turnover of what it replaces (``turned_over`` says what), capped at 1.

The comments of the constants hold their units, ``[min,max]`` range and
source: ``source`` for the four baseline constants, ``target_source``,
``start_year_source`` and ``phase_in_time_source`` for the scenario defaults.
The numbers are written as the table spells them.

:func:`render_model` gives the model text with the Policy block and the
``*Policy`` sketch view made from the table (the view laid out as
:func:`megacity_sd.layout.write_sketch` lays out every view, its variables in
the order they are drawn now, new ones after them); :func:`write_model`
writes it in place (temporary file, then rename) and :func:`check_model`
names the first difference. ``megacity-sd levers --write-model`` and
``--check`` call them.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import UserInputError
from ..model import MODEL_PATH, SKETCH_MARK, canonical, split_sketch

__all__ = [
    "TABLE_PATH",
    "Lever",
    "read_levers",
    "lever_variables",
    "policy_block",
    "replace_block",
    "render_model",
    "write_model",
    "check_model",
]

#: The lever table shipped with the package.
TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "levers.csv"

GROUP = "Policy"
"""The equation group and the sketch view of the levers."""

_RULE = "*" * 56
_HEADER = (f"{_RULE}\n\t.{GROUP}\n{_RULE}~\n"
           "\t\tPolicy levers: each has a city baseline path (initial value, baseline target, start, phase-in) and "
           "a scenario part (target, start year, phase-in time); scenarios override these constants only.\n\t|\n\n")
_SKETCH_END = "///---\\\\\\\n"
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*( [A-Za-z0-9]+)*$")
_ROLE_ENDINGS = (" target", " start year", " phase in time", " initial value")
_EFFECTS = ("max", "uptake")


@dataclass(frozen=True)
class Lever:
    """One row of the lever table (every cell as the table spells it).

    Attributes
    ----------
    stem : str
        The lever's name stem (``coal exit``): its variables are ``<stem> target`` and so on.
    units : str
        Units of the lever's value (of its initial value, targets, paths and effective value).
    value_min, value_max : str
        Range of the initial value, the baseline target and the target.
    initial_value, baseline_target, baseline_start_year, baseline_phase_in_time : str
        The city baseline (the policies in force), as set for Shanghai; city files override them.
    target, start_year, phase_in_time : str
        Defaults of the scenario constants.
    start_year_min, start_year_max, phase_in_time_min, phase_in_time_max : str
        Ranges of both start years and of both phase-in times.
    effective : str
        Name of the lever's effective value, the variable its sector reads.
    effect : str
        ``max`` or ``uptake`` (see the module's description).
    turned_over : str
        For ``uptake``: what the new policy turns over (in the effective value's comment); else empty.
    description : str
        What the lever is, in the comments of all its variables (balanced parentheses).
    target_source, start_year_source, phase_in_time_source : str
        Sources of the scenario defaults.
    source : str
        Source of the baseline values (``assumption: ...`` or a publication).
    """

    stem: str
    units: str
    value_min: str
    value_max: str
    initial_value: str
    baseline_target: str
    baseline_start_year: str
    baseline_phase_in_time: str
    target: str
    start_year: str
    phase_in_time: str
    start_year_min: str
    start_year_max: str
    phase_in_time_min: str
    phase_in_time_max: str
    effective: str
    effect: str
    turned_over: str
    description: str
    target_source: str
    start_year_source: str
    phase_in_time_source: str
    source: str


COLUMNS = tuple(f.name for f in fields(Lever))
"""The table's columns, in order."""

_NUMBERS = ("value_min", "value_max", "initial_value", "baseline_target", "baseline_start_year",
            "baseline_phase_in_time", "target", "start_year", "phase_in_time", "start_year_min", "start_year_max",
            "phase_in_time_min", "phase_in_time_max")
_RANGES = (("value", ("initial_value", "baseline_target", "target")),
           ("start_year", ("baseline_start_year", "start_year")),
           ("phase_in_time", ("baseline_phase_in_time", "phase_in_time")))
_OPTIONAL = ("turned_over",)


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _check_row(row: dict, where: str) -> Lever:
    """One row as a :class:`Lever`, or a :class:`UserInputError` naming the line and the column."""
    for col in COLUMNS:
        value = row[col]
        if value is None or (not value.strip() and col not in _OPTIONAL):
            raise UserInputError(f"{where}, column {col}: empty; allowed: a value in every column "
                                 f"(only {', '.join(_OPTIONAL)} may be empty)")
        if value != value.strip() or re.search(r"[~|\t\r\n]", value):
            raise UserInputError(f"{where}, column {col} {value[:40]!r}: leading or trailing spaces, a line break, "
                                 "a tab, '~' or '|'; allowed: one line of text without them (they end a .mdl field)")
    lever = Lever(**{c: row[c] for c in COLUMNS})
    for col in ("stem", "effective"):
        if not _NAME.match(getattr(lever, col)):
            raise UserInputError(f"{where}, column {col} {getattr(lever, col)!r}: not a model name; allowed: "
                                 "letters and digits in words separated by single spaces")
    if " baseline " in f" {lever.stem} " or lever.stem.endswith(_ROLE_ENDINGS):
        raise UserInputError(f"{where}, column stem {lever.stem!r}: holds 'baseline' or ends like a lever "
                             "constant; allowed: a stem that megacity_sd.levers reads back as the lever's family")
    if re.search(r"[\[\]]", lever.units):
        raise UserInputError(f"{where}, column units {lever.units!r}: brackets; allowed: Vensim units "
                             "(the range is written from the _min and _max columns)")
    nums = {}
    for col in _NUMBERS:
        text = getattr(lever, col)
        if not _NUMBER.match(text) or not math.isfinite(float(text)):
            raise UserInputError(f"{where}, column {col} {text!r}: not a number; allowed: a decimal number "
                                 "such as 0, 0.45, 2021 or 30000000.0")
        nums[col] = float(text)
    for name, members in _RANGES:
        lo, hi = nums[f"{name}_min"], nums[f"{name}_max"]
        if not lo < hi:
            raise UserInputError(f"{where}, columns {name}_min and {name}_max: {lo:g} is not below {hi:g}; "
                                 "allowed: min < max")
        for col in members:
            if not lo <= nums[col] <= hi:
                raise UserInputError(f"{where}, column {col} {getattr(lever, col)}: outside [{lo:g}, {hi:g}]; "
                                     f"allowed: a value within {name}_min and {name}_max")
    if not nums["phase_in_time_min"] > 0:
        raise UserInputError(f"{where}, column phase_in_time_min {lever.phase_in_time_min}: not above 0; "
                             "allowed: a positive number of years (the phase divides by it)")
    if lever.effect not in _EFFECTS:
        raise UserInputError(f"{where}, column effect {lever.effect!r}: unknown; allowed: {', '.join(_EFFECTS)}")
    if (lever.effect == "uptake") != bool(lever.turned_over):
        raise UserInputError(f"{where}, column turned_over: {'empty' if lever.effect == 'uptake' else 'given'} "
                             f"with effect {lever.effect}; allowed: what the policy turns over for uptake, "
                             "empty for max")
    for col in ("description", "turned_over"):
        if not _balanced(getattr(lever, col)):
            raise UserInputError(f"{where}, column {col}: unbalanced parentheses; allowed: balanced ones "
                                 "(megacity_sd.levers reads the description between them)")
    return lever


def read_levers(path: str | Path = TABLE_PATH) -> list[Lever]:
    """The lever table, checked: one :class:`Lever` per row, in table order.

    Raises
    ------
    UserInputError
        A file that cannot be read, missing or unknown columns, a bad cell
        (one line naming the line and the column), a stem or a variable name
        given twice.
    """
    from ..io import read_text

    text = read_text(path)
    reader = csv.DictReader(text.splitlines(), strict=True)
    rows = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as err:
        raise UserInputError(f"{path}: line {reader.line_num}: not a readable CSV table ({err})") from None
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown or len(header) != len(set(header)):
        raise UserInputError(f"{path}: columns {', '.join(header) or '(none)'}; allowed: exactly "
                             f"{', '.join(COLUMNS)}" + (f" (missing: {', '.join(missing)})" if missing else ""))
    levers, names = [], {}
    for line, row in rows:
        where = f"{path}: line {line}"
        if None in row:
            raise UserInputError(f"{where}: more cells than columns; allowed: {len(COLUMNS)} cells "
                                 "(quote a cell that holds a comma)")
        lever = _check_row(row, where)
        for name in lever_variables(lever):
            key = name.lower()
            if key in names:
                raise UserInputError(f"{where}: variable '{name}' is also made by line {names[key]}; "
                                     "allowed: each stem and effective name once")
            names[key] = line
        levers.append(lever)
    if not levers:
        raise UserInputError(f"{path}: no levers; allowed: one row per lever")
    return levers


def lever_variables(lever: Lever) -> list[str]:
    """The names of a lever's eleven variables, in the order of the Policy block."""
    s = lever.stem
    return [f"{s} initial value", f"{s} baseline target", f"{s} baseline start year",
            f"{s} baseline phase in time", f"{s} baseline phase", f"{s} baseline path", f"{s} target",
            f"{s} start year", f"{s} phase in time", f"{s} phase", lever.effective]


def _entry(name: str, equation: str, units: str, comment: str) -> str:
    return f"{name}=\n\t{equation}\n\t~\t{units}\n\t~\t{comment}\n\t|\n\n"


def _lever_text(lv: Lever) -> str:
    s, d, u = lv.stem, lv.description, lv.units
    value = f"{u} [{lv.value_min},{lv.value_max}]"
    year = f"Year [{lv.start_year_min},{lv.start_year_max}]"
    phase = f"Year [{lv.phase_in_time_min},{lv.phase_in_time_max}]"
    city = f"City baseline policy ({d}):"
    scen = f"Scenario lever ({d}):"
    if lv.effect == "max":
        effective = f"{s} baseline path + MAX(0, {s} target - {s} baseline path) * {s} phase"
        how = "strengthened by any new policy."
    else:
        effective = f"MIN(1, {s} baseline path + {s} policy uptake)"
        how = f"strengthened by what the new policy has turned over so far ({lv.turned_over})."
    return "".join((
        _entry(f"{s} initial value", lv.initial_value, value, f"Value of the {d} lever in 2005. {lv.source}"),
        _entry(f"{s} baseline target", lv.baseline_target, value,
               f"{city} value reached by the policies in force. {lv.source}"),
        _entry(f"{s} baseline start year", lv.baseline_start_year, year,
               f"{city} year its phase-in started. {lv.source}"),
        _entry(f"{s} baseline phase in time", lv.baseline_phase_in_time, phase,
               f"{city} years from start to full effect. {lv.source}"),
        _entry(f"{s} baseline phase",
               f"MIN(1, MAX(0, (Time - {s} baseline start year) / {s} baseline phase in time))", "dmnl",
               f"Fraction of the baseline {d} policy phased in."),
        _entry(f"{s} baseline path",
               f"{s} initial value + ({s} baseline target - {s} initial value) * {s} baseline phase", u,
               f"Value of the {d} lever under the city's baseline policy."),
        _entry(f"{s} target", lv.target, value, f"{scen} value the new policy aims at; at or below the baseline "
               f"path it changes nothing. {lv.target_source}"),
        _entry(f"{s} start year", lv.start_year, year, f"{scen} year the new policy starts. {lv.start_year_source}"),
        _entry(f"{s} phase in time", lv.phase_in_time, phase,
               f"{scen} years from start to full effect. {lv.phase_in_time_source}"),
        _entry(f"{s} phase", f"MIN(1, MAX(0, (Time - {s} start year) / {s} phase in time))", "dmnl",
               f"Fraction of the new {d} policy phased in."),
        _entry(lv.effective, effective, u, f"Effective value of the {d} lever: the baseline path, {how}"),
    ))


def policy_block(levers: list[Lever]) -> str:
    """The ``.Policy`` equation group of the model file: its header and every lever's eleven variables."""
    return _HEADER + "".join(_lever_text(lv) for lv in levers)


def _block_span(text: str) -> tuple[int, int]:
    """Start and end offsets of the Policy group in a model text: its header rule to the next group's rule."""
    equations, _ = split_sketch(text)
    head = f"\n{_RULE}\n\t.{GROUP}\n"
    start = equations.find(head)
    if start < 0:
        raise UserInputError(f"the model has no .{GROUP} equation group (a '\\t.{GROUP}' line between two "
                             "'****' lines); allowed: a model file with one")
    start += 1
    end = equations.find("\n*", start + len(head))
    return start, (end + 1 if end >= 0 else len(equations))


def replace_block(text: str, block: str) -> str:
    """A model text with its Policy equation group replaced by ``block`` (the rest kept byte for byte)."""
    start, end = _block_span(text)
    return text[:start] + block + text[end:]


def _view_span(text: str, name: str) -> tuple[int, int]:
    """Start and end offsets of a sketch view (from its sketch mark line to the next mark line)."""
    equations, sketch = split_sketch(text)
    base = len(equations)
    pos = 0
    while True:
        nxt = sketch.find("\n" + SKETCH_MARK, pos)
        end = nxt + 1 if nxt >= 0 else sketch.find(_SKETCH_END)
        lines = sketch[pos:end].split("\n", 3)
        if len(lines) > 2 and lines[2] == f"*{name}":
            return base + pos, base + end
        if nxt < 0:
            raise UserInputError(f"the model's sketch has no *{name} view; allowed: a model file with one")
        pos = nxt + 1


def _policy_view(text: str) -> str:
    """The ``*Policy`` sketch view of a model text, laid out anew (its own mark line to the next one)."""
    from .layered import layout_view
    from .sketch import sketch_text
    from .structure import model_structure

    key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    # model_doc caches by path: a folder named by the text's hash never holds another text
    with tempfile.TemporaryDirectory(prefix=f"megacity-sd-policy-{key}-") as folder:
        path = Path(folder) / MODEL_PATH.name
        path.write_text(text, encoding="utf-8")
        lay = layout_view(GROUP, model_structure(path))
    return sketch_text([lay]).removesuffix(_SKETCH_END)


def _check_removed(text: str, levers: list[Lever]) -> None:
    """Refuse a table that drops a variable the rest of the model still uses, or makes one it defines."""
    from ..model import equation_groups

    start, end = _block_span(text)
    kept = {canonical(n): n for lv in levers for n in lever_variables(lv)}
    elsewhere = {k: g for k, g in equation_groups(text[:start] + text[end:]).items() if k in kept}
    if elsewhere:
        key, group = next(iter(elsewhere.items()))
        raise UserInputError(f"the lever table makes '{kept[key]}', which the {group} group already "
                             "defines; allowed: a stem and an effective name new to the model")
    old = re.findall(r"^([^\t\n*~|{][^=\n]*?) *= *$", text[start:end], flags=re.M)
    # the equations outside the block, with the units and comment fields blanked (same length, same lines)
    rest = re.sub(r"\n\t~[^|]*?\n\t\|", lambda m: re.sub(r"[^\n]", " ", m.group(0)),
                  text[:start] + " " * (end - start) + split_sketch(text)[0][end:])
    for name in old:
        if canonical(name) in kept:
            continue
        words = canonical(name).split("_")
        pat = re.compile(r"(?<![A-Za-z0-9_])(?<![A-Za-z0-9_] )" + r"[ _]+".join(map(re.escape, words))
                         + r"(?![ _]?[A-Za-z0-9_])", re.I)
        m = pat.search(rest)
        if m:
            line = text.count("\n", 0, m.start()) + 1
            raise UserInputError(f"the lever table drops '{name}', which the model still uses outside the Policy "
                                 f"block (line {line}); allowed: remove its uses first, or keep its lever")


def render_model(text: str, levers: list[Lever]) -> str:
    """A model text with the Policy equation group and the ``*Policy`` sketch view made from ``levers``.

    The other groups and views are kept byte for byte. The view is laid out
    by :func:`megacity_sd.layout.layout_view` from the new equations: every
    variable keeps its place in the drawing order, a new lever's variables
    join the view and a removed lever's leave it.
    """
    _check_removed(text, levers)
    new = replace_block(text, policy_block(levers))
    start, end = _view_span(new, GROUP)
    return new[:start] + _policy_view(new) + new[end:]


def write_model(mdl_path: str | Path = MODEL_PATH, table: str | Path = TABLE_PATH,
                out_path: str | Path | None = None) -> tuple[Path, bool]:
    """Regenerate the Policy block and its sketch view of a model file from the lever table.

    The file is written to a temporary name and renamed (not at all when it
    already matches the table).

    Returns
    -------
    (Path, bool)
        The file written and whether its text changed.
    """
    from ..io import read_text, write_text_atomic

    levers = read_levers(table)
    mdl_path = Path(mdl_path)
    out_path = Path(out_path) if out_path is not None else mdl_path
    text = read_text(mdl_path)
    try:
        new = render_model(text, levers)
    except (UserInputError, ValueError) as err:  # ValueError: no sketch section
        raise UserInputError(f"{mdl_path}: {err}") from None
    if new == (text if out_path == mdl_path else read_text(out_path) if out_path.is_file() else None):
        return out_path, False
    write_text_atomic(new, out_path)
    return out_path, True


def check_model(mdl_path: str | Path = MODEL_PATH, table: str | Path = TABLE_PATH) -> str | None:
    """``None`` when the model's Policy block and ``*Policy`` view are what the table gives, else one line.

    The line names the model file, the first variable whose text differs (or
    the sketch view) and its line in the file.
    """
    from ..io import read_text

    levers = read_levers(table)
    text = read_text(mdl_path)
    try:
        start, end = _block_span(text)
        vs, ve = _view_span(text, GROUP)
    except (UserInputError, ValueError) as err:  # ValueError: no sketch section
        raise UserInputError(f"{mdl_path}: {err}") from None
    want = policy_block(levers)
    have = text[start:end]
    options = "".join(f" --{opt} {val}" for opt, val, default in (("table", table, TABLE_PATH),
                                                                     ("model", mdl_path, MODEL_PATH))
                      if Path(val).resolve() != default.resolve())
    redo = f"run 'megacity-sd levers --write-model{options}' to regenerate them from the table"
    if have != want:
        hl, wl = have.split("\n"), want.split("\n")
        i = next((k for k, (a, b) in enumerate(zip(hl, wl, strict=False)) if a != b), min(len(hl), len(wl)))
        names = [ln[:-1] for ln in (hl[:i + 1] if i < len(hl) else hl) if ln.endswith("=") and ln[0] not in "\t*"]
        what = f"variable '{names[-1]}'" if names else "its header"
        line = text.count("\n", 0, start) + 1 + i
        return (f"{mdl_path}: line {line}: the Policy block differs from the lever table at {what}; "
                f"edit the table, not the block, and {redo}")
    if text[vs:ve] != _policy_view(text):
        line = text.count("\n", 0, vs) + 1
        return (f"{mdl_path}: line {line}: the *{GROUP} sketch view is not the layout of the Policy block; {redo}")
    return None
