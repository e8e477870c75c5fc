"""Command line for the lever table: ``megacity-sd levers --write-model | --check``."""

from __future__ import annotations

import sys

from ..io import announce

__all__ = ["add_parser", "cmd_levers"]


def cmd_levers(args) -> int:
    """``megacity-sd levers``: regenerate (``--write-model``) or check (``--check``) the model's Policy sector.

    ``--check`` exits 1 with one line on stderr when the Policy block or its
    sketch view is not what the lever table gives, 0 when it is.
    """
    from ..layout import policy

    if args.check:
        problem = policy.check_model(args.model, args.table)
        if problem is not None:
            sys.stderr.write(f"megacity-sd: {problem}\n")
            return 1
        print(f"{args.model}: the Policy block and its sketch view match {args.table} "
              f"({len(policy.read_levers(args.table))} levers)")
        return 0
    path, changed = policy.write_model(args.model, args.table)
    n = len(policy.read_levers(args.table))
    if changed:
        announce(f"wrote the Policy block and its sketch view of {path} from {args.table} ({n} levers)")
    else:
        print(f"{path}: the Policy block and its sketch view already match {args.table} ({n} levers); "
              "nothing written")
    return 0


def add_parser(subparsers) -> None:
    """Register ``levers`` on the main parser's subparsers."""
    from ..layout.policy import TABLE_PATH
    from ..model import MODEL_PATH

    p = subparsers.add_parser("levers", help="the model's Policy sector from the lever table "
                              "(megacity_sd/data/levers.csv): regenerate its equations and sketch, or check them")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--write-model", action="store_true", help="rewrite the Policy block of the model file and "
                      "redraw its *Policy sketch view from the table (the rest of the file is kept byte for byte)")
    what.add_argument("--check", action="store_true", help="exit 1 with one line if the model's Policy block or "
                      "its sketch view differs from what the table gives (0 if not); writes nothing")
    p.add_argument("--table", default=str(TABLE_PATH), help="the lever table (default: the package's levers.csv)")
    p.add_argument("--model", default=str(MODEL_PATH), help="the model file (default: the package's megacity.mdl)")
    p.set_defaults(func=cmd_levers)
