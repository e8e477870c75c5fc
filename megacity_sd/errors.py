"""Errors raised for bad user input.

A :class:`UserInputError` is reported by the command line as one line on
stderr with exit code 2 and no traceback.
"""

__all__ = ["UserInputError"]


class UserInputError(ValueError):
    """Bad input from a user: a file, a key or a value that is not allowed.

    The message names the file, the key and what is allowed, in one line.
    """
