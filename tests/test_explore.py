"""The policy explorer: its API (levers from the model, validation, concurrency, coalescing, exports) and the page
in a real browser (headless Chromium: move a lever, see the charts and indicators change, export the setting and
run it through the command line to the same numbers, open the report).

The browser test needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; without them it
is skipped with the reason. Screenshots go to ``$MEGACITY_SD_SCREENSHOTS`` (a folder) when set, else to tmp_path.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from megacity_sd.cli import main
from megacity_sd.errors import UserInputError
from megacity_sd.explore import MAX_BODY, check_constants, is_lever, lever_families, make_server
from megacity_sd.model import model_doc
from megacity_sd.scenario import list_scenarios, load_scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def server():
    srv = make_server("127.0.0.1", 0, city="shanghai")
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, method: str, path: str, body=None, *, ctype: str = "application/json", raw: bytes | None = None,
            headers: dict | None = None):
    """One HTTP request to the server: (status, decoded JSON or text, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=60)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"Content-Type": ctype} if data is not None else {}
    hdrs.update(headers or {})
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    kind = resp.getheader("Content-Type", "")
    out = json.loads(payload) if kind.startswith("application/json") else payload.decode("utf-8")
    return resp.status, out, dict(resp.getheaders())


# ----------------------------------------------------------------------------- levers and meta


def test_every_lever_of_the_model_has_one_slider_in_a_sector(server):
    doc = model_doc()
    levers = [v.name for v in doc.values() if is_lever(v)]
    status, meta, _ = request(server, "GET", "/api/meta")
    assert status == 200
    shown = [lv["name"] for sec in meta["sectors"] for fam in sec["families"] for lv in fam["levers"]]
    assert sorted(shown) == sorted(levers) and len(shown) == len(set(shown))
    # grouped by the sector their effective value drives, never left in the Policy view
    assert all(fam["sector"] not in ("Policy", "Control") for fam in lever_families())
    fam = {f["family"]: f for f in lever_families()}
    assert fam["NEV sales"]["sector"] == "Transport" and fam["NEV sales"]["effective"] == "NEV sales mandate"
    assert fam["carbon price"]["sector"] == "Energy.Prices" and fam["retrofit"]["sector"] == "Buildings"
    for lv in (lv for f in lever_families() for lv in f["levers"]):
        var = doc[lv["name"].lower().replace(" ", "_")]
        assert (lv["min"], lv["max"]) == var.limits and lv["units"] == var.units and lv["step"] > 0
    assert [p["name"] for p in meta["presets"]] == list_scenarios()
    assert {c["name"] for c in meta["cities"]} == {"beijing", "guangzhou", "shanghai", "shenzhen", "tianjin"}


def test_preset_gives_values_paths_sources_and_uncertainty(server):
    status, info, _ = request(server, "POST", "/api/preset", {"city": "shanghai", "preset": "city_plans"})
    assert status == 200
    scen = load_scenario("city_plans", city="shanghai")
    assert info["values"]["NEV sales target"] == scen.constants["NEV sales target"] == 0.5  # the city's own setting
    assert "Shanghai Clean Air Action Plan" in info["sources"]["NEV sales target"]
    path = info["paths"]["NEV sales"]
    assert path["target"] == scen.constants.get("NEV sales baseline target", 0.3) and "source" in path
    unc = {u["name"]: u for u in info["uncertainty"]}
    assert len(unc) >= 10 and all(u["lower"] < u["upper"] for u in unc.values())
    assert all(info["values"][n] == pytest.approx(u["nominal"]) for n, u in unc.items())


# ----------------------------------------------------------------------------- bad requests


GOOD = {"city": "shanghai", "preset": "transport", "constants": {"NEV sales target": 0.8}}


