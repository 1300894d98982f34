"""Run a pipeline locally: TFX's LocalDagRunner, Beam's DirectRunner, MLMD in SQLite.

Shows each component as it starts and ends (from LocalDagRunner's own log lines), and
turns a failed run into one clear error: the gate's report, or the component and the
root cause for anything else (e.g. a CSV file ExampleGen cannot read).
"""

import logging
import os
import time
from contextlib import contextmanager

from absl import logging as absl_logging
from tfx import v1 as tfx

from components.validate import DataValidationError

_RUNNING, _FINISHED, _CACHED = "Component %s is running.", "Component %s is finished.", "A cached execution %d is used."


class PipelineError(RuntimeError):
    """A component failed for a reason other than the data validation gate."""

    def __init__(self, component: str, cause: BaseException):
        self.component, self.cause = component, cause
        super().__init__(f"{component} failed: {root_cause_message(cause)}")


def root_cause_message(error: BaseException) -> str:
    """The innermost exception's message: Beam wraps errors in several layers of context."""
    while error.__cause__ or error.__context__:
        error = error.__cause__ or error.__context__
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    message = lines[-1] if lines else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class _Progress(logging.Handler):
    """Turns LocalDagRunner's log records into one line per component start and end."""

    def __init__(self, echo):
        super().__init__(logging.INFO)
        self.echo, self.start, self.current, self.cached, self.began = echo, time.time(), None, False, 0.0

    def emit(self, record):
        if record.msg == _RUNNING:
            self.current, self.cached, self.began = record.args[0], False, time.time()
            self.echo(f"[{time.time() - self.start:6.1f}s] {self.current:<32} started")
        elif record.msg == _CACHED:
            self.cached = True
        elif record.msg == _FINISHED:
            took = time.time() - self.began
            state = "cached" if self.cached else f"done in {took:.1f}s"
            self.echo(f"[{time.time() - self.start:6.1f}s] {record.args[0]:<32} {state}")
            self.current = None


@contextmanager
def _quiet_progress(echo, verbose: bool):
    absl_logging.set_verbosity(absl_logging.INFO)  # LocalDagRunner reports progress at INFO
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
        for handler, level in zip(handlers, levels):
            handler.setLevel(level)


def run_pipeline(pipeline: tfx.dsl.Pipeline, echo=print, verbose: bool = False) -> float:
    """Run to the end or raise DataValidationError / PipelineError; returns seconds taken."""
    os.makedirs(os.path.dirname(pipeline.metadata_connection_config.sqlite.filename_uri), exist_ok=True)
    start = time.time()
    with _quiet_progress(echo, verbose) as progress:
        try:
            tfx.orchestration.LocalDagRunner().run(pipeline)
        except DataValidationError:
            raise
        except Exception as error:  # noqa: BLE001 - every failure becomes one clear message
            gate_error = _find(error, DataValidationError)
            if gate_error:
                raise gate_error from None
            raise PipelineError(progress.current or "pipeline", error) from error
    return time.time() - start


def _find(error: BaseException, kind):
    while error is not None:
        if isinstance(error, kind):
            return error
        error = error.__cause__ or error.__context__
    return None
