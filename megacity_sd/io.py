"""Files in and out: one reader per kind of user input, one atomic writer per kind of output.

Readers raise :class:`~megacity_sd.errors.UserInputError` with one line that
names the file and what is allowed; writers write to a temporary name in the
target folder, then rename, so that a file is either whole or absent. Inside
:func:`staged_outputs` (the command line wraps every command in it) the renames
wait for the end of the block: the outputs of a command land together, or,
when it ends with an error or Ctrl-C, none do.

Text is read as UTF-8 (a byte-order mark is allowed). A file in another
encoding (GBK/GB18030, the default of many Chinese Windows editors, or
Latin-1) is refused with one line saying how to save it as UTF-8, and a binary
file is refused as such: guessing an encoding could silently change names.
YAML numbers are read as a user writes them: ``1e7``, ``3e+07`` and
``10_000`` are numbers (YAML 1.1, which PyYAML follows, reads ``1e7`` as a
string).
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import yaml

from .errors import UserInputError

__all__ = ["read_text", "read_yaml_mapping", "read_csv_table", "validation_error", "NumberLoader", "write_atomic",
           "staged_outputs", "unstaged", "announce", "write_csv_atomic", "write_text_atomic", "write_workbook",
           "file_mode", "OUTPUT_DIR", "FIGURES_DIR", "MAX_INPUT_BYTES"]

OUTPUT_DIR = "output"
"""Where commands write their tables unless told (``--out``), relative to the working folder."""
FIGURES_DIR = "output/figures"
"""Where commands draw their figures unless told (``--figures``): under the outputs, so that a run in a clone
never rewrites the project's committed ``figures/`` (regenerated on purpose with ``--figures figures``)."""

_SAVE_AS = ("save it as UTF-8 (Notepad: File > Save as > Encoding UTF-8; VS Code: 'Save with Encoding' "
            "> UTF-8)")


MAX_INPUT_BYTES = 256 * 2**20
"""The largest user file read (256 MB): a scenario is a few kB and a panel of every Chinese county a few tens
of MB; a larger file is a mistake (or ``/dev/zero``), which must not be read until memory runs out."""