@pytest.mark.parametrize("body, status, words", [
    ({**GOOD, "constants": {"NEV sale target": 0.8}}, 400, ["constants.NEV sale target", "not a model constant",
                                                            "did you mean 'NEV sales target'"]),
    ({**GOOD, "constants": {"NEV sales target": 1.5}}, 400, ["value 1.5 out of range", "allowed: [0, 1] dmnl"]),
    ({**GOOD, "constants": {"NEV sales target": "high"}}, 400, ["constants.NEV sales target", "a number is required"]),
    ({**GOOD, "constants": {"NEV sales target": True}}, 400, ["a number is required"]),
    ({**GOOD, "constants": {"NEV sales target": None}}, 400, ["a number is required"]),
    ({**GOOD, "constants": {"CO2 emissions": 1.0}}, 400, ["'CO2 emissions' is an auxiliary, not a constant"]),
    ({**GOOD, "constants": {"NEV sales target": 10 ** 400}}, 400, ["out of range"]),
    ({**GOOD, "constants": [1, 2]}, 400, ["key 'constants'", "a mapping is required"]),
    ({**GOOD, "levers": {}}, 400, ["key 'levers'", "unknown key", "allowed: city, preset, constants"]),
    ({**GOOD, "city": "paris"}, 400, ["unknown city 'paris'", "allowed: beijing"]),
    ({**GOOD, "preset": "../scenarios/transport.yaml"}, 400, ["unknown scenario", "allowed: baseline"]),
    ({**GOOD, "year": 2100}, 400, ["key 'year'", "out of range"]),
    ({**GOOD, "seq": "1"}, 400, ["key 'seq'", "whole number"]),
    ([1, 2, 3], 400, ["a JSON object is required"]),
])
def test_bad_run_request_is_refused_with_one_line_and_changes_nothing(server, body, status, words):
    runs = server.explorer.stats["runs"]
    got, out, _ = request(server, "POST", "/api/run", body)
    assert got == status, out
    assert set(out) == {"error"} and "\n" not in out["error"]
    for w in words:
        assert w in out["error"], (w, out["error"])
    assert server.explorer.stats["runs"] == runs  # nothing ran


@pytest.mark.parametrize("kwargs, status, words", [
    ({"raw": b'{"city": "shanghai", "constants": {'}, 400, ["malformed JSON at line 1"]),
    ({"raw": b'{"constants": {"NEV sales target": NaN}}'}, 400, ["NaN is not allowed"]),
    ({"raw": b"\xff\xfe{}"}, 400, ["not UTF-8"]),
    ({"raw": b"{}", "ctype": "text/plain"}, 415, ["allowed: application/json"]),
    ({"raw": b"{" + b" " * (MAX_BODY + 1) + b"}"}, 413, [f"allowed: at most {MAX_BODY} bytes"]),
])
def test_malformed_or_oversized_body_is_refused(server, kwargs, status, words):
    runs = server.explorer.stats["runs"]
    got, out, _ = request(server, "POST", "/api/run", **kwargs)
    assert got == status and all(w in out["error"] for w in words), out
    assert server.explorer.stats["runs"] == runs


def test_wrong_path_method_length_or_host_is_refused(server):
    assert request(server, "GET", "/etc/passwd")[0] == 404
    assert request(server, "GET", "/../megacity_sd/explore/server.py")[0] == 404
    assert request(server, "POST", "/api/nothing", {})[0] == 404
    assert request(server, "GET", "/api/run")[0] == 405
    assert request(server, "PUT", "/api/run", GOOD)[0] == 405
    assert request(server, "GET", "/", headers={"Host": "evil.example:80"})[0] == 403
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.putrequest("POST", "/api/run")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()
    status, page, headers = request(server, "GET", "/")
    assert status == 200 and "<script src=\"/app.js\">" in page
    assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_check_constants_is_the_scenario_file_check():
    assert check_constants({"nev_sales_TARGET": 1, "carbon price target": 300.5}) == \
        {"NEV sales target": 1.0, "carbon price target": 300.5}
    with pytest.raises(UserInputError, match=r"given twice"):
        check_constants({"NEV sales target": 1, "nev sales target": 0.5})
    # the same message as a scenario file with the same mistake
    with pytest.raises(UserInputError) as ours:
        check_constants({"coal exit target": 2}, where="f.yaml")
    assert "key 'constants.coal exit target': value 2 out of range; allowed: [0, 1] dmnl" in str(ours.value)


# ----------------------------------------------------------------------------- runs


