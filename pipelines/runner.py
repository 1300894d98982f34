"""Run a pipeline locally: TFX's Launcher per node, independent nodes side by side
(pipelines/local_dag.py), Beam's DirectRunner, MLMD in SQLite.

Shows each component as it starts and ends (from the runner's log lines, LocalDagRunner's
words), runs under the caller's run id (so the summary reads this run, not "the latest"),
and turns a failed run into one clear error: the gate's report, the component and the root
cause for anything else, or which components an interrupt stopped.
"""

import contextlib
import io
import logging
import os
import signal
import time
from contextlib import contextmanager

from absl import logging as absl_logging
from tfx.dsl.compiler import compiler, constants
from tfx.orchestration.pipeline import Pipeline
from tfx.orchestration.portable import runtime_parameter_utils

from components.validate import DataValidationError
from pipelines.interrupts import Interrupted, Terminated, insisting_signals
from pipelines.local_dag import CACHED, FINISHED, RUNNING, ConcurrentLocalDagRunner, NodeFailed, root_cause_message

# The two branches can share a GPU, side by side: TensorFlow then takes only the memory it
# uses (by default it maps nearly all of it at its first op), leaving the rest to PyTorch's
# process. Read when TensorFlow first sets up a GPU, after this import.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


class PipelineError(RuntimeError):
    """A component failed for a reason other than the data validation gate."""

    def __init__(self, component: str, cause: BaseException):
        self.component, self.cause = component, cause
        super().__init__(f"{component} failed: {root_cause_message(cause)}")


class _Progress(logging.Handler):
    """Turns the runner's log records into one line per component start and end. Components
    can run side by side, each in a thread: a record's thread says which one it is about."""

    def __init__(self, echo):
        super().__init__(logging.INFO)
        self.echo, self.start = echo, time.time()
        self.began: dict[str, float] = {}  # running component -> when it started
        self.cached: set[str] = set()
        self.component_of: dict[int, str] = {}  # thread -> the component it runs

    @property
    def running(self) -> list[str]:
        return list(self.began)

    def emit(self, record):
        if record.msg == RUNNING:
            component = record.args[0]
            self.component_of[record.thread], self.began[component] = component, time.time()
            self.echo(f"[{time.time() - self.start:6.1f}s] {component:<32} started")
        elif record.msg == CACHED and record.thread in self.component_of:
            self.cached.add(self.component_of[record.thread])
        elif record.msg == FINISHED and record.args[0] in self.began:
            component = record.args[0]
            took = time.time() - self.began.pop(component)
            state = "cached" if component in self.cached else f"done in {took:.1f}s"
            self.echo(f"[{time.time() - self.start:6.1f}s] {component:<32} {state}")


@contextmanager
def _quiet_progress(echo, verbose: bool):
    absl_logging.set_verbosity(absl_logging.INFO)  # the runner reports progress at INFO
    # Keep what already prints logs (absl's handler, a basicConfig one) at WARNING.
    handlers = [absl_logging.get_absl_handler()] + logging.getLogger().handlers
    levels = [h.level for h in handlers]
    if not verbose:
        for handler in handlers:
            handler.setLevel(logging.WARNING)
    progress = _Progress(echo)
    logger = logging.getLogger("absl")
    logger.addHandler(progress)
    try:
        yield progress
    finally:
        logger.removeHandler(progress)
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)


def run_pipeline(pipeline: Pipeline, run_id: str | None = None, echo=print, verbose: bool = False,
                 workers: int = 0) -> float:
    """Run to the end under `run_id`, or raise DataValidationError / PipelineError /
    Interrupted; returns seconds taken. `workers`: processes that run nodes beside this one
    (pipelines/local_dag.py): one per branch beyond the first."""
    os.makedirs(os.path.dirname(pipeline.metadata_connection_config.sqlite.filename_uri), exist_ok=True)
    ir = compiler.Compiler().compile(pipeline)
    if run_id:  # LocalDagRunner would name the run by the clock; ours names it first
        runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    start = time.time()
    with _quiet_progress(echo, verbose) as progress:
        try:
            with insisting_signals():  # Keras and TensorFlow can swallow what a signal raises
                ConcurrentLocalDagRunner(workers).run_with_ir(ir)
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


def beam_arg_problems(beam_args) -> list[str]:
    """Beam options that Beam would drop or reject, as messages (checked before a run)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            given = PipelineOptions(list(beam_args)).get_all_options(retain_unknown_options=True)
    except SystemExit:  # Beam's argparse rejects a value (e.g. not one of its choices): its last line says why
        return ["Beam: " + said.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]]
    except Exception as error:  # noqa: BLE001 - any other refusal, said as one line
        return [f"Beam rejects {' '.join(beam_args)}: {error}"]
    known = PipelineOptions([]).get_all_options()
    return [f"unknown Beam option --{name}" for name in given if name not in known]
