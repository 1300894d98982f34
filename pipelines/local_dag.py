"""TFX's local DAG runner, with independent nodes run side by side.

TFX's LocalDagRunner launches a pipeline's nodes one after the other (its own TODO,
b/171319478). After Transform, tandem's two branches share nothing: each branch's trainer,
evaluator, infra validator and pusher waits on its own chain only. So here a node starts as
soon as every node upstream of it has finished. Each node still runs through TFX's own
Launcher (driver, cache lookup, executor, publishing to ML Metadata) with an MLMD connection
of its own, as LocalDagRunner's do (MLMD's SQLite source waits and retries on a locked
database).

Where a node runs:
- alone (nothing else ready or running: the whole front, every node of a one-branch run): in
  the calling thread, exactly as under LocalDagRunner;
- beside others: in a thread of its own, or, with `workers`, in a worker process: a Python
  process that launches the nodes it is sent one at a time, from the same compiled pipeline.
  Threads share one interpreter lock, and most of a TFX component's work is Python, so two
  branches in two threads take turns; a worker runs truly beside this process. It starts with
  the run, so its imports (TensorFlow, TFX: seconds) overlap the front. A node goes to the
  worker if the worker ran the node before it, or if a node already runs here; else here.

Progress goes to `report(node_id, state)` (STARTED, then DONE or CACHED), from whichever
thread sees it: not through log records, which a library can silence for everyone while it
works (TensorFlow sets absl's verbosity to FATAL while it saves a SavedModel, so a node that
ended beside a saving trainer would never have been reported).

A failed node lets no new node start; the nodes running finish, then the first failure is
raised as NodeFailed. A signal (KeyboardInterrupt, or pipelines.interrupts.Terminated: raised
in the main thread) is raised in every running node's thread too, again every `every` seconds
in those that have not ended (library code can lose it, see insisting_signals), and sent to
the workers (which insist on it themselves), for at most `grace` seconds; then it is raised
here.

A worker is `python -m pipelines.dag_worker`, which calls `work` here.
"""

import contextlib
import ctypes
import datetime
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

from absl import logging
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils, tfx_runner
from tfx.proto.orchestration import pipeline_pb2

from pipelines.interrupts import Terminated, insisting_signals, raise_on_sigterm

STARTED, DONE, CACHED = "started", "done", "cached"  # what report() is told of a node


class NodeFailed(Exception):
    """A node's executor, driver or publisher failed; the error is the __cause__."""

    def __init__(self, node_id: str):
        self.node_id = node_id
        super().__init__(f"{node_id} failed")


class _RemoteError(RuntimeError):
    """A node failed in a worker: its root cause, as the worker said it."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


def root_cause_message(error: BaseException) -> str:
    """The innermost exception's message: Beam wraps errors in several layers of context."""
    while error.__cause__ or error.__context__:
        error = error.__cause__ or error.__context__
    if isinstance(error, _RemoteError):  # a worker's node: as the worker said it
        return f"{error.kind}: {error}"
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    message = lines[-1] if lines else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def raise_in(thread: threading.Thread, exception: type[BaseException]) -> None:
    """Raise `exception` in `thread` at its next Python instruction (CPython's
    PyThreadState_SetAsyncExc: what a signal does to the main thread, for another one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exception))


def _launcher(pipeline: pipeline_pb2.Pipeline, report):
    """launch(node_id) for the nodes of a compiled pipeline whose run id is set: tells
    report(node_id, STARTED), then DONE or CACHED once it succeeded. Whether the cache
    answered is ML Metadata's record of the execution."""
    deployment = runner_utils.extract_local_deployment_config(pipeline)
    connection = deployment.metadata_connection_config
    connection = getattr(connection, connection.WhichOneof("connection_config"))
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in pipeline.nodes}

    def launch(node_id: str) -> None:
        mlmd = metadata.Metadata(connection)
        component_launcher = launcher.Launcher(
            pipeline_node=nodes[node_id],
            mlmd_connection=mlmd,
            pipeline_info=pipeline.pipeline_info,
            pipeline_runtime_spec=pipeline.runtime_spec,
            executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
            custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id))
        report(node_id, STARTED)
        logging.info("Component %s is running.", node_id)  # LocalDagRunner's words, for --verbose
        execution = component_launcher.launch()
        logging.info("Component %s is finished.", node_id)
        state = DONE
        if execution is not None and execution.execution_id:  # else the driver ran nothing
            with mlmd as m:
                [record] = m.store.get_executions_by_id([execution.execution_id])
            state = CACHED if record.last_known_state == metadata_store_pb2.Execution.CACHED else DONE
        report(node_id, state)

    return launch


