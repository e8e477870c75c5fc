"""What the engines raise when a model cannot be run as asked: user errors, one line each.

Both classes are :class:`~megacity_sd.errors.UserInputError` (the command line
prints them as one line, exit code 2) and keep the built-in class a caller
would expect: :class:`NotImplementedError` for a construct the fast engine does
not reproduce, :class:`ZeroDivisionError` for a division by zero during a run.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserInputError

__all__ = ["UnsupportedModel", "ModelZeroDivision", "FAST_SUPPORTS"]

#: What the fast engine runs, for the refusals' messages.
FAST_SUPPORTS = ("it runs INTEG, first-order SMOOTH and SMOOTHI, MIN, MAX, ABS, EXP, LN, ZIDZ, hard-coded lookups and "
                 "arithmetic, without subscripts, and control variables that are numbers or arithmetic of numbers and "
                 "of one another")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class UnsupportedModel(UserInputError, NotImplementedError):
    """A model the fast engine refuses at load: the model file, the variable and the construct, in one line.

    Parameters
    ----------
    detail : str
        The variable and the construct (``"variable 'x': expression ... is not supported"``).
    model : str or Path
        The model file named in the message.
    runnable : bool
        Whether PySD runs the model (the message then says to use it); False
        for a model no engine runs as written (a control variable defined
        through itself, an algebraic loop).
    """

    def __init__(self, detail: str, model: str | Path, runnable: bool = True):
        self.detail = _one_line(str(detail).removeprefix("pysd_fast: "))
        self.model = str(model)
        self.runnable = runnable
        if runnable:
            super().__init__(f"{self.model}: the fast engine cannot run this model: {self.detail} ({FAST_SUPPORTS}); "
                             "run it with --engine pysd")
        else:
            super().__init__(f"{self.model}: {self.detail}; the model cannot be run as written")

    def for_model(self, model: str | Path) -> UnsupportedModel:
        """The same refusal naming ``model`` (the user's file rather than its copy in the translation cache)."""
        return UnsupportedModel(self.detail, model, self.runnable)


class ModelZeroDivision(UserInputError, ZeroDivisionError):
    """A division by zero during a run: the model file, the variable, the time and the parameter sets, in one line.

    PySD stops a run with :class:`ZeroDivisionError` at ``x / 0`` (its
    operands are Python floats); the fast engine stops there too, in a single
    run and in a batch of any size.
    """

    def __init__(self, message: str):
        super().__init__(_one_line(message))
