"""pipelines/local_dag.py through pipelines.runner.run_pipeline, the way `tandem run` runs
a pipeline: real TFX pipelines of small components (tests/unit/dag_nodes.py) on ML Metadata
in SQLite. Each component notes in a shared log when it starts and ends, so the order is
read from what happened, not from timings."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from dag_nodes import pipeline
from helpers import REPO, child_processes

from pipelines.runner import PipelineError, run_pipeline

HERE = os.path.dirname(os.path.abspath(__file__))


def events(log: str) -> list[str]:
    with open(log) as f:
        return f.read().splitlines()


def test_independent_nodes_run_side_by_side_and_a_node_waits_for_all_it_depends_on(tmp_path):
    log = str(tmp_path / "log")
    steps = {"front": {}, "keras": {"seconds": 1.0}, "torch": {"seconds": 1.0}, "report": {}}
    after = {"keras": ["front"], "torch": ["front"], "report": ["keras", "torch"]}
    printed = []
    run_pipeline(pipeline(str(tmp_path), log, steps, after), echo=printed.append)
    seen = events(log)
    assert seen[:2] == ["start front", "end front"]
    # both branches started before either ended: they ran side by side
    assert set(seen[2:4]) == {"start keras", "start torch"} and set(seen[4:6]) == {"end keras", "end torch"}
    assert seen[6:] == ["start report", "end report"]
    assert len([line for line in printed if line.rstrip().endswith("started")]) == 4


def test_a_failure_starts_nothing_new_lets_the_running_node_finish_and_names_the_failed_one(tmp_path):
    log = str(tmp_path / "log")
    steps = {"keras": {"work": "fail"}, "torch": {"seconds": 1.5}, "keras_push": {}, "torch_push": {}}
    after = {"keras_push": ["keras"], "torch_push": ["torch"]}
    with pytest.raises(PipelineError) as failed:
        run_pipeline(pipeline(str(tmp_path), log, steps, after), echo=lambda line: None)
    assert failed.value.component == "keras"
    assert str(failed.value) == "keras failed: ValueError: the step's input is empty"
    seen = events(log)
    assert "end torch" in seen  # finished, not abandoned
    assert not [line for line in seen if "push" in line]  # nothing started after the failure


SCRIPT = """
from dag_nodes import pipeline
from pipelines.interrupts import Interrupted, raise_on_sigterm
from pipelines.runner import run_pipeline

raise_on_sigterm()
steps = {{"keras": {{"work": "stubborn", "seconds": 60.0}}, "torch": {{"work": "child", "seconds": 60.0}},
         "push": {{}}}}
try:
    run_pipeline(pipeline({root!r}, {log!r}, steps, {{"push": ["keras", "torch"]}}), echo=lambda line: None)
except Interrupted as error:
    print(error)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda sig: sig.name)
def test_a_signal_stops_every_running_node_even_one_that_loses_it_and_their_child_processes(tmp_path, sig):
    log = str(tmp_path / "log")
    script = SCRIPT.format(root=str(tmp_path), log=log)
    run = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join([HERE, REPO])})
    deadline = time.monotonic() + 120
    while not (os.path.exists(log) and {"start keras", "start torch"} <= set(events(log))):
        assert time.monotonic() < deadline and run.poll() is None, run.stderr.read()[-3000:]
        time.sleep(0.1)
    time.sleep(1.0)  # the child process of "torch" is running by now
    children = child_processes(run.pid)
    assert children, "the torch step's child process never started"
    run.send_signal(sig)
    out, err = run.communicate(timeout=30)  # the nodes work for 60 s unless stopped
    assert out.strip() == f"interrupted by {sig.name} during keras, torch", err[-3000:]
    seen = events(log)
    assert "lost a stop in keras" in seen  # the first stop was lost, a later one ended it
    assert not [line for line in seen if line.startswith("end") or "push" in line]
    assert [pid for pid in children if os.path.exists(f"/proc/{pid}")] == []

