"""Small TFX components for tests/unit/test_local_dag.py: each notes when it starts and
ends in a shared log, then works (sleeps, fails, runs a child process, takes the run's spare,
or loses the first stop raised in it)."""

import os
import time

from absl import logging
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.orchestration.metadata import sqlite_metadata_connection_config
from tfx.orchestration.pipeline import Pipeline

from pipelines.child import run_module, serve, start


def note(log: str, what: str) -> None:
    with open(log, "a") as f:
        f.write(f"{what}\n")


@component
def Step(log: Parameter[str], name: Parameter[str], work: Parameter[str] = "", seconds: Parameter[float] = 0.0) -> None:
    """work: "" (sleep `seconds`), "fail", "child" (a child process that sleeps `seconds`),
    "spare" (runs `python -m dag_nodes whoami` through child.start: the run's spare, if it can),
    "stubborn" (sleeps `seconds` in steps, losing the first exception raised in it) or
    "silencing" (sleeps `seconds` with absl's verbosity at FATAL, as TensorFlow sets it while
    it saves a SavedModel)."""
    note(log, f"start {name}")
    note(log, f"pid {name} {os.getpid()}")
    if work == "fail":
        raise ValueError("the step's input is empty")
    if work == "child":
        run_module("dag_nodes", "sleep", str(seconds), what="a sleeping child")
    elif work == "spare":
        with start("dag_nodes", "whoami", what="who ran it") as job:
            note(log, f"{name} ran by {job.finish().strip()}")
    elif work == "stubborn":
        lost = False
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                time.sleep(0.05)
            except BaseException:  # noqa: BLE001 - as Keras' bare `except:` does, once
                if lost:
                    raise
                lost = True
                note(log, f"lost a stop in {name}")
    elif work == "silencing":
        verbosity = logging.get_verbosity()
        logging.set_verbosity(logging.FATAL)
        try:
            time.sleep(seconds)
        finally:
            logging.set_verbosity(verbosity)
    else:
        time.sleep(seconds)
    note(log, f"end {name}")


def pipeline(root: str, log: str, steps: dict[str, dict], after: dict[str, list[str]]) -> Pipeline:
    """`steps`: node id -> Step's parameters; `after`: node id -> the node ids it waits for."""
    nodes = {name: Step(log=log, name=name, **params).with_id(name) for name, params in steps.items()}
    for name, upstream in after.items():
        for other in upstream:
            nodes[name].add_upstream_node(nodes[other])
    return Pipeline(pipeline_name="dag", pipeline_root=root, components=list(nodes.values()), enable_cache=False,
                    metadata_connection_config=sqlite_metadata_connection_config(f"{root}/metadata.db"))


if __name__ == "__main__":  # the child process of a "child" or "spare" step
    import sys

    if sys.argv[1] == "--serve":  # started ahead by the run (run_pipeline's spares)
        serve(sys.argv[2], lambda args: f"spare {os.getpid()}")
    elif sys.argv[1] == "whoami":  # started now
        print(f"child {os.getpid()}")
    else:  # sleep SECONDS
        time.sleep(float(sys.argv[2]))
