"""The command line, one module per command family: ``run`` (run, compare, scenarios), ``synergy``, ``stirpat``
(with ``gtwr``), ``loops``, ``calibrate``, ``sensitivity``, ``decompose``, ``explore`` (explore, report),
``discover`` (discover, seek, robust) and ``levers``; ``common`` holds what they share, ``app`` the root parser
and the console script. The library never imports this package.
"""

from .app import build_parser, console_main, main

__all__ = ["build_parser", "console_main", "main"]
