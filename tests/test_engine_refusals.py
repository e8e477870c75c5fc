"""What the engines do with models and runs they cannot take as they are: run them as PySD does, or refuse in one line.

Small models built from ``tests/models/decay.mdl``; PySD, run on the same
translation, is the reference. A refusal reaches the command line as one line
on stderr and exit code 2 (``conftest.refused``).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from megacity_sd.engines.fast import load_fast

from .conftest import refused

MODELS = Path(__file__).parent / "models"
DECAY = MODELS / "decay.mdl"


def _model(tmp_path: Path, name: str, control: dict[str, str] | None = None, equations: str = "") -> Path:
    """The decay model with control equations replaced (``{"SAVEPER": "TIME STEP"}``) and ``equations`` added."""
    text = DECAY.read_text(encoding="utf-8")
    for var, eq in (control or {}).items():
        text, n = re.subn(rf"^{var}  = .*$", f"{var}  = {eq}", text, flags=re.M)
        assert n == 1, var
    text = text.replace("{UTF-8}\n", "{UTF-8}\n" + equations, 1)
    path = tmp_path / f"{name}.mdl"
    path.write_text(text, encoding="utf-8")
    return path


def _aux(name: str, equation: str) -> str:
    return f"{name}=\n\t{equation}\n\t~\tDmnl\n\t~\ttest.\n\t|\n\n"


def _pysd_run(fast, **kwargs) -> pd.DataFrame:
    import pysd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.load(str(fast.py_path)).run(**kwargs)


# --------------------------------------------------------------------------- control variables

@pytest.mark.parametrize("control", [
    {"SAVEPER": "TIME STEP"},  # what Vensim writes into every new model
    {"TIME STEP": "1/128"},
    {"FINAL TIME": "INITIAL TIME + 55", "TIME STEP": "SAVEPER / 2^7"},
], ids=["saveper=time_step", "time_step=1/128", "final_time=initial+55"])
@pytest.mark.parametrize("time_step", [None, 0.25])
def test_control_variables_as_expressions_run_on_fast_and_equal_pysd(tmp_path, control, time_step):
    fast = load_fast(_model(tmp_path, "control", control))
    cols = ["stock", "outflow"]
    got = fast.run({"decay rate": 0.07}, cols, time_step=time_step)
    ref = _pysd_run(fast, params={"decay rate": 0.07}, return_columns=cols, time_step=time_step)
    pd.testing.assert_index_equal(got.index, ref.index, exact=False)  # the same saved times...
    np.testing.assert_array_equal(got.to_numpy(), ref[cols].to_numpy())  # ...and the same doubles


def test_saveper_equal_to_time_step_saves_every_step_of_the_run(tmp_path):
    fast = load_fast(_model(tmp_path, "saveper", {"SAVEPER": "TIME STEP"}))
    assert len(fast.run(None, ["stock"])) == 55 * 128 + 1
    assert len(fast.run(None, ["stock"], time_step=0.5)) == 55 * 2 + 1  # SAVEPER follows the run's time step


@pytest.mark.parametrize("control, words", [
    ({"SAVEPER": "MAX(TIME STEP, 1)"}, ["control variable 'SAVEPER'", "is not a number or arithmetic",
                                        "--engine pysd"]),
    ({"TIME STEP": "decay rate / 8"}, ["control variable 'TIME STEP'", "is not a number or arithmetic"]),
    ({"TIME STEP": "SAVEPER", "SAVEPER": "TIME STEP"}, ["'TIME STEP' is defined through itself",
                                                        "TIME STEP -> SAVEPER -> TIME STEP"]),
])
def test_control_variables_the_fast_engine_cannot_compute_are_refused_naming_the_model(tmp_path, control, words):
    from megacity_sd.errors import UserInputError

    mdl = _model(tmp_path, "refused", control)
    with pytest.raises(UserInputError) as err:
        load_fast(mdl)
    assert isinstance(err.value, NotImplementedError)  # what the fast engine raised for its refusals before
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{mdl}: ")
    for w in words:
        assert w in message, (w, message)


def test_a_model_the_fast_engine_refuses_runs_on_pysd_as_the_refusal_says(tmp_path):
    """A single run and a batch (which reads the constants' defaults from the loaded PySD model, not from the fast
    engine's reading of the translation)."""
    from megacity_sd.engines import run_batch, run_one

    mdl = _model(tmp_path, "pysd_only", {"SAVEPER": "MAX(TIME STEP, 1)"})
    got = run_one("pysd", {"decay rate": 0.2}, ["stock"], mdl_path=mdl)
    assert list(got.index) == list(range(2005, 2061))
    assert got["stock"].iloc[-1] == pytest.approx(100 * np.exp(-0.2 * 55), rel=1e-2)
    years, batch = run_batch("pysd", pd.DataFrame({"decay rate": [0.1, 0.2]}), {}, ["stock"], mdl_path=mdl)
    assert list(years) == list(range(2005, 2061))
    np.testing.assert_array_equal(batch["stock"][1], got["stock"].to_numpy())


@pytest.mark.parametrize("control, equations, words", [
    ({"SAVEPER": "MAX(TIME STEP, 1)"}, "", ["control variable 'SAVEPER'", "run it with --engine pysd"]),
    (None, _aux("switched", "IF THEN ELSE(stock > 50, 1, 0)"), ["variable 'switched'", "is not supported",
                                                                "run it with --engine pysd"]),
    (None, _aux("rate from file", "GET DIRECT CONSTANTS('rates.csv', ',', 'B2')"),
     ["variable 'rate from file' reads the data file 'rates.csv'", "write the values into the model"]),
], ids=["control", "if_then_else", "data_file"])
def test_a_refusal_of_the_fast_engine_is_one_line_and_exit_code_2_on_the_command_line(
        tmp_path, capsys, monkeypatch, control, equations, words):
    """``megacity-sd run --engine fast`` on a model the fast engine refuses: the command runs the shipped model,
    so the fast engine's loader is handed the small model instead (everything above it runs as the user runs it)."""
    import megacity_sd.engines as engines
    import megacity_sd.engines.fast as fast

    mdl = _model(tmp_path, "cli_refused", control, equations)
    real = fast.load_fast
    monkeypatch.setattr(engines, "_MODELS", {})  # nothing loaded by an earlier test in this process
    monkeypatch.setattr(fast, "load_fast", lambda mdl_path=None: real(mdl))
    line = refused(capsys, ["run", "--scenario", "baseline", "--engine", "fast", "--no-figures",
                            "--out", tmp_path / "out"])
    assert str(mdl) in line and "Traceback" not in line
    for w in words:
        assert w in line, (w, line)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- translation: views, data files

def _second_view(path: Path, shows: str) -> Path:
    """``path`` with a second view that shows ``shows`` (and the decay rate)."""
    text = path.read_text(encoding="utf-8")
    end = "///---\\\\\\"
    text = text.rstrip("\n").removesuffix(end) + (
        "V300  Do not put anything below this section - it will be ignored\n*Second\n"
        "$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0\n"
        f"10,1,decay rate,150,100,40,20,8,3,0,0,0,0,0,0\n10,2,{shows},150,200,40,20,8,3,0,0,0,0,0,0\n{end}\n")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A translation cache of this test's own: the model is translated here, not found translated by an earlier run."""
    monkeypatch.setenv("MEGACITY_SD_CACHE", str(tmp_path / "cache"))


def test_a_model_pysd_cannot_split_by_views_is_translated_into_one_file(tmp_path, own_cache):
    """A sketch that shows a name the equations do not define (left after a rename) makes PySD's split by views
    fail with a bare KeyError; the model itself translates and runs."""
    from megacity_sd.engines import run_one

    mdl = _second_view(_model(tmp_path, "stale_sketch"), "no such variable")
    with pytest.warns(UserWarning, match="view 'Second' shows 'no such variable', which the equations do not"):
        fast = load_fast(mdl)
    assert not (fast.py_path.parent / "modules_stale_sketch").exists()
    got = fast.run({"decay rate": 0.07}, ["stock"])
    ref = _pysd_run(fast, params={"decay rate": 0.07}, return_columns=["stock"])
    np.testing.assert_array_equal(got["stock"].to_numpy(), ref["stock"].to_numpy())
    assert run_one("pysd", {}, ["stock"], mdl_path=mdl)["stock"].iloc[-1] == fast.run()["stock"].iloc[-1]


def test_a_model_split_by_views_is_still_split(tmp_path, own_cache):
    fast = load_fast(_second_view(_model(tmp_path, "two_views"), "initial stock"))
    assert (fast.py_path.parent / "modules_two_views").is_dir()


@pytest.mark.parametrize("engine", ["fast", "pysd"])
@pytest.mark.parametrize("beside", [True, False])
def test_a_model_that_reads_a_data_file_is_refused_in_one_line(tmp_path, own_cache, engine, beside):
    from megacity_sd.engines import run_one
    from megacity_sd.errors import UserInputError

    mdl = _model(tmp_path, "data_file", equations=_aux("rate from file", "GET DIRECT CONSTANTS('rates.csv', ',', "
                                                                        "'B2')"))
    if beside:
        (tmp_path / "rates.csv").write_text("name,value\nrate,0.05\n", encoding="utf-8")
    with pytest.raises(UserInputError) as err:
        run_one(engine, {}, ["stock"], mdl_path=mdl)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{mdl}: variable 'rate from file' reads the data file "
                                                      f"'rates.csv' ({'found' if beside else 'not found'} beside")


