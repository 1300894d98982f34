"""Where a command's output goes: tandem's own lines to the terminal, everything else
(TensorFlow, Beam and their worker processes write a lot to stderr) to a log file."""

import os
import sys
import time
import traceback
from contextlib import contextmanager


@contextmanager
def logs_to_file(home: str, name: str, verbose: bool):
    """Yields (a stream for tandem's messages to the terminal, the log's path or None).
    With `verbose`, nothing is redirected."""
    if verbose:
        yield sys.stderr, None
        return
    path = os.path.join(home, "logs", f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sys.stderr.flush()
    terminal = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        with os.fdopen(os.dup(terminal), "w", buffering=1) as stream:
            try:
                yield stream, path
            except Exception:  # its traceback goes to the log; the caller says what failed
                traceback.print_exc()
                raise
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        os.close(terminal)
