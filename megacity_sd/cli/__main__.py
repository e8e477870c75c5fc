"""``python -m megacity_sd.cli``: the ``megacity-sd`` program."""

from .app import console_main

raise SystemExit(console_main())
