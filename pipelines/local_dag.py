"""TFX's local DAG runner, with independent nodes run side by side.

TFX's LocalDagRunner launches a pipeline's nodes one after the other (its own TODO,
b/171319478). After Transform, tandem's two branches share nothing: each branch's trainer,
evaluator, infra validator and pusher waits on its own chain only. So here a node starts as
soon as every node upstream of it has finished. Each node still runs through TFX's own
Launcher (driver, cache lookup, executor, publishing to ML Metadata) with an MLMD connection
of its own, as LocalDagRunner's do (MLMD's SQLite source waits and retries on a locked
database).

- A node that is the only one ready, with nothing else running (the whole front; every node
  of a one-branch run), runs in the calling thread, exactly as under LocalDagRunner. Nodes
  that can run side by side each get a thread.
- A failed node lets no new node start; the nodes running finish, then the first failure is
  raised as NodeFailed.
- A signal (KeyboardInterrupt, or pipelines.interrupts.Terminated: raised in the main thread)
  is raised in every running node's thread too, and again every `every` seconds in those
  that have not ended (library code can lose it, see insisting_signals), for at most `grace`
  seconds; then it is raised here.
"""

import ctypes
import datetime
import queue
import threading
import time

from absl import logging
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils, tfx_runner
from tfx.proto.orchestration import pipeline_pb2

from pipelines.interrupts import Terminated


class NodeFailed(Exception):
    """A node's executor, driver or publisher failed; the error is the __cause__."""

    def __init__(self, node_id: str):
        self.node_id = node_id
        super().__init__(f"{node_id} failed")


def raise_in(thread: threading.Thread, exception: type[BaseException]) -> None:
    """Raise `exception` in `thread` at its next Python instruction (CPython's
    PyThreadState_SetAsyncExc: what a signal does to the main thread, for another one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exception))


class ConcurrentLocalDagRunner(tfx_runner.IrBasedRunner):

    def __init__(self, every: float = 1.0, grace: float = 60.0):
        self.every, self.grace = every, grace

    def run_with_ir(self, pipeline: pipeline_pb2.Pipeline, run_options=None) -> None:
        if run_options is not None:
            raise ValueError("partial runs are LocalDagRunner's; this runner runs whole pipelines")
        runtime_parameter_utils.substitute_runtime_parameter(  # as LocalDagRunner: unless named already
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: datetime.datetime.now().isoformat()})
        deployment = runner_utils.extract_local_deployment_config(pipeline)
        connection = deployment.metadata_connection_config
        connection = getattr(connection, connection.WhichOneof("connection_config"))

        def launch(node: pipeline_pb2.PipelineNode) -> None:
            node_id = node.node_info.id
            component_launcher = launcher.Launcher(
                pipeline_node=node,
                mlmd_connection=metadata.Metadata(connection),
                pipeline_info=pipeline.pipeline_info,
                pipeline_runtime_spec=pipeline.runtime_spec,
                executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
                custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id))
            logging.info("Component %s is running.", node_id)  # LocalDagRunner's words: progress reads them
            component_launcher.launch()
            logging.info("Component %s is finished.", node_id)

        nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in pipeline.nodes}  # topological order
        self._run(nodes, launch)

    def _run(self, nodes: dict, launch) -> None:
        pending, done = list(nodes), set()
        running: dict[str, threading.Thread] = {}
        ended: queue.Queue = queue.Queue()
        failure: tuple[str, BaseException] | None = None

        def in_thread(node_id):
            try:
                launch(nodes[node_id])
            except BaseException as error:  # noqa: BLE001 - handed to the scheduling thread
                ended.put((node_id, error))
            else:
                ended.put((node_id, None))

        try:
            while pending or running:
                ready = [n for n in pending if set(nodes[n].upstream_nodes) <= done] if failure is None else []
                if len(ready) == 1 and not running:
                    pending.remove(ready[0])
                    try:
                        launch(nodes[ready[0]])
                    except Exception as error:
                        raise NodeFailed(ready[0]) from error
                    done.add(ready[0])
                    continue
                for node_id in ready:
                    pending.remove(node_id)
                    running[node_id] = threading.Thread(target=in_thread, args=(node_id,), daemon=True,
                                                        name=f"node-{node_id}")
                    running[node_id].start()
                if not running:
                    break  # a failure, and nothing left running
                node_id, error = ended.get()
                running.pop(node_id).join()
                if error is None:
                    done.add(node_id)
                elif failure is None:
                    failure = (node_id, error)
        except (KeyboardInterrupt, Terminated) as stop:
            self._stop(running, type(stop))
            raise
        if failure is not None:
            if isinstance(failure[1], (KeyboardInterrupt, Terminated)):
                raise failure[1]
            raise NodeFailed(failure[0]) from failure[1]

    def _stop(self, running: dict[str, threading.Thread], stop: type[BaseException]) -> None:
        """Raise `stop` in the running nodes' threads until they end (at most `grace` seconds)."""
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            alive = [thread for thread in running.values() if thread.is_alive()]
            if not alive:
                return
            for thread in alive:
                raise_in(thread, stop)
            try:
                for thread in alive:
                    thread.join(max(0.0, self.every / len(alive)))
            except (KeyboardInterrupt, Terminated):
                pass  # insisting_signals resends the signal: already stopping
        logging.warning("nodes still running %.0f s after the stop: %s", self.grace,
                        ", ".join(n for n, t in running.items() if t.is_alive()))