@pytest.mark.slow
def test_fifty_concurrent_requests_are_all_answered(server):
    values = [round(0.2 + 0.8 * i / 39, 6) for i in range(40)]
    bodies = [{"city": "shanghai", "preset": "baseline", "constants": {"NEV sales target": v},
               "client": f"c{i}", "seq": 1} for i, v in enumerate(values)]
    bodies += [{**GOOD, "constants": {"NEV sales target": 9}}] * 10  # refused, answered all the same
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda b: request(server, "POST", "/api/run", b), bodies))
    assert [a[0] for a in answers] == [200] * 40 + [400] * 10
    assert all(not a[1]["superseded"] for a in answers[:40])
    assert all("out of range" in a[1]["error"] for a in answers[40:])
    # each answer is its own request's: the same as that request run alone
    for body, (_, got, _) in zip(bodies[:40], answers[:40], strict=True):
        alone = server.explorer.run({**body, "client": ""})
        assert got["indicators"] == alone["indicators"] and got["charts"]["co2"] == alone["charts"]["co2"]
    cum = [next(i["value"] for i in a[1]["indicators"] if i["name"] == "cumulative CO2 2021-2060")
           for a in answers[:40]]
    assert len(set(cum)) > 20  # and they differ: the lever acts


def test_stale_runs_are_coalesced(server):
    ex = server.explorer
    runs = ex.stats["runs"]
    body = {"city": "shanghai", "preset": "baseline", "client": "coalesce-test"}
    with ThreadPoolExecutor(max_workers=5) as pool:
        with ex._run_lock:  # the model is busy: five moves arrive meanwhile
            futures = [pool.submit(request, server, "POST", "/api/run",
                                   {**body, "seq": s, "constants": {"retrofit target": 0.01 * s}}) for s in range(1, 6)]
            deadline = time.time() + 10
            while ex._latest.get("coalesce-test") != 5 and time.time() < deadline:
                time.sleep(0.005)
            time.sleep(0.05)
        answers = [f.result()[1] for f in futures]
    assert [a["superseded"] for a in answers] == [True] * 4 + [False]
    assert ex.stats["runs"] == runs + 1 and answers[-1]["seq"] == 5


def test_cocontrol_points_are_the_synergy_module_s(server):
    from megacity_sd.simulate import run_long
    from megacity_sd.synergy import model_changes, synergy_table

    status, out, _ = request(server, "POST", "/api/run", {"city": "beijing", "preset": "combined", "year": 2030})
    assert status == 200
    long = run_long([load_scenario("baseline", city="beijing"), load_scenario("combined", city="beijing")])
    ref = synergy_table(model_changes(long))
    ref = ref[ref["year"] == 2030].set_index("pollutant")
    assert {p["pollutant"] for p in out["cocontrol"]["points"]} == set(ref.index)
    for p in out["cocontrol"]["points"]:
        r = ref.loc[p["pollutant"]]
        assert p["x"] == pytest.approx(r["rel_change_pollutant"], rel=1e-9, abs=1e-15)
        assert p["y"] == pytest.approx(r["rel_change_co2"], rel=1e-9, abs=1e-15)
        assert p["et"] == pytest.approx(r["elasticity"], rel=1e-9) and p["quadrant"] == r["quadrant"]
    assert len(out["cocontrol"]["paths"]["SO2"]) == 2060 - 2025 + 1


def test_plan_targets_shown_are_discover_s_verdicts(server):
    """The explorer's target table is the city's target file evaluated by megacity_sd.targets (as discover does),
    for the city's setting and its baseline; published targets the model cannot read show as not checked."""
    from megacity_sd.simulate import run
    from megacity_sd.targets import evaluate, plan_targets

    for city, preset in (("beijing", "baseline"), ("guangzhou", "city_plans")):
        status, out, _ = request(server, "POST", "/api/run", {"city": city, "preset": preset})
        assert status == 200
        plan = plan_targets(city)
        for scen, key in ((preset, "status"), ("baseline", "baseline_status")):
            wide = run(load_scenario(scen, city=city))
            _, met = evaluate(plan, wide.index.to_numpy(), {v: wide[v].to_numpy()[None, :] for v in plan.variables()})
            want = ["met" if met.at[0, t.name] else "missed" for t in plan.targets]
            want += ["not checked"] * len(plan.not_checked)
            assert [t[key] for t in out["targets"]] == want, (city, scen)
        assert plan.name in out["plan"]


def test_a_failed_run_answers_one_line(server, monkeypatch):
    def boom(constants):
        raise FloatingPointError("overflow in 'GDP'\nsecond line")

    request(server, "POST", "/api/run", {"city": "shanghai"})  # the baseline is cached before the model breaks
    monkeypatch.setattr(server.explorer, "_simulate", boom)
    status, out, _ = request(server, "POST", "/api/run", {"city": "shanghai"})
    assert status == 500 and out["error"] == "run failed: FloatingPointError: overflow in 'GDP'"