class _Worker:
    """A worker process and what this process knows of it. Its events (one JSON object a
    line, on a pipe of its own) come in on a reader thread: a node's start and end, told to
    `report`; each node's end, also put on `ended` as (node id, error or None)."""

    def __init__(self, ir_path: str, ended: queue.Queue, report):
        read, write = os.pipe()
        command = [sys.executable, "-m", "pipelines.dag_worker", ir_path, str(write), str(logging.get_verbosity())]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=2, pass_fds=(write,), text=True)
        os.close(write)
        self.ready, self.node, self.ran, self.done, self.ended = threading.Event(), None, set(), {None}, ended
        threading.Thread(target=self._read, args=(os.fdopen(read), report), daemon=True,
                         name=f"worker-{self.process.pid}").start()

    def _read(self, events, report) -> None:
        for line in events:
            event = json.loads(line)
            if "ready" in event:
                self.ready.set()
            elif event.get("state") == STARTED:
                report(event["node"], STARTED)
            else:
                if "state" in event:
                    report(event["node"], event["state"])
                self.done.add(event["node"])
                error = event.get("error")
                self.ended.put((event["node"], _RemoteError(*error) if error else None))
        self.ready.clear()
        code = self.process.wait()
        if self.node not in self.done:
            self.ended.put((self.node, _RemoteError("WorkerExited", f"the worker process running it exited ({code})")))

    def send(self, node_id: str) -> None:
        self.node = node_id
        self.ran.add(node_id)
        try:
            self.process.stdin.write(node_id + "\n")
            self.process.stdin.flush()
        except OSError:  # it has just exited: its reader may have looked at self.node before it was set
            self.done.add(node_id)
            self.ended.put((node_id, _RemoteError("WorkerExited", "the worker process exited before it could run it")))

    def close(self, grace: float = 10.0) -> None:
        """End the worker: at once if it is between nodes (nothing of a node is lost), else
        (a stopped run) after `grace` seconds to stop its node."""
        if self.process.poll() is None and self.node in self.done:
            self.process.kill()
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ConcurrentLocalDagRunner(tfx_runner.IrBasedRunner):

    def __init__(self, workers: int = 0, every: float = 1.0, grace: float = 60.0, report=None):
        self.workers, self.every, self.grace = workers, every, grace
        self.report = report or (lambda node_id, state: None)

    def run_with_ir(self, pipeline: pipeline_pb2.Pipeline, run_options=None) -> None:
        if run_options is not None:
            raise ValueError("partial runs are LocalDagRunner's; this runner runs whole pipelines")
        runtime_parameter_utils.substitute_runtime_parameter(  # as LocalDagRunner: unless named already
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: datetime.datetime.now().isoformat()})
        upstream = {n.pipeline_node.node_info.id: set(n.pipeline_node.upstream_nodes) for n in pipeline.nodes}
        ended: queue.Queue = queue.Queue()
        ir_path, workers = None, []
        if self.workers:
            with tempfile.NamedTemporaryFile("wb", suffix=".pb", delete=False) as f:  # the run's temporary folder
                f.write(pipeline.SerializeToString())
            ir_path = f.name
            workers = [_Worker(ir_path, ended, self.report) for _ in range(self.workers)]
        try:
            self._run(upstream, _launcher(pipeline, self.report), ended, workers)
        finally:
            for worker in workers:
                worker.close()
            if ir_path:
                os.remove(ir_path)

    def _run(self, upstream: dict[str, set], launch, ended: queue.Queue, workers: list[_Worker]) -> None:
        pending, done = list(upstream), set()  # the IR lists nodes in topological order
        threads: dict[str, threading.Thread] = {}
        busy: dict[str, _Worker] = {}
        failure: tuple[str, BaseException] | None = None

        def in_thread(node_id):
            try:
                launch(node_id)
            except BaseException as error:  # noqa: BLE001 - handed to the scheduling thread
                ended.put((node_id, error))
            else:
                ended.put((node_id, None))

        def free_worker(node_id):
            idle = [w for w in workers if w.ready.is_set() and w not in busy.values()]
            mine = [w for w in idle if upstream[node_id] & w.ran]
            return (mine or idle)[0] if mine or (idle and threads) else None

        try:
            while pending or threads or busy:
                ready = [n for n in pending if upstream[n] <= done] if failure is None else []
                if len(ready) == 1 and not threads and not busy and not free_worker(ready[0]):
                    pending.remove(ready[0])
                    try:
                        launch(ready[0])
                    except Exception as error:
                        raise NodeFailed(ready[0]) from error
                    done.add(ready[0])
                    continue
                for node_id in ready:
                    pending.remove(node_id)
                    worker = free_worker(node_id)
                    if worker:
                        busy[node_id] = worker
                        worker.send(node_id)
                    else:
                        threads[node_id] = threading.Thread(target=in_thread, args=(node_id,), daemon=True,
                                                            name=f"node-{node_id}")
                        threads[node_id].start()
                if not threads and not busy:
                    break  # a failure, and nothing left running
                node_id, error = ended.get()
                if node_id in threads:
                    threads.pop(node_id).join()
                busy.pop(node_id, None)
                if error is None:
                    done.add(node_id)
                elif failure is None:
                    failure = (node_id, error)
        except (KeyboardInterrupt, Terminated) as stop:
            self._stop(threads, workers, type(stop))
            raise
        if failure is not None:
            if isinstance(failure[1], (KeyboardInterrupt, Terminated)):
                raise failure[1]
            raise NodeFailed(failure[0]) from failure[1]

    def _stop(self, threads: dict[str, threading.Thread], workers: list[_Worker], stop: type[BaseException]):
        """Raise `stop` in the running nodes' threads until they end, and send it to the
        workers (at most `grace` seconds)."""
        signum = signal.SIGINT if stop is KeyboardInterrupt else signal.SIGTERM
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signum)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            alive = [thread for thread in threads.values() if thread.is_alive()]
            running = [worker for worker in workers if worker.process.poll() is None]
            if not alive and not running:
                return
            for thread in alive:
                raise_in(thread, stop)
            try:
                for thread in alive:
                    thread.join(max(0.0, self.every / len(alive)))
                if not alive:
                    time.sleep(min(self.every, 0.1))
            except (KeyboardInterrupt, Terminated):
                pass  # insisting_signals resends the signal: already stopping
        logging.warning("still running %.0f s after the stop: %s", self.grace,
                        ", ".join(n for n, t in threads.items() if t.is_alive()))


def work(ir_path: str, events_fd: int) -> None:
    """A worker: launch each node id read from stdin, one at a time; say so on `events_fd`."""
    raise_on_sigterm()
    events = os.fdopen(events_fd, "w", buffering=1)

    def say(**event):
        events.write(json.dumps(event) + "\n")

    pipeline = pipeline_pb2.Pipeline()
    with open(ir_path, "rb") as f:
        pipeline.ParseFromString(f.read())
    launch = _launcher(pipeline, lambda node_id, state: say(node=node_id, state=state))  # DONE, CACHED: its end
    say(ready=True)
    for line in sys.stdin:
        node_id = line.strip()
        try:
            with insisting_signals():
                launch(node_id)
        except Exception as error:  # noqa: BLE001 - said to the runner, which stops the run
            kind, _, message = root_cause_message(error).partition(": ")
            say(node=node_id, error=[kind, message or kind])
