"""Errors raised for bad user input.

A :class:`UserInputError` is reported by the command line as one line on
stderr with exit code 2 and no traceback; an :class:`Interrupted` (Ctrl-C
during work that keeps what it finished) as one line with exit code 130.
"""

__all__ = ["UserInputError", "Interrupted", "suggest"]


class UserInputError(ValueError):
    """Bad input from a user: a file, a key or a value that is not allowed.

    The message names the file, the key and what is allowed, in one line.
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during work that keeps what it finished; the message says what was kept and how to resume."""


def suggest(word: str, choices, *, n: int = 3, key=None) -> str:
    """``" (did you mean 'a', 'b'?)"`` for the close matches of ``word`` among ``choices``, else ``""``.

    ``key`` maps a choice to the form compared (default: the choice itself);
    the choice is shown as given.
    """
    import difflib

    choices = list(choices)
    forms = {(key(c) if key else c): c for c in choices}
    close = difflib.get_close_matches(key(word) if key else word, list(forms), n=n, cutoff=0.6)
    return f" (did you mean {', '.join(repr(forms[c]) for c in close)}?)" if close else ""
