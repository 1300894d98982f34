"""What a run did, read back from ML Metadata: anomalies, and per branch its metrics,
blessing and push."""

from dataclasses import dataclass, field

import tensorflow_model_analysis as tfma
from google.protobuf import text_format

from pipelines.branches import BRANCHES
from pipelines.metadata import Execution, Metadata


@dataclass
class BranchSummary:
    metrics: dict[str, float] = field(default_factory=dict)  # overall slice, candidate model
    blessed: bool | None = None
    failed_thresholds: list[str] = field(default_factory=list)
    served: bool | None = None  # the infra validator's verdict: the model's server loaded it and answered
    served_how: str = ""
    pushed_version: str | None = None
    pushed_path: str | None = None
    pushed_again: bool = True  # False: the newest pushed version already held this model

    def lines(self) -> list[str]:
        out = []
        if self.metrics:
            out.append("metrics (eval split): " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(self.metrics.items())))
        if self.blessed is not None:
            out.append(f"blessed: {'yes' if self.blessed else 'no'}")
            out += [f"  - failed: {f}" for f in self.failed_thresholds]
        if self.served is not None:
            out.append(f"infra validated: {'yes' if self.served else 'no'} ({self.served_how})")
        if not self.pushed_version:
            out.append("pushed: nothing")
        elif self.pushed_again:
            out.append(f"pushed: version {self.pushed_version} -> {self.pushed_path}")
        else:
            out.append(f"pushed: already pushed as version {self.pushed_version} -> {self.pushed_path}")
        return out


@dataclass
class RunSummary:
    run_id: str
    anomalies: list[str] = field(default_factory=list)
    drift_baseline_span: int | None = None  # the span drift was measured against; -1: none before
    branches: dict[str, BranchSummary] = field(default_factory=dict)  # branch key -> summary, those that ran

    def lines(self) -> list[str]:
        out = [f"anomalies: {'none' if not self.anomalies else len(self.anomalies)}"]
        out += [f"  - {a}" for a in self.anomalies]
        if self.drift_baseline_span is not None:
            out.append("drift: not checked (no previous span)" if self.drift_baseline_span < 0
                       else f"drift since span {self.drift_baseline_span}: none above the schema's thresholds")
        for name, branch in self.branches.items():
            out += [f"[{name}] {line}" for line in branch.lines()]
        return out


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


def failed_thresholds(uri: str) -> list[str]:
    result = tfma.load_validation_result(uri)
    failed = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            which = "change vs. the last blessed model" if failure.metric_key.is_diff else "value"
            failed.append(f"{failure.metric_key.name} ({which}) = {failure.metric_value.double_value.value:.4f}, "
                          f"threshold {text_format.MessageToString(failure.metric_threshold, as_one_line=True)}")
    return failed


def branch_summary(evaluator: Execution, infra: Execution | None, pusher: Execution | None) -> BranchSummary:
    summary = BranchSummary()
    if infra is not None and "blessing" in infra.outputs:
        verdict = infra.output("blessing")
        summary.served = verdict.get_int_custom_property("blessed") == 1
        summary.served_how = verdict.get_string_custom_property("reason")
    if "blessing" in evaluator.outputs:
        summary.blessed = evaluator.output("blessing").get_int_custom_property("blessed") == 1
    if "evaluation" in evaluator.outputs:
        uri = evaluator.output("evaluation").uri
        summary.metrics = candidate_metrics(uri)[0]
        summary.failed_thresholds = failed_thresholds(uri)
    if pusher is not None and "pushed_model" in pusher.outputs:
        pushed = pusher.output("pushed_model")
        if pushed.get_int_custom_property("pushed") == 1:
            summary.pushed_version = pushed.get_string_custom_property("pushed_version")
            summary.pushed_path = pushed.get_string_custom_property("pushed_destination")
            if pushed.has_custom_property("pushed_again"):
                summary.pushed_again = pushed.get_int_custom_property("pushed_again") == 1
    return summary


def run_summary(metadata_path: str, run_id: str | None = None) -> RunSummary:
    """A run's summary (by default the latest run's)."""
    metadata = Metadata(metadata_path)
    run_id = run_id or metadata.latest_run_id()
    executions = metadata.run(run_id)
    summary = RunSummary(run_id=run_id)
    if "ExampleValidator" in executions and "anomalies" in executions["ExampleValidator"].outputs:
        # Imported here: it brings TFX's components (and with them PyTorch, seconds), which the
        # comparison, reading only metrics from this module, does not need.
        from components.validate import anomaly_problems

        summary.anomalies = anomaly_problems(executions["ExampleValidator"].output("anomalies"))
    gate = executions.get("AnomaliesGate")
    if gate is not None and "validated" in gate.outputs:
        summary.drift_baseline_span = gate.output("validated").get_int_custom_property("drift_baseline_span")
    for key, branch in BRANCHES.items():
        if branch.evaluator_id in executions:
            summary.branches[key] = branch_summary(executions[branch.evaluator_id],
                                                   executions.get(branch.infra_validator_id),
                                                   executions.get(branch.pusher_id))
    return summary
