"""The ``megacity-sd`` program: the root parser with every subcommand, :func:`main` and the console script.

Subcommands only parse arguments and call the package's functions. Bad input
is reported as one line on stderr with exit code 2; a fault of the machine
with exit code 1; Ctrl-C as one line and exit code 130, SIGTERM and SIGHUP
likewise with 143 and 129.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from . import calibrate, decompose, discover, explore, levers, loops, sensitivity, stirpat, synergy
from . import run as run_commands
from .common import Parser, check_outputs

__all__ = ["build_parser", "console_main", "main"]

#: The command modules, in the order of ``megacity-sd --help``; each has ``add_parser(subparsers)``.
COMMANDS = (run_commands, synergy, stirpat, loops, calibrate, sensitivity, decompose, explore, discover, levers)


def build_parser() -> argparse.ArgumentParser:
    """The root parser: every subcommand of :data:`COMMANDS`."""
    p = Parser(prog="megacity-sd", description="Pollution and carbon co-reduction in megacities: "
               "a system-dynamics model, its scenarios and analyses.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``megacity-sd`` console script.

    Returns the exit code: 0 done, 2 bad input (one line on stderr, nothing
    written), 1 a fault of the machine (an ``OSError``: a full disk, a folder
    removed under the command, a lost Dask scheduler; one line naming the file
    or the address; out of memory likewise). A command's files land together when it returns; when it raises
    (bad input found late, a failure, Ctrl-C) none of them do
    (:func:`megacity_sd.io.staged_outputs`; an ensemble's resumable store is
    kept). Ctrl-C propagates as :class:`KeyboardInterrupt` (the console script
    turns it into one line and exit code 130).
    """
    from ..errors import UserInputError
    from ..io import staged_outputs

    args = build_parser().parse_args(argv)
    try:
        check_outputs(args)
        # the outputs of a command land together when it returns, or none do (bad input, a failure, Ctrl-C)
        with staged_outputs():
            if hasattr(args, "format"):
                from ..plotting import figure_format

                with figure_format(args.format, args.dpi):
                    return args.func(args)
            return args.func(args)
    except UserInputError as err:
        sys.stderr.write(f"megacity-sd: {err}\n")
        return 2
    except OSError as err:  # a fault of the machine: a full disk, a path the system refuses, a vanished folder
        sys.stderr.write(f"megacity-sd: {_os_fault(err)}; none of this command's output files was written\n")
        return 1
    except MemoryError:
        sys.stderr.write("megacity-sd: out of memory; none of this command's output files was written\n")
        return 1


def _os_fault(err: OSError) -> str:
    """An operating-system error as ``<path>: <reason>`` (the path shortened to 80 characters)."""
    name = err.filename if err.filename is not None else ""
    name = str(name)
    if len(name) > 80:
        name = name[:38] + "..." + name[-38:]
    reason = err.strerror or str(err) or type(err).__name__
    return f"{name}: {reason}" if name else reason


_TERMINATING = ("SIGTERM", "SIGHUP")
"""Signals handled like Ctrl-C by the console script: a kill or a closed terminal ends the command cleanly."""


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so that it unwinds as after Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum, frame) -> None:
    raise _Terminated(signum)


def console_main() -> int:
    """The ``megacity-sd`` console script: :func:`main`, ending quietly on a closed pipe.

    Restoring the default SIGPIPE action is process-wide, so it is done here, in
    the program's own process, and not in :func:`main`, which tests and other
    Python code call in theirs.
    """
    from ..errors import Interrupted

    if hasattr(signal, "SIGPIPE"):  # `megacity-sd scenarios | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    for name in _TERMINATING:  # SIGTERM (kill) and SIGHUP (a closed terminal) unwind like Ctrl-C
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)
    code = 130
    try:
        return main()
    except KeyboardInterrupt as err:
        for name in ("SIGINT", *_TERMINATING):  # a second signal must not cut the clean exit short
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        what = "interrupted"
        cause = err.__context__ if isinstance(err, Interrupted) else err
        if isinstance(cause, _Terminated):
            what, code = f"terminated ({cause.args[0]})", 128 + cause.signum
        if isinstance(err, Interrupted):
            sys.stderr.write(f"megacity-sd: {what}; {err}\n")
        else:
            sys.stderr.write(f"megacity-sd: {what}; none of this command's output files was written\n")
    # Every `finally` has run while the interrupt unwound the stack. Leave now, with 130: CPython kills
    # itself with SIGINT at exit when a KeyboardInterrupt went unhandled anywhere (e.g. raised in a
    # destructor while the pool shut down), which would hide this exit code from the shell.
    sys.stdout.flush()
    sys.stderr.flush()
    _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process at once with ``code`` (``os._exit``; tests replace it)."""
    os._exit(code)

