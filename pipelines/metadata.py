"""Read what runs recorded in ML Metadata: each component's executions, and their input and
output artifacts by TFX's own event keys ("model", "evaluation", "blessing", ...), as TFX
artifacts. The one reader the summary, the comparison and the CLI use.

Importing it costs no TensorFlow (TFX's artifact classes import it, seconds): that waits for
the first artifact read, so that a command can start other work first (the comparison's
scoring processes)."""

from dataclasses import dataclass, field

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

FINISHED = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


class NoRunError(LookupError):
    """The metadata store has no (finished) run of what was asked for."""


@dataclass
class Execution:
    component: str  # the component id, e.g. "KerasEvaluator"
    id: int
    state: int  # metadata_store_pb2.Execution.State
    inputs: dict[str, list] = field(default_factory=dict)  # event key -> TFX artifacts
    outputs: dict[str, list] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def output(self, key: str):
        """The one output artifact under `key`."""
        (artifact,) = self.outputs[key]
        return artifact

    def input(self, key: str):
        (artifact,) = self.inputs[key]
        return artifact


class Metadata:
    def __init__(self, path: str):
        config = metadata_store_pb2.ConnectionConfig()  # as TFX's sqlite_metadata_connection_config
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)

    def _component(self, execution) -> str:
        nodes = [c for c in self.store.get_contexts_by_execution(execution.id) if c.type == "node"]
        return nodes[0].name.rsplit(".", 1)[-1] if nodes else ""

    def _execution(self, execution) -> Execution:
        from tfx.types import artifact_utils  # TensorFlow: see the module's docstring

        out = Execution(self._component(execution), execution.id, execution.last_known_state)
        events = self.store.get_events_by_execution_ids([execution.id])
        artifacts = {a.id: a for a in self.store.get_artifacts_by_id([e.artifact_id for e in events])}
        types = {t.id: t for t in self.store.get_artifact_types_by_id(list({a.type_id for a in artifacts.values()}))}
        for event in events:
            keys = [step.key for step in event.path.steps if step.HasField("key")]
            if not keys:
                continue
            artifact = artifacts[event.artifact_id]
            tfx_artifact = artifact_utils.deserialize_artifact(types[artifact.type_id], artifact)
            side = out.outputs if event.type == metadata_store_pb2.Event.OUTPUT else out.inputs
            side.setdefault(keys[0], []).append(tfx_artifact)
        return out

    def latest_run_id(self) -> str:
        runs = self.store.get_contexts_by_type("pipeline_run")
        if not runs:
            raise NoRunError("no pipeline run recorded in the metadata store yet")
        return max(runs, key=lambda c: (c.create_time_since_epoch, c.id)).name

    def run(self, run_id: str) -> dict[str, Execution]:
        """A run's executions by component id (the last one where a component ran twice)."""
        context = self.store.get_context_by_type_and_name("pipeline_run", run_id)
        if context is None:
            raise NoRunError(f"no pipeline run {run_id!r} in the metadata store")
        executions = sorted(self.store.get_executions_by_context(context.id), key=lambda e: e.id)
        return {e.component: e for e in map(self._execution, executions)}

    def producer(self, artifact) -> Execution:
        """The execution that output `artifact` (e.g. the Trainer of a Model)."""
        events = [e for e in self.store.get_events_by_artifact_ids([artifact.id])
                  if e.type == metadata_store_pb2.Event.OUTPUT]
        if not events:
            raise NoRunError(f"no execution recorded as the producer of {artifact.uri}")
        (execution,) = self.store.get_executions_by_id([events[0].execution_id])
        return self._execution(execution)

    def finished(self, component: str) -> list[Execution]:
        """A component's completed executions, in any run, newest first. (A cached execution
        reuses a completed one's outputs and records no inputs: the completed one stands for it.)"""
        nodes = [c for c in self.store.get_contexts_by_type("node") if c.name.endswith("." + component)]
        executions = [e for c in nodes for e in self.store.get_executions_by_context(c.id)
                      if e.last_known_state == metadata_store_pb2.Execution.COMPLETE]
        executions.sort(key=lambda e: (e.create_time_since_epoch, e.id), reverse=True)
        return [self._execution(e) for e in executions]

    def latest_finished(self, component: str, where=lambda execution: True) -> Execution:
        """The latest completed execution of a component (that `where` accepts), in any run."""
        for execution in self.finished(component):
            if where(execution):
                return execution
        raise NoRunError(f"no finished {component} run in the metadata store")

    def run_of(self, execution: Execution) -> str:
        """The id of the run an execution belongs to."""
        runs = [c for c in self.store.get_contexts_by_execution(execution.id) if c.type == "pipeline_run"]
        return runs[0].name if runs else ""
