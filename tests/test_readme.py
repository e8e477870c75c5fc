"""The README's examples, run as written: every command of "Using it" through the console entry point, in a
fresh working folder, and the Python example twice in one process.

Independent-reference tier: the reference is the README a user copies from. A command that breaks, an option
that is renamed or a placeholder left in the README (``FILE.csv``, ``[--knockout]``) fails here.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from megacity_sd.cli.app import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Commands that run far longer than the rest: run with these options appended (argparse: the last value wins).
# The command as written is still parsed by the real parser (test_every_readme_command_parses_as_written).
SHORTER = {
    "calibrate": ["--starts", "1"],  # 8 starting points -> 1 (69 s -> about 15 s)
    "sensitivity": ["--n", "16", "--workers", "0"],  # Sobol N 1024 -> 16 (33 s)
}
# not run here: `explore` serves until stopped (tests/test_explore.py starts it as users do, a subprocess of the
# console script); `diagrams` takes 70-100 s and 3.7 GB (tests/test_loops.py draws the sector diagrams)
NOT_RUN = {"explore", "diagrams"}
# shell lines of the block that prepare a file for the next command
SHELL = ("printf ",)


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def _fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def readme_commands() -> list[str]:
    """The lines of the "Using it" shell block, continuations joined, comments kept out."""
    block = _fenced(_section("Using it"), "bash")[0].replace("\\\n", " ")
    return [" ".join(line.split()) for line in block.splitlines() if line.strip()]


def _argv(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    assert words[0] == "megacity-sd", line
    return words[1:]


COMMANDS = [c for c in readme_commands() if not c.startswith(SHELL)]


def test_the_block_is_commands_and_file_preparation_only():
    lines = readme_commands()
    assert len(COMMANDS) >= 25
    for line in lines:
        assert line.startswith(("megacity-sd ", *SHELL)), line
        assert not re.search(r"\[--|\bFILE\b|\bDIR\b|\.\.\.|<[a-z]+>", line.split("#")[0]), \
            f"placeholder in the README: {line}"


@pytest.mark.parametrize("line", COMMANDS)
def test_every_readme_command_parses_as_written(line):
    args = build_parser().parse_args(_argv(line))
    assert callable(args.func)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A new user's working folder: a copy of the clone's scenario files (``calibrate`` writes into it)."""
    d = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "scenarios", d / "scenarios")
    return d


@pytest.mark.slow
@pytest.mark.parametrize("line", [c for c in COMMANDS if _argv(c)[0] not in NOT_RUN])
def test_every_readme_command_runs(line, workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    argv = _argv(line)
    for i, prep in enumerate(readme_commands()):  # the file the command reads is made first, by the README's line
        nxt = readme_commands()[i + 1] if i + 1 < len(readme_commands()) else ""
        if prep.startswith(SHELL) and nxt == line:
            subprocess.run(["bash", "-c", prep], cwd=workdir, check=True)
    code = main([*argv, *SHORTER.get(argv[0], [])])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert "Traceback" not in err


def test_the_python_example_runs_twice_in_one_process():
    """The README's Python example, executed as written, twice: the second ``ms.run`` once raised TypeError."""
    code = _fenced(_section("Using it"), "python")[0]
    assert "ms.run(" in code
    for _ in range(2):
        space: dict = {}
        exec(compile(code, "README.md", "exec"), space)  # noqa: S102 - the project's own README
        assert {"wide", "long"} <= set(space)
        assert len(space["long"]) > 1000 and list(space["long"].columns)[:2] == ["city", "scenario"]