# ----------------------------------------------------------------------------- uploads and exports


def test_upload_is_validated_like_a_scenario_file(server):
    text = ("name: my_plan\ntitle: Faster NEVs\nextends: transport\nconstants:\n  NEV sales phase in time: 5\n"
            "  carbon price target: 300\n"
            "cities:\n  shanghai:\n    retrofit target: {value: 0.02, source: my study}\n")
    status, info, _ = request(server, "POST", "/api/upload", {"city": "shanghai", "text": text,
                                                               "filename": "C:\\Users\\me\\plan.yaml"})
    assert status == 200, info
    assert info["uploaded"] == "plan.yaml" and info["name"] == "my_plan" and info["preset"] == "baseline"
    assert info["values"]["NEV sales target"] == 1.0 and info["values"]["NEV sales phase in time"] == 5
    assert info["values"]["retrofit target"] == 0.02 and info["sources"]["retrofit target"] == "my study"
    assert info["sources"]["carbon price target"] == "scenario my_plan (plan.yaml)"  # the label, not a path
    bad = [("name: x\nextends: ../../etc/secret.yaml\n", ["key 'extends'", "not allowed in a file opened in the "
                                                           "browser"]),
           ("name: x\nextends: /tmp/x\n", ["not allowed"]),
           ("name: x\nconstants:\n  coal exit target: 2\n", ["file 'up.yaml': key 'constants.coal exit target'",
                                                              "out of range"]),
           ("name: x\nconstants: [1\n", ["file 'up.yaml': malformed YAML at line"]),
           ("name: x\nweather: sunny\n", ["key 'weather'", "allowed keys"]),
           ("name: beijing\nconstants: {}\n", ["a city file"]),
           ("- a\n- b\n", ["expected a mapping"])]
    for text, words in bad:
        status, out, _ = request(server, "POST", "/api/upload", {"city": "shanghai", "text": text,
                                                                  "filename": "up.yaml"})
        assert status == 400, (text, out)
        assert all(w in out["error"] for w in words), (words, out["error"])
        assert "megacity-sd-upload" not in out["error"] and "/tmp/" not in out["error"].replace("/tmp/x", "")


def test_exported_yaml_runs_on_the_command_line_to_the_same_numbers(server, tmp_path):
    setting = {"city": "beijing", "preset": "city_plans", "year": 2035,
               "constants": {"carbon price target": 250.0, "NEV sales target": 0.75, "retrofit start year": 2024,
                             "capital elasticity": 0.5}}
    status, res, _ = request(server, "POST", "/api/run", setting)
    assert status == 200
    status, text, headers = request(server, "POST", "/api/export/yaml", {**setting, "name": "bj_explore"})
    assert status == 200 and headers["Content-Disposition"] == 'attachment; filename="bj_explore.yaml"'
    data = yaml.safe_load(text)
    assert data["extends"] == "city_plans" and set(data["constants"]) == set(setting["constants"])
    path = tmp_path / "bj_explore.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["run", "--city", "beijing", "--scenario", str(path), "--out", str(tmp_path / "o"),
                 "--no-figures"]) == 0
    ind = pd.read_csv(tmp_path / "o" / "indicators.csv")
    ind = ind[ind["scenario"] == "bj_explore"].set_index("indicator")["value"]
    for i in res["indicators"]:
        want = ind[i["name"]]
        assert (i["value"] is None and np.isnan(want)) or i["value"] == pytest.approx(want, rel=1e-12), i
    # a name that is a shipped scenario's, or not a file name, is refused
    for name in ("transport", "../x", ""):
        assert request(server, "POST", "/api/export/yaml", {**setting, "name": name})[0] == 400


def test_export_csv_is_the_long_table(server):
    status, text, headers = request(server, "POST", "/api/export/csv",
                                    {"city": "shanghai", "preset": "transport", "name": "t2",
                                     "constants": {"NEV sales target": 0.6}})
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    from io import StringIO

    df = pd.read_csv(StringIO(text))
    assert list(df.columns) == ["city", "scenario", "variable", "unit", "year", "value"]
    assert set(df["scenario"]) == {"baseline", "t2"} and df["year"].min() == 2005 and df["year"].max() == 2060


# ----------------------------------------------------------------------------- the page in a browser


