"""pipelines/child: how the TensorFlow side starts the PyTorch runtime (now, or ahead of its
job: Spare) and the benches start their measurements. A failure names what failed and why,
in one line, however the child was started."""

import os
import subprocess
import sys
import threading
import time

import pytest
from helpers import child_processes

from pipelines.child import Child, ChildProcessFailed, Spare, run_module, start
from pipelines.local_dag import raise_in


@pytest.fixture
def modules(tmp_path):
    """A folder of small modules to run as children, and the environment that finds them."""
    (tmp_path / "prints.py").write_text("import os\nprint(os.environ['GREETING'])\n")
    (tmp_path / "fails.py").write_text("import sys\nprint('working', file=sys.stderr)\n"
                                       "sys.exit('the input is empty')\n")
    (tmp_path / "killed.py").write_text("import os, signal, sys\nprint('half a line', end='', file=sys.stderr)\n"
                                        "sys.stderr.flush()\nos.kill(os.getpid(), signal.SIGKILL)\n")
    (tmp_path / "sleeps.py").write_text("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n")
    (tmp_path / "shouts.py").write_text("import sys\nprint(sys.stdin.read().upper(), end='')\n")
    (tmp_path / "served.py").write_text(SERVED)
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}


# A module that runs as a Child (its job in its arguments) or as a Spare (--serve SOCKET); its
# output says which process ran the job.
SERVED = """import os, sys, time
from pipelines.child import serve

def job(args):
    if args[0] == "fail":
        raise ValueError("the rows are empty")
    if args[0] == "sleep":  # sleep MARKER: says it has the job, then sleeps
        open(args[1], "w").close()
        time.sleep(60)
    return f"{os.getpid()} {' '.join(args).upper()}"

if sys.argv[1:2] == ["--serve"]:
    serve(sys.argv[2], job)
else:
    print(job(sys.argv[1:]))
"""


def test_its_output_comes_back_and_its_environment_gets_the_extra_variables(modules):
    assert run_module("prints", what="greeting", env={**modules, "GREETING": "hello"}) == "hello\n"


def test_a_failure_names_the_child_and_its_last_error_line(modules):
    with pytest.raises(ChildProcessFailed, match=r"^scoring failed \(exit 1\): the input is empty$"):
        run_module("fails", what="scoring", env=modules)


def test_a_child_killed_by_a_signal_says_so_not_its_last_half_line(modules):
    with pytest.raises(ChildProcessFailed) as failed:
        run_module("killed", what="training", env=modules)
    assert str(failed.value).startswith("training was killed by SIGKILL") and "half a line" not in str(failed.value)


def test_a_child_started_first_gets_its_input_later_and_one_left_unfinished_is_killed(modules):
    """How the comparison's scorers import their framework before they get their rows."""
    with Child("shouts", what="shouting", env=modules) as child:
        time.sleep(0.5)  # it waits for its input
        assert child.finish("rows.npz\nout\n") == "ROWS.NPZ\nOUT\n"
    with pytest.raises(ValueError, match="not ready"), Child("sleeps", what="sleeping", env=modules) as child:
        pid = int(child.process.stdout.readline())
        raise ValueError("the rows are not ready")
    assert not os.path.exists(f"/proc/{pid}")  # killed and reaped


def test_a_stop_raised_in_its_thread_ends_the_child_at_once(modules, tmp_path):
    """How pipelines/local_dag.py stops a node that waits for a child process: the wait
    sees the exception raised in its thread, and the child does not outlive it."""
    ended = []

    def wait_for_child():
        try:
            run_module("sleeps", what="sleeping", env=modules)
        except KeyboardInterrupt:
            ended.append(time.monotonic())

    thread = threading.Thread(target=wait_for_child)
    thread.start()
    time.sleep(1.0)  # the child has started
    children = child_processes(os.getpid())
    stopped = time.monotonic()
    raise_in(thread, KeyboardInterrupt)
    thread.join(30)
    assert ended and ended[0] - stopped < 5, "the wait did not see the stop"  # the child sleeps 60 s
    assert children and not [pid for pid in children if os.path.exists(f"/proc/{pid}")]


# ------------------------------------------------------------ Spare: started ahead of its job

@pytest.fixture
def served(modules, monkeypatch):
    """This process's environment finds `served`, and names no spare of it yet."""
    for name, value in modules.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TANDEM_SPARE_SERVED", raising=False)


