"""tandem's exit codes, and the one exception a command raises for a bad argument.

    0 success, 1 another failure (the message names the component and the cause),
    2 bad arguments (including missing or unreadable files and bad numbers),
    3 the data failed validation, 130 / 143 interrupted (SIGINT / SIGTERM).
"""

OK, FAILED, USAGE, INVALID_DATA = 0, 1, 2, 3
INTERRUPTED = {2: 130, 15: 143}  # signal number -> exit code (128 + signal)


class UsageError(Exception):
    """A bad argument: the message says which and why (exit 2)."""


class Failed(Exception):
    """A command failed for another reason: the message says what and why (exit 1)."""