def _browser(download_dir: Path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no browser: install Debian's chromium and chromium-driver (apt-get install -y chromium "
                    "chromium-driver) to run the browser test")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1100",
                "--disable-gpu", "--lang=en-US"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False})
    # the driver is given, so selenium-manager is never asked to download a browser or driver
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


def _wait(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MEGACITY_SD_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_page_in_a_browser(server, tmp_path, monkeypatch):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = _browser(downloads)
    try:
        driver.get(server.url + "?city=shanghai")
        stats = lambda: driver.execute_script("return window.exploreStats")  # noqa: E731
        _wait(lambda: stats() and stats()["runs"] >= 1, what="the first run")
        co2_path = lambda: driver.execute_script(  # noqa: E731
            "return document.querySelector('#chart-co2 path.cur-0').getAttribute('d')")
        cell = lambda name: driver.execute_script(  # noqa: E731
            f"return document.querySelector('tr[data-indicator=\"{name}\"] td.cur').textContent")
        before_path, before_cell = co2_path(), cell("CO2 in 2060")
        assert driver.find_element("css selector", "#chart-pm25 svg") and "WHO" in driver.page_source
        n_sliders = driver.execute_script("return document.querySelectorAll('#levers input[type=range]').length")
        assert n_sliders == sum(len(f["levers"]) for f in lever_families())

        # pin the baseline run, to compare with what follows
        driver.find_element("id", "pin").click()
        _wait(lambda: driver.execute_script("return document.querySelectorAll('#chart-co2 path.pin').length") == 1,
              what="the pinned run on the CO2 chart")

        # move a lever with the keyboard, as a user does: 40 steps in quick succession
        runs0 = stats()["runs"]
        slider = driver.find_element("css selector", 'input[type=range][data-name="industrial electrification target"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
        slider.click()
        from selenium.webdriver.common.keys import Keys

        driver.execute_script("arguments[0].value = 0; arguments[0].focus()", slider)
        slider.send_keys(Keys.ARROW_RIGHT * 40)
        _wait(lambda: not stats()["busy"] and
              driver.execute_script("return document.querySelector('input[type=number][data-name=\"industrial "
                                    "electrification target\"]').value") == "0.4", what="the slider at 0.4")
        time.sleep(0.3)
        _wait(lambda: co2_path() != before_path, what="the CO2 chart to change")
        last = stats()["last"]
        assert cell("CO2 in 2060") != before_cell
        assert stats()["runs"] - runs0 < 40, "rapid moves must coalesce, not queue one run per move"
        assert stats()["errors"] == 0
        assert "pin 1: baseline" in driver.find_element("id", "indicators").text
        driver.set_window_size(1600, 2200)
        time.sleep(0.5)  # the charts redraw to the new width
        driver.save_screenshot(str(_shots(tmp_path) / "explorer.png"))
        driver.set_window_size(1600, 1100)

        # export the setting as YAML and run it through the command line: the same numbers
        name = driver.find_element("id", "export-name")
        name.clear()
        name.send_keys("browser_test")
        driver.find_element("id", "export-yaml").click()
        yml = _wait(lambda: next(iter(downloads.glob("browser_test.yaml")), None), what="the YAML download")
        time.sleep(0.2)
        assert yaml.safe_load(yml.read_text())["constants"]["industrial electrification target"]["value"] == 0.4
        out = tmp_path / "cli"
        assert main(["run", "--city", "shanghai", "--scenario", str(yml), "--out", str(out), "--no-figures"]) == 0
        ind = pd.read_csv(out / "indicators.csv")
        ind = ind[ind["scenario"] == "browser_test"].set_index("indicator")["value"]
        for i in last["indicators"]:
            assert (i["value"] is None and np.isnan(ind[i["name"]])) or \
                i["value"] == pytest.approx(ind[i["name"]], rel=1e-12), i

        # a value out of range, typed into the box: one line on the page
        box = driver.find_element("css selector", 'input[type=number][data-name="industrial electrification target"]')
        box.send_keys(Keys.CONTROL + "a")
        box.send_keys("5" + Keys.ENTER)
        err = _wait(lambda: driver.find_element("id", "error").text, what="the error line")
        assert "industrial electrification target" in err and "out of range" in err and "allowed: [0, 1]" in err
        box.send_keys(Keys.CONTROL + "a")
        box.send_keys("0.4" + Keys.ENTER)
        _wait(lambda: not driver.find_element("id", "error").is_displayed(), what="the error to clear")

        # a run that fails: its one-line reason on the page
        def broken(constants):
            raise RuntimeError("the solver diverged")

        monkeypatch.setattr(server.explorer, "_simulate", broken)
        box.send_keys(Keys.CONTROL + "a")
        box.send_keys("0.5" + Keys.ENTER)
        err = _wait(lambda: driver.find_element("id", "error").text, what="the failure line")
        assert err == "run failed: RuntimeError: the solver diverged"
        monkeypatch.undo()

        # open a scenario file in the browser: checked by the server, the sliders follow it
        mine = tmp_path / "mine.yaml"
        mine.write_text("name: mine\nextends: transport\nconstants:\n  retrofit target: 0.03\n", encoding="utf-8")
        driver.find_element("id", "upload").send_keys(str(mine))
        num = lambda n: driver.execute_script(  # noqa: E731
            f"return document.querySelector('input[type=number][data-name=\"{n}\"]').value")
        _wait(lambda: num("retrofit target") == "0.03" and num("NEV sales target") == "1", what="the uploaded file")
        assert "file: mine.yaml (mine)" in driver.find_element("id", "preset").text
        _wait(lambda: not stats()["busy"] and not driver.find_element("id", "error").is_displayed(),
              what="the uploaded setting's run")
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: bad\nconstants:\n  retrofit target: 0.5\n", encoding="utf-8")
        driver.find_element("id", "upload").send_keys(str(bad))
        err = _wait(lambda: driver.find_element("id", "error").text, what="the refused file")
        assert err.startswith("file 'bad.yaml': key 'constants.retrofit target'") and "out of range" in err
        assert str(tmp_path) not in err

        # the report: self-contained, nothing loaded or linked from outside
        driver.find_element("id", "export-report").click()
        report = _wait(lambda: next(iter(downloads.glob("browser_test_report.html")), None), timeout=120,
                       what="the report download")
        time.sleep(0.3)
        html = report.read_text(encoding="utf-8")
        refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", html, flags=re.I)
        assert refs and all(not re.match(r"(?i)(https?:)?//", r) for r in refs), refs
        driver.get(report.as_uri())
        _wait(lambda: driver.execute_script("return document.readyState") == "complete", what="the report")
        urls = driver.execute_script(
            "return Array.from(document.querySelectorAll('[src],[href]')).map(e => e.getAttribute('src') || "
            "e.getAttribute('href'))")
        assert all(u.startswith(("data:image/png;base64,", "#")) for u in urls), urls
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        assert driver.execute_script("return document.querySelectorAll('img').length") >= 8
        assert driver.execute_script("return Array.from(document.images).every(i => i.naturalWidth > 0)")
        text = driver.find_element("tag name", "body").text
        for section in ("Scenarios", "Indicators", "Plan targets", "Figures", "Co-control", "Parameters"):
            assert section in text
        assert "browser_test" in text and "industrial electrification target" in text
        driver.save_screenshot(str(_shots(tmp_path) / "report.png"))
    finally:
        driver.quit()


@pytest.mark.slow
def test_explorer_started_as_users_start_it_survives_dropped_connections():
    """`megacity-sd explore` (the console script's process): half-sent requests and tabs closed mid-answer
    (the server then writes to a reset socket: SIGPIPE/EPIPE) end only that connection."""
    import socket
    import struct
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "megacity_sd.cli", "explore", "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in proc.stdout:
            m = re.search(r"open (http://127\.0\.0\.1:(\d+)/)", line)
            if m:
                url, port = m.group(1), int(m.group(2))
                break
        assert url, proc.stderr.read()
        reset = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port)) as s:  # a half-sent request, then gone
                s.sendall(b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 5000\r\n\r\n{\"city\":")
            s = socket.create_connection(("127.0.0.1", port))  # a tab closed while the answer is written
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
            s.sendall(b"GET /api/meta HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            time.sleep(0.05)
            s.close()
        time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/api/meta")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["cities"]
        conn.close()
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_idle_connections_are_closed_after_the_timeout(server, monkeypatch):
    import socket

    from megacity_sd.explore import server as server_module

    monkeypatch.setattr(server_module._Handler, "timeout", 1.0)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.server_address[1])) as idle:
        idle.settimeout(30)
        assert idle.recv(1) == b""  # closed by the server
    assert time.monotonic() - start < 10
    assert request(server, "GET", "/api/meta")[0] == 200