def test_a_model_pysd_cannot_translate_is_refused_in_one_line(tmp_path, own_cache):
    from megacity_sd.errors import UserInputError

    mdl = _model(tmp_path, "broken", equations="broken=\n\tstock * (1 +\n\t~\tDmnl\n\t~\ttest.\n\t|\n\n")
    with pytest.raises(UserInputError, match=r"broken\.mdl: PySD cannot translate the model: \w+"):
        load_fast(mdl)


# --------------------------------------------------------------------------- division by zero

def _ratio_model(tmp_path: Path, equation: str, feeds_stock: bool) -> Path:
    """The decay model with ``ratio = equation`` (a ``divisor`` constant, 1 by default); with ``feeds_stock`` the
    ratio flows into a stock, so that every step computes it, else it is computed for the saved times only."""
    eqs = _aux("ratio", equation) + _aux("divisor", "1")
    if feeds_stock:
        eqs += "ratio stock= INTEG (\n\tratio,\n\t\t0)\n\t~\tDmnl\n\t~\ttest.\n\t|\n\n"
    return _model(tmp_path, f"ratio_{abs(hash((equation, feeds_stock)))}", equations=eqs)


@pytest.mark.parametrize("equation, when", [
    ("stock / divisor", 2005),  # a stock over a constant
    ("initial stock / divisor", 2005),  # constants only: computed once
    ("MAX(stock, 1) / (divisor * EXP(0))", 2005),  # through numpy calls (PySD wraps them in float())
    ("Time / divisor", 2005),  # a function of time alone: computed over every step at once
    ("1 / (divisor - 1 + Time - 2010)", 2010),  # zero at 2010 only (with divisor 1: the default set divides too)
])
@pytest.mark.parametrize("feeds_stock", [False, True], ids=["reported", "in_the_loop"])
def test_a_division_by_zero_stops_a_run_and_a_batch_of_any_size_as_pysd_stops(tmp_path, equation, when,
                                                                               feeds_stock):
    from megacity_sd.engines import run_batch

    mdl = _ratio_model(tmp_path, equation, feeds_stock)
    fast = load_fast(mdl)
    zero = 1.0 if "2010" in equation else 0.0  # the divisor value that divides by zero
    with pytest.raises(ZeroDivisionError):  # the reference
        _pysd_run(fast, params={"divisor": zero}, return_columns=["ratio"])
    where = f"{mdl}: division by zero in 'ratio' at time {when}"
    with pytest.raises(ZeroDivisionError, match=re.escape(where) + ";"):
        fast.run({"divisor": zero}, ["ratio"])
    with pytest.raises(ZeroDivisionError, match=re.escape(where) + ";"):  # a batch of one: the scalar loop
        run_batch("fast", pd.DataFrame({"divisor": [zero]}), {}, ["ratio"], mdl_path=mdl)
    with pytest.raises(ZeroDivisionError, match=re.escape(where) + " in parameter set 1 of 2;"):
        run_batch("fast", pd.DataFrame({"divisor": [1.3, zero]}), {}, ["ratio"], mdl_path=mdl)
    # sets that do not divide by zero run, in a batch of one and of two, as PySD runs them (1.3 and 1.7: no time
    # step lands on the zero of 1 / (divisor - 1 + Time - 2010))
    years, ok = run_batch("fast", pd.DataFrame({"divisor": [1.3, 1.7]}), {}, ["ratio"], mdl_path=mdl)
    ref = _pysd_run(fast, params={"divisor": 1.7}, return_columns=["ratio"])
    np.testing.assert_array_equal(ok["ratio"][1], ref.loc[years.astype(float), "ratio"].to_numpy())
    _, one = run_batch("fast", pd.DataFrame({"divisor": [1.7]}), {}, ["ratio"], mdl_path=mdl)
    np.testing.assert_array_equal(one["ratio"][0], ok["ratio"][1])