def working(marker, timeout: float = 60.0) -> None:
    """Wait until a job sleeping on `marker` has it."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(marker):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)


@pytest.fixture
def spare(served):
    with Spare("served") as started:
        assert started.ready(120), "the spare did not come to listen"
        yield started


def ran(output: str) -> tuple[int, str]:
    pid, said = output.strip().split(" ", 1)
    return int(pid), said


def test_a_spare_takes_the_first_job_and_a_later_one_starts_a_child(spare):
    with start("served", "train", "rows", what="training") as job:
        pid, said = ran(job.finish())
    assert (pid, said) == (spare.process.pid, "TRAIN ROWS")
    with start("served", "again", what="training") as job:  # taken once: this one starts now
        pid, said = ran(job.finish())
    assert said == "AGAIN" and pid != spare.process.pid


def test_a_process_started_after_the_spare_takes_it(spare):
    """The run's worker processes (pipelines/local_dag.py) start after the spare: the one that
    runs the Trainer takes it."""
    taker = subprocess.run([sys.executable, "-c", "from pipelines.child import start\n"
                            "with start('served', 'from', 'a', 'worker', what='training') as job:\n"
                            "    print(job.finish())"], capture_output=True, text=True, timeout=120)
    assert taker.returncode == 0, taker.stderr
    assert ran(taker.stdout) == (spare.process.pid, "FROM A WORKER")


def test_without_a_spare_the_job_starts_a_child(served):
    with start("served", "cold", what="training") as job:
        assert isinstance(job, Child)
        pid, said = ran(job.finish())
    assert said == "COLD" and pid == job.process.pid


def test_a_job_waits_for_a_spare_still_importing(served, tmp_path, monkeypatch):
    """A node that asks before the spare listens (a cached front is quick) takes it once it
    does, rather than importing the same things again beside it."""
    (tmp_path / "slow_served.py").write_text("import time\ntime.sleep(3)\n" + SERVED)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]]))
    with Spare("slow_served") as spare, start("slow_served", "early", what="training") as job:
        assert ran(job.finish()) == (spare.process.pid, "EARLY")


def test_a_failed_job_says_the_same_taken_ahead_or_started_now(spare):
    with pytest.raises(ChildProcessFailed) as ahead, start("served", "fail", what="training") as job:
        job.finish()
    with pytest.raises(ChildProcessFailed) as now, start("served", "fail", what="training") as job:
        job.finish()
    assert str(ahead.value) == str(now.value) == "training failed (exit 1): ValueError: the rows are empty"
    assert spare.process.wait(30) == 1


def test_a_spare_killed_at_its_job_is_a_clear_failure(spare, tmp_path):
    marker = str(tmp_path / "working")
    with pytest.raises(ChildProcessFailed, match=r"^training ended before it finished: its process "
                                                 r"\(python -m served, started ahead\) exited without a word, "
                                                 r"so a signal ended it \(the kernel's OOM killer"), \
            start("served", "sleep", marker, what="training") as job:
        working(marker)
        spare.process.kill()
        job.finish()


def test_a_stop_raised_while_a_spare_works_ends_it(spare, tmp_path):
    """As for a Child: the wait sees the stop raised in its thread, and the spare does not outlive it."""
    ended, marker = [], str(tmp_path / "working")

    def wait_for_spare():
        try:
            with start("served", "sleep", marker, what="sleeping") as job:
                job.finish()
        except KeyboardInterrupt:
            ended.append(time.monotonic())

    thread = threading.Thread(target=wait_for_spare)
    thread.start()
    working(marker)
    stopped = time.monotonic()
    raise_in(thread, KeyboardInterrupt)
    thread.join(30)
    assert ended and ended[0] - stopped < 5, "the wait did not see the stop"
    assert spare.process.wait(10) == -9  # killed, not left sleeping


def test_a_spare_no_one_takes_ends_with_its_run_or_with_the_process_that_started_it(served):
    with Spare("served") as spare:
        assert spare.ready(120) and os.environ.get("TANDEM_SPARE_SERVED")
    assert spare.process.returncode == -9 and "TANDEM_SPARE_SERVED" not in os.environ  # close() killed it
    with Spare("served") as orphan:
        assert orphan.ready(120)
        orphan.process.stdin.close()  # what its starter's end does to the pipe
        assert orphan.process.wait(30) == 1  # it ended by itself, not by a kill
