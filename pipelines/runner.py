"""Run a pipeline locally: TFX's Launcher per node, independent nodes side by side
(pipelines/local_dag.py), Beam's DirectRunner, MLMD in SQLite.

Shows each component as it starts and ends (as the runner reports them), runs under the
caller's run id (so the summary reads this run, not "the latest"), and turns a failed run
into one clear error: the gate's report, the component and the root cause for anything
else, or which components an interrupt stopped.
"""

import contextlib
import logging
import os
import signal
import threading
import time
from contextlib import contextmanager

from absl import logging as absl_logging
from tfx.dsl.compiler import compiler, constants
from tfx.orchestration.pipeline import Pipeline
from tfx.orchestration.portable import runtime_parameter_utils

from components.validate import DataValidationError
from pipelines.child import Spare
from pipelines.interrupts import Interrupted, Terminated, insisting_signals
from pipelines.local_dag import CACHED, STARTED, ConcurrentLocalDagRunner, NodeFailed, root_cause_message

# The two branches can share a GPU, side by side: TensorFlow then takes only the memory it
# uses (by default it maps nearly all of it at its first op), leaving the rest to PyTorch's
# process. Read when TensorFlow first sets up a GPU, after this import.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


class PipelineError(RuntimeError):
    """A component failed for a reason other than the data validation gate."""

    def __init__(self, component: str, cause: BaseException):
        self.component, self.cause = component, cause
        super().__init__(f"{component} failed: {root_cause_message(cause)}")


class _Progress:
    """One line per component start and end, as the runner reports them (from any thread:
    components run side by side)."""

    def __init__(self, echo):
        self.echo, self.start, self.lock = echo, time.time(), threading.Lock()
        self.began: dict[str, float] = {}  # running component -> when it started

    @property
    def running(self) -> list[str]:
        return list(self.began)

    def __call__(self, component: str, state: str) -> None:
        with self.lock:
            now = time.time()
            if state == STARTED:
                self.began[component], said = now, "started"
            else:
                took = now - self.began.pop(component, now)
                said = "cached" if state == CACHED else f"done in {took:.1f}s"
            self.echo(f"[{now - self.start:6.1f}s] {component:<32} {said}")


@contextmanager
def _quiet_logs(verbose: bool):
    """Keep what already prints logs (absl's handler, a basicConfig one) at WARNING, unless
    --verbose: then TFX's INFO too (the worker processes follow absl's verbosity)."""
    handlers = [absl_logging.get_absl_handler()] + logging.getLogger().handlers
    levels, verbosity = [h.level for h in handlers], absl_logging.get_verbosity()
    if verbose:
        absl_logging.set_verbosity(absl_logging.INFO)
    else:
        for handler in handlers:
            handler.setLevel(logging.WARNING)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)


def run_pipeline(pipeline: Pipeline, run_id: str | None = None, echo=print, verbose: bool = False,
                 workers: int = 0, spares: tuple[str, ...] = ()) -> float:
    """Run to the end under `run_id`, or raise DataValidationError / PipelineError /
    Interrupted; returns seconds taken. `workers`: processes that run nodes beside this one
    (pipelines/local_dag.py): one per branch beyond the first. `spares`: modules a node runs as
    a child process, started now (pipelines/child.Spare), so that their imports overlap the
    nodes before it (the PyTorch runtime's 3-4 s, beside the front); ended with the run."""
    os.makedirs(os.path.dirname(pipeline.metadata_connection_config.sqlite.filename_uri), exist_ok=True)
    ir = compiler.Compiler().compile(pipeline)
    if run_id:  # LocalDagRunner would name the run by the clock; ours names it first
        runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    start, progress = time.time(), _Progress(echo)
    with _quiet_logs(verbose), contextlib.ExitStack() as started:
        for module in spares:
            started.enter_context(Spare(module))
        try:
            with insisting_signals():  # Keras and TensorFlow can swallow what a signal raises
                ConcurrentLocalDagRunner(workers, report=progress).run_with_ir(ir)
        except KeyboardInterrupt:
            raise Interrupted(", ".join(progress.running) or None, signal.SIGINT) from None
        except Terminated:
            raise Interrupted(", ".join(progress.running) or None, signal.SIGTERM) from None
        except Exception as error:  # noqa: BLE001 - every failure becomes one clear message
            gate_error = _find(error, DataValidationError)
            if gate_error:
                raise gate_error from None
            failed = _find(error, NodeFailed)
            cause = failed.__cause__ if failed else error
            raise PipelineError(failed.node_id if failed else "pipeline", cause) from cause
    return time.time() - start


def _find(error: BaseException, kind):
    while error is not None:
        if isinstance(error, kind):
            return error
        error = error.__cause__ or error.__context__
    return None
