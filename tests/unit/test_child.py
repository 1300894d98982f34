"""pipelines/child.run_module: how the TensorFlow side starts the PyTorch runtime and the
benches start their measurements. A failure names what failed and why, in one line."""

import os
import threading
import time

import pytest
from helpers import child_processes

from pipelines.child import Child, ChildProcessFailed, run_module
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
    return {"PYTHONPATH": str(tmp_path)}


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
