"""The report (``megacity-sd report``): one self-contained HTML file; plan targets met or missed."""

from __future__ import annotations

import re

import numpy as np
import pytest

from megacity_sd.cli.app import main
from megacity_sd.model import model_doc
from megacity_sd.report import PLAN_METRICS, check_plan_targets, plan_targets
from tests.conftest import refused


def run_cli(argv: list[str]) -> int:
    """``megacity-sd explore|report ...`` through the console entry point (staged outputs and all)."""
    return main(argv)


def test_report_is_one_self_contained_file(tmp_path, capsys):
    out = tmp_path / "sub" / "guangzhou.html"
    assert run_cli(["report", "--city", "guangzhou", "--scenario", "transport", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    refs = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]+)""", html, flags=re.I)
    assert refs and all(r.startswith(("data:image/png;base64,", "#")) for r in refs), refs
    assert not re.search(r"<(script|link|iframe|object|embed)\b", html, flags=re.I)
    assert "@import" not in html and "url(" not in html
    assert len(re.findall(r"src='data:image/png;base64,", html)) == 8  # seven run figures and the co-control plane
    for section in ("id='scenarios'", "id='indicators'", "id='targets'", "id='figures'", "id='cocontrol'",
                    "id='parameters'"):
        assert section in html
    # the baseline is added; every model constant is listed with its units and source
    assert "<h3>baseline: " in html and "<h3>transport: " in html
    constants = [v for v in model_doc().values() if v.kind == "constant" and v.sector != "Control"]
    body = html.split("id='parameters'", 1)[1]
    assert all(f"<td>{v.name}</td>" in body.replace("&#x27;", "'") for v in constants)
    # Guangzhou has its own plan and Guangdong's, for reference
    assert "provincial plan (Guangdong)" in html and "city plan" in html
    assert "met</span>" in html or "missed</span>" in html


@pytest.mark.parametrize("args, words", [
    (["--out", "{tmp}/r.txt"], ["--out", "ending in .html"]),
    (["--out", "{tmp}/dir.html"], ["is a folder"]),
    (["--out", "{tmp}/r.html", "--city", "paris"], ["unknown city 'paris'"]),
    (["--out", "{tmp}/r.html", "--scenario", "nope"], ["unknown scenario 'nope'"]),
    (["--out", "{tmp}/r.html", "--year", "2100"], ["--year 2100", "allowed: 2006-2060"]),
])
def test_report_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, words):
    (tmp_path / "dir.html").mkdir()
    line = refused(capsys, ["report", *[a.format(tmp=tmp_path) for a in args]])
    assert all(w in line for w in words), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.html"]


def test_plan_targets_met_or_missed(tmp_path):
    csv = tmp_path / "targets.csv"
    csv.write_text("region,target_year,variable,value,unit,basis,source\n"
                   "Testville,2025,pm25_annual_mean_cap,30,ug/m3,cap,a\n"
                   "Testville,2030,energy_intensity_reduction_vs_2020,20,%,cut,b\n"
                   "Testville,2030,sea_level,1,m,?,c\n"
                   "Elsewhere,2030,pm25_annual_mean_cap,1,ug/m3,cap,d\n", encoding="utf-8")
    years = np.arange(2005, 2061)
    ei = np.where(years <= 2020, 1.0, 1.0 - 0.025 * (years - 2020))  # 25 % below 2020 by 2030
    for pm, want in ((29.0, "met"), (31.0, "missed")):
        series = {"PM25": np.full(years.size, pm), "energy intensity of GDP": ei}
        rows = check_plan_targets(series, years, "testville", path=csv)
        assert [r["status"] for r in rows] == [want, "met", "not checked"]
        assert rows[1]["model"] == pytest.approx(25.0) and rows[1]["sense"] == ">="
        assert rows[2]["note"] == "no model metric for this variable"
    assert set(plan_targets("shanghai")["scope"]) == {"city plan"}
    # every target variable in the project's table is read from the model
    import pandas as pd

    from megacity_sd.report import PLAN_TARGETS_PATH

    assert set(pd.read_csv(PLAN_TARGETS_PATH)["variable"]) <= set(PLAN_METRICS)


def test_explore_on_a_busy_port_is_one_line(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        line = refused(capsys, ["explore", "--port", str(port), "--no-browser"])
        assert re.search(rf"--port {port}: already in use; allowed: a free port", line), line
