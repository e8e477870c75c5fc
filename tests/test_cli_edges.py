"""The command line at its edges: output folders, encodings, file kinds, numbers, names, Ctrl-C.

Each case is one an analyst met (issue 13): the command must end with exit
code 2 and one line on stderr naming the file or option and what is allowed,
write nothing, and never show a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from megacity_sd.cli import app as cli
from megacity_sd.cli import main
from megacity_sd.errors import Interrupted, UserInputError
from megacity_sd.io import read_csv_table, read_text, read_yaml_mapping
from megacity_sd.scenario import CITY_DIR, SCENARIO_DIR, load_scenario


def _bad(capsys, argv, words, tmp_path=None):
    """In-process ``main(argv)``: exit 2, one stderr line holding ``words``; nothing new under ``tmp_path``."""
    before = sorted(p for p in tmp_path.rglob("*")) if tmp_path is not None else None
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    if tmp_path is not None:
        assert sorted(p for p in tmp_path.rglob("*")) == before, "bad input wrote something"
    return lines[0]


# ----------------------------------------------------------------------------- output folders


def test_out_naming_a_file_is_refused_before_running(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    _bad(capsys, ["run", "--scenario", "baseline", "--out", str(tmp_path / "afile")],
         ["--out", "is a file", "allowed: a folder"], tmp_path)
    assert "running" not in capsys.readouterr().out


def test_figures_under_a_file_is_refused_before_any_table(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    _bad(capsys, ["run", "--scenario", "baseline", "--out", str(tmp_path / "out"),
                  "--figures", str(tmp_path / "afile" / "figs")], ["--figures", "cannot be created"], tmp_path)
    assert not (tmp_path / "out").exists()


def test_no_figures_skips_the_figures_check(tmp_path):
    (tmp_path / "afile").write_text("x")
    assert main(["run", "--scenario", "baseline", "--out", str(tmp_path / "o"), "--figures",
                 str(tmp_path / "afile"), "--no-figures"]) == 0


def test_unwritable_out_is_refused(tmp_path, capsys):
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = ro / "out"
    else:  # root writes through permission bits: a file system that refuses writes
        target = "/sys/megacity-sd-out"
        if not os.path.isdir("/sys") or os.path.exists(target):
            pytest.skip("no /sys here")
    _bad(capsys, ["run", "--scenario", "baseline", "--out", str(target)], ["--out", "not writable"])


def test_every_command_checks_its_output_folders(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    f = str(tmp_path / "afile")
    for argv in (["synergy", "--out", f], ["loops", "--out", f], ["calibrate", "--city", "shanghai", "--out", f],
                 ["sensitivity", "--method", "morris", "--out", f], ["stirpat", "crosscheck", "--figures", f]):
        _bad(capsys, argv, ["is a file"], tmp_path)


# ----------------------------------------------------------------------------- names and kinds


def test_duplicate_scenarios_are_refused_before_running(tmp_path, capsys):
    out = tmp_path / "o"
    _bad(capsys, ["run", "--scenario", "baseline", "--scenario", "baseline", "--out", str(out)],
         ["'baseline' is already given", "each scenario once"], tmp_path)
    copy = tmp_path / "copy.yaml"
    copy.write_text((SCENARIO_DIR / "transport.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    _bad(capsys, ["run", "--scenario", "transport", "--scenario", str(copy), "--out", str(out)],
         ["'transport' is already given", "own 'name:'"])
    assert not out.exists()


def test_repeated_city_runs_each_city(tmp_path, capsys):
    assert main(["run", "--city", "shanghai", "--city", "tianjin", "--scenario", "transport", "--no-figures",
                 "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "results.csv")
    assert set(df["city"]) == {"shanghai", "tianjin"}
    assert set(df["scenario"]) == {"baseline", "transport"}
    _bad(capsys, ["run", "--city", "tianjin", "--city", "tianjin"], ["--city tianjin", "given twice"])
    _bad(capsys, ["run", "--city", "tianjin", "--city", str(CITY_DIR / "tianjin.yaml")], ["already given"])


def test_city_file_as_scenario_and_scenario_as_city_are_named(capsys):
    _bad(capsys, ["run", "--scenario", "beijing"], ["'beijing' is a city", "--city"])
    _bad(capsys, ["run", "--city", "baseline"], ["'baseline' is a scenario", "--scenario"])
    _bad(capsys, ["run", "--scenario", str(CITY_DIR / "beijing.yaml")], ["a city file", "--city"])
    _bad(capsys, ["run", "--city", str(SCENARIO_DIR / "transport.yaml")], ["a scenario file", "--scenario"])


def test_did_you_mean(tmp_path, capsys):
    _bad(capsys, ["run", "--city", "shangai"], ["unknown city 'shangai'", "did you mean 'shanghai'"])
    _bad(capsys, ["run", "--scenario", "transprot"], ["did you mean 'transport'"])
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nconstants:\n  NEV sales targt: 0.5\n", encoding="utf-8")
    _bad(capsys, ["run", "--scenario", str(f)], ["not a model constant", "did you mean 'NEV sales target'"])
    _bad(capsys, ["explain", "Populatoin"], ["did you mean 'Population'"])


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("text", ["1e7", "1E7", "1.0e+7", "10_000_000", "10000000"])
def test_yaml_numbers_as_users_write_them(tmp_path, text):
    f = tmp_path / "pv.yaml"
    f.write_text(f"name: pv\nconstants:\n  distributed PV target: {text}\n", encoding="utf-8")
    scen = load_scenario(str(f))
    assert scen.constants["distributed PV target"] == pytest.approx(1e7, rel=1e-15)


def test_type_errors_name_the_users_key(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nconstants:\n  NEV sales target: lots\n", encoding="utf-8")
    line = _bad(capsys, ["run", "--scenario", str(f)], ["key 'constants.NEV sales target'", "a number"])
    assert ".float" not in line and "SourcedValue" not in line


def _alias_bomb(levels: int = 9) -> str:
    """A ~400-byte YAML whose nested aliases expand to 9**levels strings (a billion for 9 levels)."""
    names = "abcdefghij"
    lines = ['l0: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels):
        ref = ", ".join([f"*{names[i - 1]}"] * 9)
        lines.append(f"l{i}: &{names[i]} [{ref}]")
    return "name: bomb\nconstants:\n  " + "\n  ".join(lines) + "\n"


@pytest.mark.parametrize("text, words", [
    (None, ["expands to more than", "nested aliases"]),
    ("name: s\nconstants:\n  NEV sales target: 0.5\n  NEV sales target: 0.6\n",
     ["key 'NEV sales target' given twice", "line 4"]),
    ("name: s\nconstants:\n  NEV sales start: 1:30\n", ["constants.NEV sales start", "got '1:30'"]),
    ("name: s\nconstants:\n  x: " + "[" * 5000 + "]" * 5000 + "\n", ["nested too deeply"]),
    ("name: s\nconstants:\n  x: " + "[" * 150 + "]" * 150 + "\n", ["nested more than 100 deep"]),
])
def test_hostile_yaml_is_one_line_fast_and_small(tmp_path, capsys, text, words):
    """Nested aliases, duplicate keys, YAML 1.1 base-60 numbers and deep nesting: refused in one short line."""
    f = tmp_path / "s.yaml"
    f.write_text(text if text is not None else _alias_bomb(), encoding="utf-8")
    if text is None:
        assert len(f.read_bytes()) < 500
    start = time.monotonic()
    line = _bad(capsys, ["run", "--scenario", str(f), "--out", str(tmp_path / "out")], [str(f), *words])
    assert time.monotonic() - start < 20 and len(line) < 400, line


def test_aliases_within_the_bound_still_work(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nconstants: &c\n  NEV sales target: 0.5\ncities:\n  beijing: *c\n", encoding="utf-8")
    assert read_yaml_mapping(f, "")["cities"]["beijing"] == {"NEV sales target": 0.5}


@pytest.mark.parametrize("name", ["../../x", "a/b", "a\\\\b", ".hidden", "x..y", "/abs", "x" * 65])
@pytest.mark.parametrize("command", ["run", "sensitivity"])
def test_names_never_become_paths(tmp_path, capsys, monkeypatch, name, command):
    """``name:`` of a scenario (or city) file is part of figure and ensemble-store names: refused when path-like."""
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "s.yaml"
    f.write_text(f"name: '{name}'\nextends: baseline\n", encoding="utf-8")
    argv = {"run": ["run", "--scenario", str(f)],
            "sensitivity": ["sensitivity", "--method", "oat", "--scenario", str(f), "--workers", "0"]}[command]
    _bad(capsys, [*argv, "--out", "out", "--figures", "fig"], [str(f), "key 'name'", "not allowed as a name"],
         tmp_path)


def test_names_in_any_script_are_kept(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: 上海 2030 (plan-B)\nextends: baseline\n", encoding="utf-8")
    assert load_scenario(str(f)).name == "上海 2030 (plan-B)"


# ----------------------------------------------------------------------------- encodings


def test_utf8_with_bom_is_read(tmp_path):
    f = tmp_path / "bom.yaml"
    f.write_bytes("\ufeffname: bom\nconstants:\n  NEV sales target: 0.5\n".encode())
    assert load_scenario(str(f)).constants["NEV sales target"] == 0.5


@pytest.mark.parametrize("encoding, words", [("gb18030", ["not UTF-8", "GBK/GB18030", "save it as UTF-8"]),
                                             ("latin-1", ["not UTF-8", "save it as UTF-8"]),
                                             ("utf-16", ["UTF-16", "save it as UTF-8"])])
def test_other_encodings_are_refused_with_how_to_fix(tmp_path, capsys, encoding, words):
    f = tmp_path / "enc.yaml"
    note = "café" if encoding == "latin-1" else "上海 café"
    f.write_bytes(f"name: enc\ndescription: {note}\nconstants: {{}}\n".encode(encoding))
    for argv in (["run", "--scenario", str(f)], ["run", "--city", str(f)],
                 ["sensitivity", "--method", "morris", "--uncertainty", str(f)], ["calibrate", "--config", str(f)]):
        _bad(capsys, argv, [str(f), *words], tmp_path)


def test_binary_files_are_refused(tmp_path, capsys):
    f = tmp_path / "bin.yaml"
    f.write_bytes(bytes(range(256)))
    _bad(capsys, ["run", "--scenario", str(f)], ["a binary file"], tmp_path)
    with pytest.raises(UserInputError, match="binary"):
        read_csv_table(f)


def test_gbk_csv_says_how_to_fix(tmp_path):
    f = tmp_path / "t.csv"
    f.write_bytes("city,note\n上海,x\n".encode("gbk"))
    with pytest.raises(UserInputError, match="GBK/GB18030.*save it as UTF-8"):
        read_csv_table(f)
    g = tmp_path / "u.csv"
    g.write_bytes("\ufeffcity,note\n上海,x\n".encode())
    assert list(read_csv_table(g)["city"]) == ["上海"]


def test_text_readers_name_the_file(tmp_path):
    with pytest.raises(UserInputError, match="file not found"):
        read_text(tmp_path / "none.yaml")
    with pytest.raises(UserInputError, match="is a folder"):
        read_yaml_mapping(tmp_path, "of anything")


# ----------------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("exc, words", [(KeyboardInterrupt(), ["interrupted", "none of this command's output files"]),
                                        (Interrupted("3 of 8 runs of morris kept in x; run the same command "
                                                     "to resume"), ["interrupted; 3 of 8 runs", "resume"])])
def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys, exc, words):
    def boom(argv=None):
        raise exc

    monkeypatch.setattr(cli, "main", boom)
    exits = []
    monkeypatch.setattr(cli, "_exit_now", exits.append)
    old = signal.getsignal(signal.SIGINT)
    try:
        assert cli.console_main() == 130 and exits == [130]
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # a second Ctrl-C cannot cut the exit short
    finally:  # console_main sets process-wide signal actions: give this test process its own back
        signal.signal(signal.SIGINT, old)
        if hasattr(signal, "SIGPIPE"):
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for w in words:
        assert w in err


def test_ctrl_c_in_a_real_run(tmp_path):
    """SIGINT to ``megacity-sd run`` during its runs: exit 130, one line, no traceback, no partial table."""
    proc = subprocess.Popen([sys.executable, "-m", "megacity_sd.cli", "run", "--engine", "pysd", "--no-figures",
                             "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    while line and "running" not in line:
        line = proc.stdout.readline()
    assert "running" in line, "the run ended before it started running"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [err.strip()] and err.startswith("megacity-sd: interrupted"), err
    assert not list(tmp_path.iterdir())


def test_interrupted_ensemble_keeps_batches_and_resumes(tmp_path, capsys):
    from megacity_sd.ensemble import run_ensemble

    params = pd.DataFrame({"NEV sales target": [0.2, 0.4, 0.6, 0.8]})
    calls = []

    def stop_after_first(done, total):
        calls.append(done)
        raise KeyboardInterrupt

    with pytest.raises(Interrupted, match=r"2 of 4 runs of demo kept .* run the same command to resume"):
        run_ensemble(params, tmp_path, indicators=["CO2 in 2030"], batch_size=2, workers=1, label="demo",
                     on_batch=stop_after_first, progress=False)
    res = run_ensemble(params, tmp_path, indicators=["CO2 in 2030"], batch_size=2, workers=1, label="demo",
                       progress=True)
    assert "demo: resuming; 2 of 4 runs reused" in capsys.readouterr().out
    assert res.stats["batches_stored"] == 1 and res.stats["runs_computed"] == 2


# ----------------------------------------------------------------------------- look-ups


def test_model_doc_cache_equals_the_parse(tmp_path, monkeypatch):
    """Name look-ups read the parsed declarations from a cache; it must hold exactly what the parser gives."""
    from megacity_sd import model

    decay = Path(__file__).parent / "models" / "decay.mdl"  # the cache is model-independent: a small model
    monkeypatch.setenv("MEGACITY_SD_CACHE", str(tmp_path))
    model.model_doc.cache_clear()
    try:
        first = model.model_doc(decay)  # parses and writes the cache
        assert first == model._parse_doc(decay)
        assert len(list((tmp_path / "doc").glob("decay-*.json"))) == 1
        model.model_doc.cache_clear()
        assert model.model_doc(decay) == first  # read back from the cache
        (next((tmp_path / "doc").glob("*.json"))).write_text("{broken", encoding="utf-8")
        model.model_doc.cache_clear()
        assert model.model_doc(decay) == first  # a broken cache costs a parse, never a wrong answer
    finally:
        model.model_doc.cache_clear()


def test_lookup_commands_do_not_import_the_heavy_libraries():
    code = ("import sys; from megacity_sd.cli import main; main(['explain', 'Population']); "
            "print(sorted(m for m in ('statsmodels', 'pysd', 'SALib', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


# ----------------------------------------------------------------------------- outputs land together


def test_staged_outputs_land_together_or_not_at_all(tmp_path):
    """Analytic: inside the block nothing lands; at its end everything does; on an error nothing, new folders gone."""
    from megacity_sd.io import staged_outputs, write_csv_atomic, write_text_atomic

    df = pd.DataFrame({"a": [1, 2]})
    with staged_outputs():
        write_csv_atomic(df, tmp_path / "ok" / "t.csv")
        write_text_atomic("x", tmp_path / "ok" / "f" / "note.txt")
        assert not (tmp_path / "ok" / "t.csv").exists() and not (tmp_path / "ok" / "f" / "note.txt").exists()
    assert (tmp_path / "ok" / "t.csv").read_text() == "a\n1\n2\n"
    assert (tmp_path / "ok" / "f" / "note.txt").read_text() == "x"
    assert not [p for p in (tmp_path / "ok").rglob(".*")], "a temporary file was left behind"

    with pytest.raises(RuntimeError), staged_outputs():
        write_csv_atomic(df, tmp_path / "bad" / "deep" / "t.csv")
        write_text_atomic("kept", tmp_path / "store" / "batch.txt", now=True)  # a resumable store lands at once
        raise RuntimeError("drawing failed")
    assert not (tmp_path / "bad").exists(), "a folder the failed block created was left behind"
    assert (tmp_path / "store" / "batch.txt").read_text() == "kept"

    (tmp_path / "old.csv").write_text("old\n")
    with pytest.raises(KeyboardInterrupt), staged_outputs():
        write_csv_atomic(df, tmp_path / "old.csv")
        raise KeyboardInterrupt
    assert (tmp_path / "old.csv").read_text() == "old\n", "an interrupted command replaced an earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok", "old.csv", "store"]


def test_a_command_that_fails_after_its_tables_writes_nothing(tmp_path, monkeypatch):
    """`run` whose figures fail after results.csv and indicators.csv were written: none of its files land."""
    import megacity_sd.plotting

    def broken(*args, **kwargs):
        raise RuntimeError("figure writer failed")

    monkeypatch.setattr(megacity_sd.plotting, "write_run_figures", broken)
    out, figs = tmp_path / "out", tmp_path / "figs"
    with pytest.raises(RuntimeError, match="figure writer failed"):
        main(["run", "--scenario", "baseline", "--out", str(out), "--figures", str(figs)])
    assert not out.exists() and not figs.exists()
    assert list(tmp_path.iterdir()) == []


def test_stirpat_fit_refuses_infinite_values(tmp_path, capsys):
    f = tmp_path / "inf.csv"
    f.write_text("city,year,co2,population,gdp_per_capita\na,2000,1,2,3\na,2001,inf,3,4\nb,2000,2,5,6\n"
                 "b,2001,3,6,8\n", encoding="utf-8")
    _bad(capsys, ["stirpat", "fit", "--data", str(f), "--dependent", "co2", "--drivers", "population,gdp_per_capita",
                  "--entity", "city", "--out", str(tmp_path / "o")], ["column 'co2'", "infinite", "allowed"], tmp_path)


# ----------------------------------------------------------------------------- hostile input (review of 2026-12-06)


def _file(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("case", ["dup_spelling", "symlink_loop", "dev_zero", "extends_dev_zero", "too_large",
                                  "year_1e20", "long_name", "empty_out", "depth", "time_step"])
def test_hostile_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    """Each case of the reliability review that ended in a traceback, an endless read or silent last-wins."""
    src = tmp_path / "in"
    src.mkdir()
    out = ["--out", str(tmp_path / "o"), "--no-figures"]
    if case == "dup_spelling":
        p = _file(src, "dup.yaml", "name: dup\nconstants:\n  NEV sales target: 0.2\n  nev_sales_TARGET: 1.0\n")
        argv, words = ["run", "--scenario", p, *out], ["nev_sales_TARGET", "same constant as 'NEV sales target'"]
    elif case == "symlink_loop":
        (src / "loop.yaml").symlink_to(src / "loop.yaml")
        argv, words = ["run", "--scenario", src / "loop.yaml", *out], ["loop.yaml", "cannot be opened"]
    elif case == "dev_zero":
        argv, words = ["run", "--scenario", "/dev/zero", *out], ["/dev/zero", "not a regular file"]
    elif case == "extends_dev_zero":
        p = _file(src, "ext.yaml", "name: ext\nextends: /dev/zero\n")
        argv, words = ["run", "--scenario", p, *out], ["/dev/zero", "not a regular file"]
    elif case == "too_large":
        from megacity_sd import io

        p = src / "big.yaml"
        with open(p, "wb") as f:
            f.truncate(io.MAX_INPUT_BYTES + 1)  # sparse: no disk used
        argv, words = ["run", "--scenario", p, *out], ["big.yaml", "larger than 256 MB"]
    elif case == "year_1e20":
        p = _file(src, "m.csv", "measure,pollutant,before,after,year\nbus,CO2,100,90,1e20\nbus,NOx,10,8,1e20\n")
        argv, words = ["synergy", "--table", p, *out], ["m.csv", "column 'year', line 2", "not a year"]
    elif case == "long_name":
        argv, words = ["run", "--out", tmp_path / ("a" * 300), "--no-figures"], ["--out", "File name too long"]
    elif case == "empty_out":
        argv, words = ["run", "--out", "", "--no-figures"], ["--out ''", "empty"]
    elif case == "depth":
        argv, words = ["explain", "CO2 emissions", "--depth", "1000000"], ["--depth 1000000", "0 to 10"]
    else:
        argv, words = ["sensitivity", "--method", "oat", "--time-step", "1e-6", "--workers", "0", *out], \
            ["--time-step 1e-06", "finer than 1/1024"]
    _bad(capsys, [str(a) for a in argv], words, tmp_path / "o" if (tmp_path / "o").exists() else None)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("call", "words"), [
    (dict(time_step=0), ["time_step 0", "1/k year"]),
    (dict(time_step=-1), ["time_step -1"]),
    (dict(time_step=1e-6), ["time_step 1e-06", "finer than 1/1024"]),
    (dict(time_step=True), ["time_step True", "not a number"]),
    (dict(time_step=[1]), ["time_step [1]", "not a number"]),
    (dict(scenario={"NEV sales target": 5.0}), ["'NEV sales target'", "out of range", "[0, 1]"]),
    (dict(scenario={"NEV sales target": True}), ["True is not a number"]),
    (dict(scenario={"NEV sales target": [0.5]}), ["[0.5] is not a number"]),
    (dict(scenario={"NEV sales target": "high"}), ["'high' is not a number"]),
    (dict(scenario={"NEV sales target": float("nan")}), ["nan", "finite"]),
    (dict(scenario={"NEV sales target": 0.2, "nev_sales_TARGET": 0.3}), ["same constant"]),
    (dict(scenario=123), ["scenario: a int"]),
    (dict(engine="vensim"), ["engine 'vensim'", "allowed: fast"]),
])
def test_the_python_api_checks_its_arguments_as_the_command_line_does(call, words):
    """``megacity_sd.run`` refuses in one UserInputError what the CLI refuses (``time_step=0`` ran forever)."""
    import megacity_sd as ms

    call = dict(call)
    with pytest.raises(UserInputError) as info:
        ms.run(call.pop("scenario", None), **call)
    msg = str(info.value)
    assert "--" not in msg and "\n" not in msg, msg  # no command-line flag names in a library's error
    for w in words:
        assert w in msg, (w, msg)


def test_load_scenario_refuses_what_is_not_a_name():
    with pytest.raises(UserInputError, match=r"city 123: a int; allowed: a name or the path"):
        load_scenario("baseline", city=123)


def test_the_python_api_runs_valid_arguments_and_names_constants_in_any_spelling():
    import megacity_sd as ms

    a = ms.run({"nev_sales_TARGET": 0.5}, time_step=0.25)
    b = ms.run({"NEV sales target": 0.5}, time_step=0.25)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(ms.run(None, time_step=0.25))
    # extreme-condition tests set values outside the ranges on purpose: allowed with ranges=False only
    with pytest.raises(UserInputError, match="out of range"):
        ms.run({"initial population": 0})
    assert ms.run({"initial population": 0}, ranges=False).loc[2060, "Population"] == 0


# ----------------------------------------------------------------------------- faults of the machine, signals


def test_a_full_disk_is_one_line_exit_1_and_no_claim_of_what_did_not_land(tmp_path, capsys, monkeypatch):
    """ENOSPC while a table is written: exit 1, one line naming the file and the reason, nothing landed, and
    stdout says nothing was written (it printed "wrote results.csv" before the staged files were renamed)."""
    import errno

    real = pd.DataFrame.to_csv

    def full(self, path, *args, **kwargs):
        if "indicators" in str(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    out = tmp_path / "o"
    code = main(["run", "--scenario", "transport", "--out", str(out), "--no-figures"])
    cap = capsys.readouterr()
    assert code == 1, cap.err
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and ".indicators." in lines[0], cap.err
    assert "none of this command's output files was written" in lines[0]
    assert "wrote" not in cap.out
    assert not out.exists()


def test_wrote_is_printed_after_the_files_landed(tmp_path, capsys, monkeypatch):
    """The "wrote" line comes when its files exist: checked at the moment it is printed."""
    import megacity_sd.io as mio

    out = tmp_path / "o"
    seen = []
    real_print = print

    def spy(*args, **kwargs):
        text = " ".join(map(str, args))
        if text.startswith("wrote"):
            seen.append((out / "results.csv").exists() and (out / "indicators.csv").exists())
        real_print(*args, **kwargs)

    monkeypatch.setattr(mio, "print", spy, raising=False)
    assert main(["run", "--scenario", "transport", "--out", str(out), "--no-figures"]) == 0
    assert seen and all(seen), seen
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")])
def test_sigterm_and_sighup_end_a_run_like_ctrl_c(tmp_path, sig, code, name):
    """A kill or a closed terminal during the runs: one line, exit 128 + signal, no staged file left behind."""
    proc = subprocess.Popen([sys.executable, "-m", "megacity_sd.cli", "run", "--engine", "pysd", "--out",
                             str(tmp_path / "o"), "--figures", str(tmp_path / "f")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    while line and "running" not in line:
        line = proc.stdout.readline()
    assert "running" in line, "the run ended before it started running"
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [err.strip()], err
    assert err.startswith(f"megacity-sd: terminated ({name}); none of this command's output files"), err
    assert not list(tmp_path.rglob("*")), list(tmp_path.rglob("*"))
