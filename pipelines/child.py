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
    with subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, **env} if env else None) as child:
        try:
            while True:  # not one blocking wait: a stop raised in this thread (local_dag.raise_in) lands within 0.5 s
                try:
                    stdout, stderr = child.communicate(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    continue
        except BaseException:
            child.kill()  # as subprocess.run does
            child.wait()  # reaped now: on a KeyboardInterrupt, Popen's `with` leaves that for later
            raise
    logging.getLogger("absl").info("%s (python -m %s) output:\n%s%s", what, module, stdout, stderr)
    if child.returncode < 0:  # a signal: its last line is whatever it was writing then
        how = signal.Signals(-child.returncode).name
        hint = " (the kernel's OOM killer sends it when memory runs out)" if how == "SIGKILL" else ""
        raise ChildProcessFailed(f"{what} was killed by {how}{hint}")
    if child.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()]
        raise ChildProcessFailed(f"{what} failed (exit {child.returncode}): {lines[-1] if lines else 'no output'}")
    return stdout
