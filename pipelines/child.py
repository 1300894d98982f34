"""Run a Python module in a child process: how the TensorFlow side hands work to the PyTorch
runtime (the two cannot share a process), and how the comparison scores each framework in a
process of its own. One way, one error message: the child's last error line; all its
output goes to the log. `run_module` runs one to its end; a `Child` starts now and gets its
input later (the comparison's scorers import their framework meanwhile).

A `Spare` is started ahead of its job, so that its imports run beside other work (the PyTorch
runtime's, 3-4 s, beside the pipeline's front): `start(module, args...)`, in the process that
started it or in one that process started later, gives it `args` as its job, where a plain
Child would have been started with them. The module's side is `serve`.
"""

import contextlib
import logging
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import AuthenticationError, Client, Listener


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


# ------------------------------------------------ started ahead of the job: Spare, start, serve

SPARE_KEY = "TANDEM_SPARE_KEY"  # in a spare's environment: the key its taker proves it holds
READY = b"ready"  # a spare's first line on stdout: it listens, its imports done


def spare_variable(module: str) -> str:
    """The environment variable that names a spare of `module`: "SOCKET KEY PID"."""
    return "TANDEM_SPARE_" + module.upper().replace(".", "_")


class Spare:
    """`python -m module --serve SOCKET`, started now for a job that comes later: it imports,
    then waits on a local socket (Linux's abstract namespace: no file to clean up; a key
    guards it) for one job, the arguments the module would have been started with. This
    process's environment names it, so that `start` here, or in a process started from here
    afterwards (the run's workers, pipelines/local_dag.py), takes it. Its output goes to this
    process's stderr (a run's log). close() ends it, taken or not; it also ends when this
    process does (its stdin closes). `python`: what runs `-m module` (a test's checking runner
    puts itself in its place: `python RUNNER run module`)."""

    def __init__(self, module: str, python: tuple[str, ...] = (sys.executable, "-m")):
        self.socket, key = f"tandem-spare-{secrets.token_hex(8)}", secrets.token_hex(16)
        self.process = subprocess.Popen([*python, module, "--serve", self.socket],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env={**os.environ, SPARE_KEY: key})
        self.variable = spare_variable(module)
        os.environ[self.variable] = f"{self.socket} {key} {self.process.pid}"

    def __enter__(self) -> "Spare":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def ready(self, timeout: float) -> bool:
        """Whether it listens within `timeout` seconds (what a benchmark waits for)."""
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        return bool(readable) and self.process.stdout.readline().strip() == READY

    def close(self) -> None:
        if os.environ.get(self.variable, "").startswith(self.socket + " "):
            del os.environ[self.variable]
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()


class _Taken:
    """A Spare that took a job: what a Child is for one started with it. finish() waits for
    its output (or raises ChildProcessFailed); leaving the `with` block unfinished kills it."""

    def __init__(self, connection, module: str, what: str):
        self.connection, self.module, self.what = connection, module, what
        self.pid, self.finished = connection.recv(), False

    def __enter__(self) -> "_Taken":
        return self

    def __exit__(self, *exc) -> None:
        if not self.finished:
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                os.kill(self.pid, signal.SIGKILL)
        self.connection.close()

    def finish(self, input: str = "") -> str:
        while not self.connection.poll(0.5):  # as Child.finish: a stop raised in this thread lands
            pass
        try:
            how, said = self.connection.recv()
        except (EOFError, OSError):  # it exited without a word: a signal, or close()
            raise ChildProcessFailed(f"{self.what} ended before it finished: its process (python -m {self.module}, "
                                     "started ahead) exited without a word, so a signal ended it (the kernel's OOM "
                                     "killer sends SIGKILL when memory runs out); its log says more") from None
        finally:
            self.finished = True
        if how == "failed":  # serve() exits 1 after it says so
            raise ChildProcessFailed(f"{self.what} failed (exit 1): {said}")
        logging.getLogger("absl").info("%s (python -m %s, started ahead) output:\n%s", self.what, self.module, said)
        return said


SPARE_WAIT = 120.0  # seconds a job waits for a spare that is alive and still importing


def _importing(pid: int) -> bool:
    """Whether the spare `pid` may yet listen: it runs (not a zombie: ended, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # gone
        return False


def start(module: str, *args: str, what: str) -> "Child | _Taken":
    """`python -m module args...`: a Spare of `module` named in this environment, given `args`
    as its job, if no one took it (one still importing is waited for: its imports are what a
    Child would do now, on the same cores); else a Child started now."""
    advertised = os.environ.get(spare_variable(module))
    if advertised:
        socket, key, pid = advertised.split()
        deadline = time.monotonic() + SPARE_WAIT
        while True:
            try:
                connection = Client("\0" + socket, "AF_UNIX", authkey=bytes.fromhex(key))
            except ConnectionRefusedError:  # not listening yet (still importing), or gone
                if _importing(int(pid)) and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
            except (OSError, EOFError, AuthenticationError):  # gone as we came
                pass
            else:
                try:
                    connection.send(list(args))
                    return _Taken(connection, module, what)
                except (OSError, EOFError):  # taken already (turned away), or it died as it took the job
                    connection.close()
            break
        logging.getLogger("absl").info("no spare of %s to take: starting one", module)
    return Child(module, *args, what=what)


def _last_line(error: BaseException) -> str:
    """What a Child's last error line would have said: a SystemExit's message, else the
    traceback's last line."""
    if isinstance(error, SystemExit):  # a message, or a status after printing why (argparse's 2)
        return error.code if isinstance(error.code, str) else f"exit status {error.code} (its log says why)"
    return traceback.format_exception_only(error)[-1].strip()


def serve(socket: str, job) -> None:
    """A Spare's side, after its imports: say READY, take one job (its arguments), run
    `job(args)` -> its output, and tell the taker; a failed job exits 1, as a Child would."""
    ready = os.fdopen(os.dup(1), "wb", buffering=0)  # the pipe its starter reads READY from
    os.dup2(2, 1)  # and then no more: any other output goes to the log
    taken = threading.Event()

    def end_with_its_starter():  # its stdin (a pipe) closes when the process that started it ends
        while os.read(0, 1 << 16):
            pass
        if not taken.is_set():  # no one can take it any more; a job taken runs to its end
            os._exit(1)

    threading.Thread(target=end_with_its_starter, daemon=True).start()
    listener = Listener("\0" + socket, "AF_UNIX", authkey=bytes.fromhex(os.environ.pop(SPARE_KEY)))
    ready.write(READY + b"\n")
    ready.close()
    connection = listener.accept()
    taken.set()

    def turn_away():  # it listens to its end, so "refused" means only "not yet" or "gone" to a taker
        while True:
            try:
                listener.accept().close()  # taken: that taker starts a Child
            except (ConnectionError, EOFError, AuthenticationError):  # that taker left mid-handshake
                continue
            except OSError:  # the socket itself failed: refuse from now on
                listener.close()
                return

    threading.Thread(target=turn_away, daemon=True).start()
    with connection:
        connection.send(os.getpid())
        args = connection.recv()
        try:
            out = job(args)
        except BaseException as error:  # noqa: BLE001 - told to the taker, as a Child's exit would
            traceback.print_exc()
            connection.send(("failed", _last_line(error)))
            raise SystemExit(1) from None
        connection.send(("done", out))
