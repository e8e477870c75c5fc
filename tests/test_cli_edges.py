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
