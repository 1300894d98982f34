"""pipelines/local_dag.py through pipelines.runner.run_pipeline, the way `tandem run` runs
a pipeline: real TFX pipelines of small components (tests/unit/dag_nodes.py) on ML Metadata
in SQLite, with nodes beside others in threads (workers=0) or in a worker process
(workers=1, as `tandem run all`). Each component notes in a shared log when it starts and
ends, and in which process, so the order is read from what happened, not from timings."""

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


@pytest.fixture(autouse=True)
def importable_nodes(monkeypatch):
    """A worker process imports the components' module by name, as this process does."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([HERE, REPO, os.environ.get("PYTHONPATH", "")]))


def events(log: str) -> list[str]:
    with open(log) as f:
        return [line for line in f.read().splitlines() if not line.startswith("pid ")]


def processes(log: str) -> dict[str, int]:
    """node -> the process it ran in."""
    with open(log) as f:
        return {n: int(p) for _, n, p in (line.split() for line in f.read().splitlines() if line.startswith("pid "))}


WORKERS = pytest.mark.parametrize("workers", [0, 1], ids=["threads", "worker-process"])
WORKER_READY = 20.0  # seconds: the worker starts with the run, and imports TensorFlow and TFX first


@WORKERS
def test_independent_nodes_run_side_by_side_and_a_node_waits_for_all_it_depends_on(tmp_path, workers):
    log = str(tmp_path / "log")
    # the worker starts with the run and imports TFX: "front" lasts until it is surely ready
    steps = {"front": {"seconds": WORKER_READY if workers else 0.0}, "keras": {"seconds": 3.0},
             "torch": {"seconds": 1.0}, "torch_push": {}, "report": {}}
    after = {"keras": ["front"], "torch": ["front"], "torch_push": ["torch"], "report": ["keras", "torch_push"]}
    printed = []
    run_pipeline(pipeline(str(tmp_path), log, steps, after), echo=printed.append, workers=workers)
    seen = events(log)
    assert seen[:2] == ["start front", "end front"]
    # both branches started before either ended: they ran side by side
    assert set(seen[2:4]) == {"start keras", "start torch"}
    assert seen.index("end torch") < seen.index("start torch_push") < seen.index("end keras")
    assert seen[-2:] == ["start report", "end report"]
    assert len([line for line in printed if line.rstrip().endswith("started")]) == 5
    ran_in = processes(log)
    assert ran_in["front"] == ran_in["keras"] == os.getpid()
    if workers:  # the second branch, its next node too, in the worker process
        assert ran_in["torch"] == ran_in["torch_push"] != os.getpid()
    else:
        assert ran_in["torch"] == ran_in["torch_push"] == os.getpid()


@WORKERS
def test_every_start_and_end_is_shown_while_a_node_silences_logging(tmp_path, workers):
    """TensorFlow sets absl's verbosity to FATAL, for the whole process, while it saves a
    SavedModel: what ends beside a saving trainer is still shown."""
    log = str(tmp_path / "log")
    steps = {"front": {"seconds": WORKER_READY if workers else 0.0}, "keras": {"work": "silencing", "seconds": 4.0},
             "torch": {"seconds": 0.5}, "torch_push": {}}
    after = {"keras": ["front"], "torch": ["front"], "torch_push": ["torch"]}
    printed = []
    run_pipeline(pipeline(str(tmp_path), log, steps, after), echo=printed.append, workers=workers)
    seen = events(log)
    assert seen.index("end torch_push") < seen.index("end keras")  # the torch branch ended while keras silenced
    shown = {tuple(line.split()[2:4]) for line in printed}
    for node in steps:
        assert (node, "started") in shown and (node, "done") in shown, printed


@pytest.mark.parametrize(("workers", "fails"), [(0, "keras"), (1, "torch")], ids=["threads", "worker-process"])
def test_a_failure_starts_nothing_new_lets_the_running_node_finish_and_names_the_failed_one(tmp_path, workers,
                                                                                            fails):
    log = str(tmp_path / "log")
    other = "keras" if fails == "torch" else "torch"
    steps = {"front": {"seconds": WORKER_READY if workers else 0.0}, fails: {"work": "fail"}, other: {"seconds": 1.5},
             "keras_push": {}, "torch_push": {}}
    after = {"keras": ["front"], "torch": ["front"], "keras_push": ["keras"], "torch_push": ["torch"]}
    with pytest.raises(PipelineError) as failed:
        run_pipeline(pipeline(str(tmp_path), log, steps, after), echo=lambda line: None, workers=workers)
    assert failed.value.component == fails
    assert (processes(log)[fails] != os.getpid()) == bool(workers)
    assert str(failed.value) == f"{fails} failed: ValueError: the step's input is empty"
    seen = events(log)
    assert f"end {other}" in seen  # finished, not abandoned
    assert not [line for line in seen if "push" in line]  # nothing started after the failure


SCRIPT = """
from dag_nodes import pipeline
from pipelines.interrupts import Interrupted, raise_on_sigterm
from pipelines.runner import run_pipeline

raise_on_sigterm()
steps = {{"front": {{"seconds": {front}}}, "keras": {{"work": "stubborn", "seconds": 60.0}},
         "torch": {{"work": "child", "seconds": 60.0}}, "push": {{}}}}
after = {{"keras": ["front"], "torch": ["front"], "push": ["keras", "torch"]}}
try:
    run_pipeline(pipeline({root!r}, {log!r}, steps, after), echo=lambda line: None, workers={workers})
except Interrupted as error:
    print(error)
"""


@WORKERS
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda sig: sig.name)
def test_a_signal_stops_every_running_node_even_one_that_loses_it_and_their_child_processes(tmp_path, sig, workers):
    log = str(tmp_path / "log")
    script = SCRIPT.format(root=str(tmp_path), log=log, workers=workers, front=WORKER_READY if workers else 0.0)
    run = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # its PYTHONPATH finds dag_nodes (importable_nodes)
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
    assert not [line for line in seen if line in ("end keras", "end torch") or "push" in line]
    assert (processes(log)["torch"] != run.pid) == bool(workers)
    assert [pid for pid in children if os.path.exists(f"/proc/{pid}")] == []



@WORKERS
def test_a_spare_the_run_starts_is_taken_by_one_node_in_either_process(tmp_path, workers):
    """run_pipeline(spares=...) as `tandem run` starts the PyTorch runtime: a node, in this
    process or a worker, takes it; a second node that asks starts a child of its own; the run
    ends it."""
    log = str(tmp_path / "log")
    steps = {"front": {"seconds": WORKER_READY if workers else 5.0}, "keras": {"work": "spare"},
             "torch": {"work": "spare"}}
    run_pipeline(pipeline(str(tmp_path), log, steps, {"keras": ["front"], "torch": ["front"]}),
                 echo=lambda line: None, workers=workers, spares=("dag_nodes",))
    ran_by = dict(line.split(" ran by ") for line in events(log) if " ran by " in line)
    assert sorted(how.split()[0] for how in ran_by.values()) == ["child", "spare"], ran_by
    if workers:  # the two nodes ran in two processes: both could reach the spare
        ran_in = processes(log)
        assert ran_in["keras"] != ran_in["torch"]
    spare_pid = int(next(how for how in ran_by.values() if how.startswith("spare")).split()[1])
    assert not os.path.exists(f"/proc/{spare_pid}") and "TANDEM_SPARE_DAG_NODES" not in os.environ
