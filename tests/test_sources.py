"""Sources inside the repository: every constant and every city value says where it comes from.

A source either cites a publication (an author, agency or standard with a year), names a data file that
ships with the package, derives the value from such figures, defines it, or says "assumption:" with a
reason. Files it names must exist in the repository; nothing may point at data users do not have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from megacity_sd.calibrate import load_config
from megacity_sd.model import MODEL_PATH, model_doc

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "megacity_sd" / "data"
FILE_REF = re.compile(r"[\w./-]+\.(?:csv|md|yaml|mdl)\b")
YEAR = re.compile(r"\b(19[5-9]\d|20[0-2]\d)\b")
KINDS = ("assumption:", "derived", "definition:", "calibrated", "fit of", "scenario ")


def _resolves(ref: str) -> bool:
    ref = ref.strip("./")
    candidates = [ROOT / ref, DATA / ref, DATA / "parameters" / ref, ROOT / "scenarios" / ref]
    if ref.startswith("megacity_sd/data/"):
        candidates.append(DATA / ref.removeprefix("megacity_sd/data/"))
    return any(c.is_file() for c in candidates)


def _problems(source: str) -> list[str]:
    out = []
    if "shared/data" in source or "/work/" in source:
        out.append("points outside the repository")
    out += [f"names a missing file: {ref}" for ref in FILE_REF.findall(source) if not _resolves(ref)]
    low = source.strip().lower()
    cites = bool(YEAR.search(source)) or bool(FILE_REF.search(source))
    if not (cites or low.startswith(KINDS) or any(k in low for k in ("calibrated", "derived:", "definition:"))):
        out.append("cites no publication or file and is not marked assumption, derived or definition")
    if low.startswith("assumption:") and len(low) < len("assumption:") + 15:
        out.append("an assumption without its reason")
    return out


def _yaml_sources() -> list[tuple[str, str, str]]:
    rows = []
    for path in sorted((ROOT / "scenarios").rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        blocks = [data.get("constants") or {}] + list((data.get("cities") or {}).values())
        for block in blocks:
            if not isinstance(block, dict):
                continue
            for key, val in block.items():
                if isinstance(val, dict) and "source" in val:
                    rows.append((path.relative_to(ROOT).as_posix(), key, val["source"]))
    return rows


def test_every_model_constant_names_its_source():
    bad = {}
    for v in model_doc().values():
        if v.kind == "constant" and v.sector != "Control":
            problems = _problems(v.comment)
            if problems:
                bad[v.name] = problems
    assert bad == {}


@pytest.mark.parametrize("where,key,source", _yaml_sources(), ids=lambda x: str(x)[:40])
def test_every_city_and_scenario_value_names_its_source(where, key, source):
    assert _problems(source) == [], (where, key, source)


def test_a_source_check_that_can_fail():
    assert _problems("Shan et al. (2018) Sci. Data 5:170201") == []
    assert _problems("megacity_sd/data/history.csv") == []
    assert _problems("/work/shared/data/ceads_openclimate/x.csv")
    assert _problems("megacity_sd/data/no_such_file.csv")
    assert _problems("a number we like")
    assert _problems("assumption: yes")


def test_at_most_40pct_of_non_policy_constants_are_assumptions():
    """Of the constants that are neither levers nor loop switches, at most 40 % rest on an assumption alone.

    A constant whose comment says "assumption:" but that the calibration estimates for the default city
    (Shanghai) from data counts as grounded in those data.
    """
    estimated = {p.name for p in load_config().cities["shanghai"][1]}
    consts = [v for v in model_doc(MODEL_PATH).values()
              if v.kind == "constant" and v.sector not in ("Policy", "Control") and not v.name.endswith("loop switch")]
    assumed = [v.name for v in consts if v.comment.lower().startswith("assumption") and v.name not in estimated]
    assert len(assumed) / len(consts) <= 0.40, (len(assumed), len(consts), sorted(assumed))
