"""The project's layout: what a regular install ships, and what the README's layout table says.

Analytic tier: the tree is compared with ``pyproject.toml`` and ``README.md``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "megacity_sd"


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_subpackage_is_installed_by_a_regular_install():
    """``pip install .`` (not editable) installs only the packages listed: every folder with an __init__.py."""
    listed = set(_setuptools()["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_every_scenario_folder_is_shipped():
    """Each folder of ``scenarios/`` with YAML files is a listed package with its YAML as package data."""
    st = _setuptools()
    dirs = st["package-dir"]
    data = st["package-data"]
    for folder in [ROOT / "scenarios", *sorted(p for p in (ROOT / "scenarios").iterdir() if p.is_dir())]:
        if not any(folder.glob("*.yaml")):
            continue
        rel = folder.relative_to(ROOT).as_posix()
        name = next((k for k, v in dirs.items() if v == rel), None)
        assert name is not None, f"{rel} has no entry in [tool.setuptools.package-dir]"
        assert name in st["packages"], f"{name} is not in [tool.setuptools] packages"
        assert "*.yaml" in data.get(name, []), f"{name} does not ship its *.yaml"


def _readme_layout_paths() -> list[Path]:
    """The paths of the first column: the first of a row from the project root, the others beside it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    paths = []
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        items = re.findall(r"`([^`]+)`", row.split("|")[1])
        first = ROOT / items[0]
        paths.append(first)
        paths += [first.parent / item for item in items[1:]]
    return paths


def test_the_readme_layout_table_names_existing_paths_and_every_module():
    """Every path in the table exists, and every module and subpackage of the package is in it."""
    paths = _readme_layout_paths()
    assert paths, "README has no layout table"
    for p in paths:
        assert p.exists(), f"README layout names {p.relative_to(ROOT)}, which does not exist"
    named = {p.resolve() for p in paths}
    for p in sorted(PACKAGE.iterdir()):
        if p.name.startswith(("_", ".")):
            continue
        if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()):
            assert p.resolve() in named, f"README layout table does not mention megacity_sd/{p.name}"


def test_the_library_never_imports_the_command_line():
    """The one-way flow the README promises: no module outside ``cli/`` imports it (statically or in a function)."""
    import ast

    offenders = []
    for f in PACKAGE.rglob("*.py"):
        rel = f.relative_to(PACKAGE)
        if rel.parts[0] == "cli":
            continue
        depth = len(rel.parts) - 1  # `from .cli` in megacity_sd/x.py, `from ..cli` in megacity_sd/pkg/x.py
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if (node.level == depth + 1 and (mod == "cli" or mod.startswith("cli."))) or \
                        mod.startswith("megacity_sd.cli") or \
                        (node.level == depth + 1 and not mod and any(a.name == "cli" for a in node.names)):
                    offenders.append(f"{rel}:{node.lineno}")
            elif isinstance(node, ast.Import):
                offenders += [f"{rel}:{node.lineno}" for a in node.names if a.name.startswith("megacity_sd.cli")]
    assert offenders == []


def _import_graph():
    """Every import between the package's modules (top level or in a function), as a networkx graph."""
    import ast

    import networkx as nx

    def name(f: Path) -> str:
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    mods = {name(f): f for f in PACKAGE.rglob("*.py")}
    g = nx.DiGraph()
    for m, f in mods.items():
        g.add_node(m)
        base = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                mod = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else (node.module or "")
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                while t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in mods and t != m:
                    g.add_edge(m, t)
    return g, mods


def _unit(module: str) -> str:
    """``megacity_sd.x`` for a module of the package's top level or of its subpackage ``x``."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycles_between_modules_or_between_the_package_parts():
    import networkx as nx

    g, mods = _import_graph()
    g.remove_node("megacity_sd")  # the package's lazy re-exports
    # a subpackage's __init__ re-exporting its own modules is not a cycle
    g.remove_edges_from([(a, b) for a, b in list(g.edges) if b.startswith(a + ".")])
    assert list(nx.simple_cycles(g)) == []
    units = nx.DiGraph((_unit(a), _unit(b)) for a, b in g.edges if _unit(a) != _unit(b))
    assert list(nx.simple_cycles(units)) == []


def test_analyses_reach_the_engines_only_through_run_or_the_ensemble_runner():
    """Only ``simulate.py`` and ``ensemble/`` import ``engines``; only the engines import PySD and pysimlin."""
    import ast

    g, mods = _import_graph()
    importers = {a for a, b in g.edges if _unit(b) == "megacity_sd.engines"}
    assert {_unit(a) for a in importers} <= {"megacity_sd.simulate", "megacity_sd.ensemble", "megacity_sd.engines"}
    direct = set()
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(n.split(".")[0] in ("pysd", "simlin") for n in names):  # pysimlin's module is `simlin`
                direct.add(_unit(m))
    # model.py translates and loads the model (the translation cache); the engines run it; loops and layout read
    # simlin's loop and diagram analysis of the model (they run nothing)
    assert direct <= {"megacity_sd.model", "megacity_sd.engines", "megacity_sd.loops", "megacity_sd.layout"}
    assert {"megacity_sd.model", "megacity_sd.loops"} <= direct  # the scan sees the imports it is meant to see


def test_modules_stay_under_about_600_lines():
    sizes = {".".join(f.relative_to(ROOT).with_suffix("").parts): len(f.read_text(encoding="utf-8").splitlines())
             for f in PACKAGE.rglob("*.py")}
    assert {m: n for m, n in sizes.items() if n > 600} == {}


def test_library_errors_name_arguments_as_python_spells_them():
    """Outside cli/, a refusal names the argument (``tau``, ``targets``), not a command-line flag (``--tau``), unless
    it names both (``(--city, city=)``): the library is called from Python too (review of 2026-12-06, §8)."""
    import re

    root = Path(__file__).resolve().parents[1] / "megacity_sd"
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    bad = []
    for path in sorted(root.rglob("*.py")):
        if "cli" in path.relative_to(root).parts:
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"^\s*raise |_fail\(|UserInputError\(", line) and flag.search(line) and "=)" not in line:
                bad.append(f"{path.relative_to(root)}:{i}")
    assert bad == [], bad