def test_a_division_by_zero_is_one_line_on_the_pysd_engine_too(tmp_path):
    from megacity_sd.engines import run_batch, run_one
    from megacity_sd.errors import UserInputError

    mdl = _ratio_model(tmp_path, "stock / divisor", False)
    with pytest.raises(UserInputError, match=re.escape(f"{mdl}: division by zero during the PySD run")):
        run_one("pysd", {"divisor": 0}, ["ratio"], mdl_path=mdl)
    with pytest.raises(ZeroDivisionError, match="in parameter set 1 of 2"):
        run_batch("pysd", pd.DataFrame({"divisor": [1.0, 0.0]}), {}, ["ratio"], mdl_path=mdl)


def test_ln_of_zero_is_minus_infinity_in_a_run_and_in_a_batch_as_in_pysd(tmp_path):
    """Not a division: numpy's -inf (PySD's too), which raises a floating-point flag the batch then checks."""
    from megacity_sd.engines import run_batch

    mdl = _ratio_model(tmp_path, "LN(divisor - 1)", False)
    fast = load_fast(mdl)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = _pysd_run(fast, params={"divisor": 1.0}, return_columns=["ratio"])["ratio"].to_numpy()
        single = fast.run({"divisor": 1.0}, ["ratio"])["ratio"].to_numpy()
    assert np.all(ref == -np.inf)
    np.testing.assert_array_equal(single, ref)
    _, batch = run_batch("fast", pd.DataFrame({"divisor": [2.0, 1.0]}), {}, ["ratio"], mdl_path=mdl)
    np.testing.assert_array_equal(batch["ratio"][1], ref)
    assert np.all(batch["ratio"][0] == 0.0)


