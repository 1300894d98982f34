"""A tandem home (`--home`): one run at a time, and what a killed run left behind.

Every command that writes to a home holds a kernel lock on it (flock: released when the
process ends, however it ends) and records itself in `<home>/.tandem-run.json`: its pid, its
run id, its command. A second command stops at once with "another tandem run (pid N) is
using HOME", or waits for it (`--wait`).

A run's child processes (Beam workers, PyTorch processes, servers) carry its run id in
their environment (TANDEM_RUN_ID). A run that was killed outright (SIGKILL) cannot stop
them itself: the next command that takes the lock finds the dead run's record and ends its
processes; so does `tandem clean`.

A run's temporary files go to a folder of its own, `scratch(run_id)`, removed when it ends
(or, killed, by the next command): TFX packs itself into a new ~50 MB sdist in the temporary
folder for every Beam component it runs with options, and Beam leaves empty folders there;
nothing removes them. Code that runs pipelines without a home (the benchmarks) uses
`temporary_folder()`, removed when its block ends.
"""

import fcntl
import json
import os
import shutil
import signal
import tempfile
import time
from contextlib import contextmanager, suppress

LOCK_FILE, RECORD_FILE = ".tandem.lock", ".tandem-run.json"
RUN_ID_ENV = "TANDEM_RUN_ID"


def pipeline_name(dataset: str) -> str:
    return f"tandem-{dataset}"


def metadata_path(home: str, dataset: str) -> str:
    """A dataset's ML Metadata store in a home."""
    return os.path.join(home, "metadata", f"{pipeline_name(dataset)}.sqlite")
_SYSTEM_TEMP = tempfile.gettempdir()  # read once, before a scratch() replaces it


class HomeBusy(RuntimeError):
    pass


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def processes_of(run_id: str) -> list[int]:
    """Live processes (other than this one) whose environment names `run_id`."""
    needle = f"{RUN_ID_ENV}={run_id}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:  # gone, or not ours to read
            continue
    return found


def end_processes(run_id: str, grace: float = 5.0) -> list[int]:
    """SIGTERM every process of `run_id`, then SIGKILL what is left after `grace` seconds."""
    pids = processes_of(run_id)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.time() + grace
        while time.time() < deadline and (pids := [p for p in pids if alive(p)]):
            time.sleep(0.1)
        if not pids:
            break
    return pids


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


def _read_record(home: str) -> dict:
    try:
        with open(os.path.join(home, RECORD_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


@contextmanager
def hold(home: str, command: str, wait: bool = False, echo=print):
    """Hold the home for one command; yields its run id (also set as TANDEM_RUN_ID)."""
    os.makedirs(home, exist_ok=True)
    lock = open(os.path.join(home, LOCK_FILE), "a")  # noqa: SIM115 - held across the yield, closed below
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_record(home)
            who = f"another tandem run (pid {holder.get('pid', '?')}: {holder.get('command', '?')})"
            if not wait:
                raise HomeBusy(f"{who} is using {home}; wait for it, or pass --wait") from None
            echo(f"tandem: waiting for {who} to finish with {home}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        dead = _read_record(home)
        if dead.get("run_id"):  # it held the lock, and did not clean up: it was killed
            left = processes_of(dead["run_id"])
            if left:
                echo(f"tandem: ending {len(left)} process(es) left by killed run {dead['run_id']} "
                     f"(pid {dead.get('pid')})")
                end_processes(dead["run_id"])
            shutil.rmtree(scratch_path(dead["run_id"]), ignore_errors=True)
        run_id = new_run_id()
        os.environ[RUN_ID_ENV] = run_id  # inherited by every child process
        record = {"pid": os.getpid(), "run_id": run_id, "command": command, "started": time.time()}
        with open(os.path.join(home, RECORD_FILE), "w") as f:
            json.dump(record, f)
        try:
            yield run_id
        finally:
            end_processes(run_id, grace=2.0)  # nothing of this run outlives it
            shutil.rmtree(scratch_path(run_id), ignore_errors=True)
            os.remove(os.path.join(home, RECORD_FILE))
    finally:
        lock.close()


def scratch_path(run_id: str) -> str:
    """Short (TorchServe's worker sockets live under it) and found again from the run id alone."""
    return os.path.join(_SYSTEM_TEMP, f"tandem-{run_id}")


@contextmanager
def _temporary_files_in(path: str):
    """This process and its children (TMPDIR) put temporary files in `path`."""
    os.makedirs(path, exist_ok=True)
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = path, path
    try:
        yield path
    finally:
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]


@contextmanager
def scratch(run_id: str):
    """This process and its children put temporary files in the run's own folder; `hold`
    removes it when the run ends, however it ends."""
    with _temporary_files_in(scratch_path(run_id)) as path:
        yield path


@contextmanager
def temporary_folder():
    """Temporary files go to a new folder for the block, removed after it: for code that
    runs pipelines without a home's lock (the benchmarks). Killed outright, it stays."""
    path = tempfile.mkdtemp(prefix="tandem-")
    try:
        with _temporary_files_in(path):
            yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