def read_text(path: str | Path) -> str:
    """The text of a user file, read as UTF-8 (with or without a byte-order mark).

    Raises
    ------
    UserInputError
        Missing or unreadable file, not a regular file (a device, a pipe), a
        file over :data:`MAX_INPUT_BYTES`, a binary file, or text that is not
        UTF-8 (naming GB18030/GBK when the bytes read as that).
    """
    try:
        with open(path, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # /dev/zero, a pipe: no end, or not a file
                raise UserInputError(f"{path}: not a regular file; allowed: a text file")
            raw = f.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise UserInputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserInputError(f"{path}: is a folder; allowed: a file") from None
    except OSError as err:
        raise UserInputError(f"{path}: cannot read ({err.strerror})") from None
    except UserInputError:
        raise
    except ValueError as err:  # an embedded NUL character in the name
        raise UserInputError(f"{path!r}: not a file name ({err})") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise UserInputError(f"{path}: larger than {MAX_INPUT_BYTES // 2**20} MB; allowed: a smaller text file")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserInputError(f"{path}: UTF-16 text; allowed: UTF-8 text, so {_SAVE_AS}")
    if b"\x00" in raw:
        raise UserInputError(f"{path}: a binary file, not text; allowed: a UTF-8 text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        where = f"byte {err.start + 1}, line {line}"
        try:
            raw.decode("gb18030")
            guess = "it reads as GBK/GB18030 (Chinese Windows)"
        except UnicodeDecodeError:
            guess = "it is in another encoding (such as Latin-1)"
        raise UserInputError(f"{path}: not UTF-8 at {where}: {guess}; {_SAVE_AS}") from None


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"

MAX_YAML_NODES = 200_000
"""Nodes a user's YAML file may hold once its aliases are expanded (a few hundred bytes of nested aliases
would otherwise expand to billions)."""

MAX_YAML_DEPTH = 100
"""Nesting depth allowed in a user's YAML file."""


class NumberLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` for user files: numbers as YAML 1.2 reads them; nothing a typo or hostile file exploits.

    - ``1e7`` and ``3e+07`` are numbers; ``1:30`` is text, not 90 (YAML 1.1's base 60), and ``010`` is ten,
      not eight (octal);
    - a key given twice in one mapping is refused (YAML would keep the last silently); merge keys (``<<``) may
      override;
    - the document, aliases expanded, holds at most :data:`MAX_YAML_NODES` nodes, nested at most
      :data:`MAX_YAML_DEPTH` deep.
    """

    yaml_implicit_resolvers = {k: [(tag, rx) for tag, rx in v if tag not in (_INT, _FLOAT)]
                               for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_size(node)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key '{key_node.value[:60]}' given twice; allowed: each key once",
                            key_node.start_mark)
                    seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _check_size(root) -> None:
    """Refuse a document that expands past :data:`MAX_YAML_NODES` nodes or nests past :data:`MAX_YAML_DEPTH`."""
    sizes: dict[int, int] = {}

    def size(node, depth: int) -> int:
        if depth > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_YAML_DEPTH} deep; allowed: at "
                                              f"most {MAX_YAML_DEPTH} levels", node.start_mark)
        if id(node) in sizes:  # an alias: the same node again
            return sizes[id(node)]
        n = 1
        if isinstance(node, yaml.SequenceNode):
            n += sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            n += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        if n > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(None, None, f"expands to more than {MAX_YAML_NODES} values (nested "
                                              "aliases); allowed: a scenario-sized file", node.start_mark)
        sizes[id(node)] = n
        return n

    size(root, 0)


NumberLoader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$"),
                                   list("-+0123456789"))
NumberLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
                |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def read_yaml_mapping(path: str | Path, expected: str) -> dict:
    """Read a YAML file (safe loader, ``1e7`` a number) that must hold a mapping.

    Parameters
    ----------
    path : str or Path
        The file.
    expected : str
        What the mapping should hold, for the error message
        (``"{path}: expected a mapping {expected}"``).

    Raises
    ------
    UserInputError
        Missing, unreadable, binary or non-UTF-8 file, malformed YAML (with
        line and column), or a top level that is not a mapping.
    """
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=NumberLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise UserInputError(f"{path}: malformed YAML: nested too deeply; allowed: at most {MAX_YAML_DEPTH} "
                             "levels") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise UserInputError(f"{path}: malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping {expected}")
    return data


def read_csv_table(path: str | Path, **kwargs):
    """Read a user's CSV table (UTF-8, as :func:`read_text`) with ``pandas.read_csv(**kwargs)``.

    Raises
    ------
    UserInputError
        Everything :func:`read_text` refuses, and a file pandas cannot parse.
    """
    import io

    import pandas as pd

    text = read_text(path)
    try:
        return pd.read_csv(io.StringIO(text), **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserInputError(f"{path}: not a readable CSV table ({first})") from None


def validation_error(path: str | Path, err, unknown_key: str) -> UserInputError:
    """A pydantic ``ValidationError`` of a user file as one line: the file, the key, what is allowed.

    Parameters
    ----------
    path : str or Path
        The file.
    err : pydantic.ValidationError
    unknown_key : str
        What to say of a key the schema does not know (e.g. "allowed keys: a, b").
    """
    first = err.errors()[0]
    # pydantic names the union member it tried ("float", "SourcedValue"...); a user wrote none of them
    members = {"float", "int", "str", "bool", "SourcedValue", "list[str]", "dict[str,union[float,int,SourcedValue]]"}
    loc = ".".join(str(p) for p in first["loc"] if str(p).replace(" ", "") not in members)
    msg = {"extra_forbidden": unknown_key, "float_type": "a number is required", "int_type": "a number is required",
           "int_parsing": "a whole number is required", "float_parsing": "a number is required",
           "missing": "this key is required"}.get(first["type"], first["msg"].removeprefix("Value error, "))
    shown = repr(first["input"])
    shown = shown if len(shown) <= 60 else shown[:57] + "..."  # a value can be huge (nested aliases)
    got = f" (got {shown})" if first["type"] != "missing" else ""
    return UserInputError(f"{path}: key '{loc}': {msg}{got}")


# ----------------------------------------------------------------------------- writers


def file_mode() -> int:
    """The mode an ordinary new file gets here (0666 less the umask); ``mkstemp`` would make it 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class _Stage:
    """Files written in a :func:`staged_outputs` block: (temporary file, final path), and the folders it created."""

    def __init__(self):
        self.files: list[tuple[str, Path]] = []
        self.folders: list[Path] = []
        self.messages: list[str] = []


_STAGE: ContextVar[_Stage | None] = ContextVar("megacity_sd_stage", default=None)


@contextmanager
def staged_outputs():
    """Let the files written by :func:`write_atomic` in this block land together at its end, or none of them.

    Each file is written whole to a temporary name in its folder as usual; the
    renames to the final names are done when the block ends without an
    exception. On an exception (including Ctrl-C) the temporary files are
    removed, and so are the folders the block created, when empty. Writes with
    ``now=True`` (an ensemble's resumable batches, caches) are not staged.
    Staging is per thread (a :class:`contextvars.ContextVar`).
    """
    stage = _Stage()
    token = _STAGE.set(stage)
    done = False
    try:
        yield
        for tmp, path in stage.files:
            os.replace(tmp, path)
        done = True
        for text in stage.messages:  # "wrote ..." once it is true
            print(text, flush=True)
    finally:
        _STAGE.reset(token)
        if not done:
            for tmp, _ in stage.files:
                if os.path.exists(tmp):
                    os.remove(tmp)
            for folder in reversed(stage.folders):
                try:
                    folder.rmdir()
                except OSError:
                    pass


def announce(text: str) -> None:
    """Print ``text``, a line such as "wrote results.csv", when the files it names have landed.

    Outside :func:`staged_outputs` it is printed at once; inside, after the
    block's renames, so that stdout never claims a file that an error, a full
    disk or Ctrl-C kept from landing.
    """
    stage = _STAGE.get()
    if stage is None:
        print(text, flush=True)
    else:
        stage.messages.append(text)


@contextmanager
def unstaged():
    """Write files at once inside this block, even within :func:`staged_outputs` (scratch files read back)."""
    token = _STAGE.set(None)
    try:
        yield
    finally:
        _STAGE.reset(token)


def write_atomic(path: str | Path, write, suffix: str = ".tmp", *, now: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it to ``path``.

    The one atomic writer of the package: the file is whole or absent, and it
    gets the mode an ordinary new file gets (not ``mkstemp``'s 0600).
    ``suffix`` ends the temporary name (some writers choose the format from it).
    Inside :func:`staged_outputs` the rename waits for the end of the block,
    unless ``now`` is true.
    """
    path = Path(path)
    stage = None if now else _STAGE.get()
    if stage is not None:
        missing = [a for a in (path.parent, *path.parent.parents) if not a.exists()]
        stage.folders += reversed(missing)  # outermost first
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    kept = False
    try:
        write(tmp)
        os.chmod(tmp, file_mode())
        if stage is None:
            os.replace(tmp, path)
        else:
            stage.files.append((tmp, path))
            kept = True
    finally:
        if not kept and os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_csv_atomic(df, path: str | Path, *, now: bool = False) -> Path:
    """Write a data frame as CSV (no index), whole or not at all; readable by the group (0644 by default)."""
    return write_atomic(path, lambda tmp: df.to_csv(tmp, index=False), now=now)


def write_text_atomic(text: str, path: str | Path, *, now: bool = False) -> Path:
    """Write UTF-8 text, whole or not at all."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), now=now)


def write_workbook(sheets: dict, path: str | Path) -> Path:
    """Write data frames as the sheets of an Excel workbook (XlsxWriter), whole or not at all."""
    import pandas as pd

    def write(tmp):
        with pd.ExcelWriter(tmp, engine="xlsxwriter") as book:
            for name, df in sheets.items():
                df.to_excel(book, sheet_name=name, index=False, freeze_panes=(1, 0))

    return write_atomic(path, write, ".xlsx")
