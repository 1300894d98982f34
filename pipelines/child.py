"""Run a Python module in a child process: how the TensorFlow side hands work to the PyTorch
runtime (the two cannot share a process), and how the comparison scores each framework in a
process of its own. One way, one error message: the child's last error line; all its
output goes to the log. `run_module` runs one to its end; a `Child` starts now and gets its
input later (the comparison's scorers import their framework meanwhile)."""

import logging
import os
import signal
import subprocess
import sys


class ChildProcessFailed(RuntimeError):
    """A child process exited with an error; the message names what failed and why."""


class Child:
    """A started `python -m module args...`: finish() hands it its input, if any, waits for
    it and returns its stdout (or raises ChildProcessFailed). Leaving the `with` block
    unfinished kills it."""

    def __init__(self, module: str, *args: str, what: str, env: dict[str, str] | None = None):
        self.module, self.what = module, what
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **env} if env else None)

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc) -> None:
        self._kill()

    def _kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()  # as subprocess.run does
            self.process.communicate()  # reaped now, its pipes closed

    def finish(self, input: str | None = "") -> str:
        child = self.process
        try:
            while True:  # not one blocking wait: a stop raised in this thread (local_dag.raise_in) lands within 0.5 s
                try:
                    stdout, stderr = child.communicate(input, timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    input = None  # sent: a retry goes on with the same communication
                    continue
        except BaseException:
            self._kill()
            raise
        logging.getLogger("absl").info("%s (python -m %s) output:\n%s%s", self.what, self.module, stdout, stderr)
        if child.returncode < 0:  # a signal: its last line is whatever it was writing then
            how = signal.Signals(-child.returncode).name
            hint = " (the kernel's OOM killer sends it when memory runs out)" if how == "SIGKILL" else ""
            raise ChildProcessFailed(f"{self.what} was killed by {how}{hint}")
        if child.returncode != 0:
            lines = [line for line in stderr.splitlines() if line.strip()]
            last = lines[-1] if lines else "no output"
            raise ChildProcessFailed(f"{self.what} failed (exit {child.returncode}): {last}")
        return stdout


def run_module(module: str, *args: str, what: str, env: dict[str, str] | None = None) -> str:
    """`python -m module args...` (`env`: set in its environment, over this one's); returns
    its stdout, or raises ChildProcessFailed."""
    with Child(module, *args, what=what, env=env) as child:
        return child.finish()