# --------------------------------------------------------------------------- warnings

def test_a_warning_pysd_gives_on_a_model_reaches_the_user(tmp_path):
    """A lookup run past its last point under PySD: not one of the known, harmless warnings of the shipped model."""
    from megacity_sd.engines import run_batch, run_one

    lookup = "early lookup(\n\t[(2005,0)-(2030,1)],(2005,0),(2030,1))\n\t~\tDmnl\n\t~\ttest.\n\t|\n\n"
    mdl = _model(tmp_path, "extrapolated", equations=lookup + _aux("trend", "early lookup(Time)"))
    for run in (lambda: run_one("pysd", {}, ["trend"], mdl_path=mdl),
                lambda: run_batch("pysd", pd.DataFrame({"decay rate": [0.1]}), {}, ["trend"], mdl_path=mdl)):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            run()
        assert any(issubclass(w.category, UserWarning) and "_hardcodedlookup_early_lookup\nextrapolating data above"
                   in str(w.message) for w in seen), [str(w.message) for w in seen]


def test_the_shipped_model_runs_on_pysd_without_a_warning(monkeypatch):
    """Its known warnings (its NEV adoption lookup held at its last point, PySD's use of a pandas method deprecated
    in pandas 3.1) are silenced, and only they: Beijing's transport scenario runs that lookup past its range."""
    import megacity_sd.engines as engines
    from megacity_sd.scenario import load_scenario

    constants = load_scenario("transport", city="beijing").constants

    def messages() -> list[str]:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            engines.run_one("pysd", constants, ["NEV share of sales"])
        return sorted({str(w.message).split("\n")[0] for w in seen})

    assert messages() == []
    monkeypatch.setattr(engines, "KNOWN_WARNINGS", ())  # the same run, nothing silenced: what the filters match
    found = messages()
    assert len(found) == 2, found
    assert found[0].startswith("The inplace keyword in DataFrame.set_index is deprecated")
    assert found[1] == "_hardcodedlookup_nev_adoption_lookup"


def test_the_pysd_engine_does_not_keep_a_time_step_for_the_next_batch(tmp_path):
    """PySD keeps the time step given to one run for the next ones; the loaded model is shared by the batches."""
    from megacity_sd.engines import run_batch

    mdl = _model(tmp_path, "time_step")
    params = pd.DataFrame({"decay rate": [0.2]})
    _, first = run_batch("pysd", params, {}, ["stock"], mdl_path=mdl)
    _, coarse = run_batch("pysd", params, {}, ["stock"], mdl_path=mdl, time_step=0.5)
    _, again = run_batch("pysd", params, {}, ["stock"], mdl_path=mdl)
    assert not np.array_equal(coarse["stock"], first["stock"])
    np.testing.assert_array_equal(again["stock"], first["stock"])


def test_zidz_on_arrays_divides_nothing_by_zero_and_equals_the_scalar_zidz():
    """The batch watches numpy's divide flag, so ZIDZ on arrays must not divide its masked zeros; a NaN divisor is
    divided (NaN), as PySD's zidz does."""
    from megacity_sd.engines.fast_codegen import _zidz_s, _zidz_v

    a = np.array([1.0, 2.0, 3.0, np.nan, 5.0, -1.0, 7.0])
    b = np.array([0.0, 1e-7, np.nan, 2.0, -0.0, 3.0, -1e-6])
    with np.errstate(all="raise"):
        got = _zidz_v(a, b)
    np.testing.assert_array_equal(got, np.array([_zidz_s(x, y) for x, y in zip(a, b, strict=True)], dtype=float))
