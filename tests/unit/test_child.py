"""pipelines/child.run_module: how the TensorFlow side starts the PyTorch runtime and the
benches start their measurements. A failure names what failed and why, in one line."""

import pytest

from pipelines.child import ChildProcessFailed, run_module


@pytest.fixture
def modules(tmp_path):
    """A folder of small modules to run as children, and the environment that finds them."""
    (tmp_path / "prints.py").write_text("import os\nprint(os.environ['GREETING'])\n")
    (tmp_path / "fails.py").write_text("import sys\nprint('working', file=sys.stderr)\n"
                                       "sys.exit('the input is empty')\n")
    (tmp_path / "killed.py").write_text("import os, signal, sys\nprint('half a line', end='', file=sys.stderr)\n"
                                        "sys.stderr.flush()\nos.kill(os.getpid(), signal.SIGKILL)\n")
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
