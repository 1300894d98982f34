"""Run a Python module in a child process: how the TensorFlow side hands work to the PyTorch
runtime (the two cannot share a process), and how the comparison scores each framework in a
process of its own. One way, one error message: the child's last error line; all its
output goes to the log."""

import logging
import os
import signal
import subprocess
import sys


class ChildProcessFailed(RuntimeError):
    """A child process exited with an error; the message names what failed and why."""


def run_module(module: str, *args: str, what: str, env: dict[str, str] | None = None) -> str:
    """`python -m module args...` (`env`: set in its environment, over this one's); returns
    its stdout, or raises ChildProcessFailed."""
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                            env={**os.environ, **env} if env else None)
    logging.getLogger("absl").info("%s (python -m %s) output:\n%s%s", what, module, result.stdout, result.stderr)
    if result.returncode < 0:  # a signal: its last line is whatever it was writing then
        how = signal.Signals(-result.returncode).name
        hint = " (the kernel's OOM killer sends it when memory runs out)" if how == "SIGKILL" else ""
        raise ChildProcessFailed(f"{what} was killed by {how}{hint}")
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise ChildProcessFailed(f"{what} failed (exit {result.returncode}): {lines[-1] if lines else 'no output'}")
    return result.stdout
