"""What the latest run did, read back from ML Metadata: anomalies, and per framework
branch its metrics, blessing and push."""

from dataclasses import dataclass, field

import tensorflow_model_analysis as tfma
from google.protobuf import text_format
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.validate import anomaly_problems

# framework -> (its evaluator's id, its pusher's id), as pipelines/*_pipeline.py name them
BRANCH_NODES = {"tf": ("KerasEvaluator", "KerasPusher"), "torch": ("TorchEvaluator", "TorchServePusher")}


@dataclass
class BranchSummary:
    metrics: dict[str, float] = field(default_factory=dict)  # overall slice, candidate model
    blessed: bool | None = None
    failed_thresholds: list[str] = field(default_factory=list)
    pushed_version: str | None = None
    pushed_path: str | None = None

    def lines(self) -> list[str]:
        out = []
        if self.metrics:
            out.append("metrics (eval split): " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(self.metrics.items())))
        if self.blessed is not None:
            out.append(f"blessed: {'yes' if self.blessed else 'no'}")
            out += [f"  - failed: {f}" for f in self.failed_thresholds]
        out.append(f"pushed: version {self.pushed_version} -> {self.pushed_path}" if self.pushed_version
                   else "pushed: nothing")
        return out


@dataclass
class RunSummary:
    run_id: str
    anomalies: list[str] = field(default_factory=list)
    branches: dict[str, BranchSummary] = field(default_factory=dict)  # "tf" / "torch" that ran

    def lines(self) -> list[str]:
        out = [f"anomalies: {'none' if not self.anomalies else len(self.anomalies)}"]
        out += [f"  - {a}" for a in self.anomalies]
        for name, branch in self.branches.items():
            out += [f"[{name}] {line}" for line in branch.lines()]
        return out


def open_metadata_store(metadata_path: str) -> metadata_store.MetadataStore:
    return metadata_store.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path))


def _outputs_of_latest_run(store) -> tuple[str, dict[str, list[metadata_store_pb2.Artifact]]]:
    """The run id, and the output artifacts of its executions keyed by component id."""
    runs = store.get_contexts_by_type("pipeline_run")
    if not runs:
        raise LookupError("no pipeline run recorded in the metadata store yet")
    run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    outputs: dict[str, list] = {}
    for execution in store.get_executions_by_context(run.id):
        nodes = [c for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
        component = nodes[0].name.rsplit(".", 1)[-1] if nodes else ""
        events = store.get_events_by_execution_ids([execution.id])
        ids = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
        outputs.setdefault(component, []).extend(store.get_artifacts_by_id(ids))
    return run.name, outputs


def candidate_metrics(uri: str) -> tuple[dict[str, float], dict[str, dict]]:
    """A ModelEvaluation's metrics of the candidate model: overall, and
    {slice feature: {value: metrics}} for single-feature slices."""
    overall, slices = {}, {}
    for per_slice in tfma.load_metrics(uri):
        values = {kv.key.name: kv.value.double_value.value for kv in per_slice.metric_keys_and_values
                  if kv.key.model_name != "baseline" and not kv.key.is_diff and kv.value.HasField("double_value")}
        keys = per_slice.slice_key.single_slice_keys
        if not keys:
            overall = values
        elif len(keys) == 1:
            key = keys[0]
            value = key.bytes_value.decode() if key.HasField("bytes_value") else (
                key.int64_value if key.HasField("int64_value") else key.float_value)
            slices.setdefault(key.column, {})[value] = values
    return overall, slices


def _failed_thresholds(uri: str) -> list[str]:
    result = tfma.load_validation_result(uri)
    failed = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            which = "change vs. the last blessed model" if failure.metric_key.is_diff else "value"
            failed.append(f"{failure.metric_key.name} ({which}) = {failure.metric_value.double_value.value:.4f}, "
                          f"threshold {text_format.MessageToString(failure.metric_threshold, as_one_line=True)}")
    return failed


def _branch(outputs: dict, evaluator_id: str, pusher_id: str) -> BranchSummary:
    branch = BranchSummary()
    for artifact in outputs.get(evaluator_id, []):
        if "blessed" in artifact.custom_properties:  # the ModelBlessing
            branch.blessed = artifact.custom_properties["blessed"].int_value == 1
        elif artifact.uri:  # the ModelEvaluation
            branch.metrics = candidate_metrics(artifact.uri)[0]
            branch.failed_thresholds = _failed_thresholds(artifact.uri)
    for pushed in outputs.get(pusher_id, []):
        props = pushed.custom_properties
        if "pushed" in props and props["pushed"].int_value == 1:
            branch.pushed_version = props["pushed_version"].string_value
            branch.pushed_path = props["pushed_destination"].string_value
    return branch


def latest_run_summary(metadata_path: str) -> RunSummary:
    run_id, outputs = _outputs_of_latest_run(open_metadata_store(metadata_path))
    summary = RunSummary(run_id=run_id)
    for anomalies in outputs.get("ExampleValidator", []):
        summary.anomalies += anomaly_problems(_as_tfx_artifact(anomalies, "ExampleAnomalies"))
    for name, (evaluator_id, pusher_id) in BRANCH_NODES.items():
        if evaluator_id in outputs:
            summary.branches[name] = _branch(outputs, evaluator_id, pusher_id)
    return summary


def _as_tfx_artifact(artifact: metadata_store_pb2.Artifact, type_name: str):
    tfx_artifact = getattr(tfx.types.standard_artifacts, type_name)()
    tfx_artifact.set_mlmd_artifact(artifact)
    return tfx_artifact
