"""Validation: statistics, the curated schema, anomalies, and the gate that acts on them.

ExampleValidator only records anomalies; a TFX run goes on regardless. `AnomaliesGate`
fails the run when any split has an anomaly, and Transform runs after it, so nothing
downstream (training, evaluation, push) happens on bad data.
"""

import hashlib
import os
import shutil

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components import ExampleValidator
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.types import artifact_utils
from tfx.types.channel import Channel
from tfx.types.standard_artifacts import ExampleAnomalies, Examples, ExampleStatistics, Schema
from tfx.utils import io_utils

from components.fingerprint import code_fingerprint


class DataValidationError(RuntimeError):
    """The data does not match the curated schema; `report_uri` holds the full report."""

    def __init__(self, problems: list[str], report_uri: str):
        self.problems, self.report_uri = problems, report_uri
        super().__init__(
            "data validation failed; the data does not match the curated schema:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + f"\nfull report (ExampleAnomalies): {report_uri}")


def stage_schema(schema_file: str, folder: str) -> str:
    """Copy the schema to a path named by its content and return that path.

    ImportSchemaGen's cache key holds the schema's path, not its content: importing from a
    content-addressed copy makes an edited schema a cache miss for it and all it feeds.
    """
    with open(schema_file, "rb") as f:
        content = f.read()
    staged = os.path.join(folder, hashlib.sha256(content).hexdigest()[:16], "schema.pbtxt")
    if not os.path.exists(staged):
        os.makedirs(os.path.dirname(staged), exist_ok=True)
        shutil.copyfile(schema_file, staged + ".tmp")
        os.replace(staged + ".tmp", staged)
    return staged


def anomaly_problems(anomalies: ExampleAnomalies) -> list[str]:
    """One line per anomalous feature and split: `split: feature: what is wrong`."""
    problems = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), "SchemaDiff.pb")
        report = anomalies_util.load_anomalies_binary(path)
        for feature, info in sorted(report.anomaly_info.items()):
            detail = "; ".join(r.description for r in info.reason) or info.description
            problems.append(f"{split}: feature '{feature}': {info.short_description} ({detail})")
        if report.HasField("dataset_anomaly_info"):
            info = report.dataset_anomaly_info
            problems.append(f"{split}: dataset: {info.short_description} ({info.description})")
    return problems


def _split_statistics(statistics: ExampleStatistics, split: str):
    return tfdv.load_stats_binary(os.path.join(artifact_utils.get_split_uri([statistics], split), "FeatureStats.pb"))


def empty_splits(statistics: ExampleStatistics) -> list[str]:
    """TFDV finds no anomaly in a split without rows (nothing to compare): say it here."""
    return [f"{split}: dataset: no rows (an empty or header-only CSV file?)"
            for split in artifact_utils.decode_split_names(statistics.split_names)
            if sum(d.num_examples for d in _split_statistics(statistics, split).datasets) == 0]


def span_of(artifact) -> int:
    """ExampleGen records the span as a custom property (the `span` property stays 0)."""
    return artifact.get_int_custom_property("span") if artifact.has_custom_property("span") else artifact.span


def previous_span(span: int, history: list) -> ExampleStatistics | None:
    """Of the statistics that passed the gate before, those of the latest span before `span`."""
    earlier = [h for h in history if span_of(h) < span]
    return max(earlier, key=lambda h: (span_of(h), h.id)) if earlier else None


class RecentArtifacts(LatestArtifactStrategy):
    """TFX's LatestArtifactStrategy, returning up to `desired_num_of_artifacts` (TFX's own
    returns nothing until that many exist)."""

    def resolve_artifacts(self, store, input_dict):
        return self._resolve(input_dict)


def drift_problems(statistics: ExampleStatistics, baseline: ExampleStatistics, schema) -> list[str]:
    """The schema's drift comparators (L-infinity, Jensen-Shannon divergence) between the
    training splits of this span and of the previous one. TFX's ExampleValidator has no
    previous statistics, so it never applies them: the gate does."""
    report = tfdv.validate_statistics(_split_statistics(statistics, "train"), schema,
                                      previous_statistics=_split_statistics(baseline, "train"))
    return [f"train: feature '{feature}': drift since span {span_of(baseline)}: {reason.description}"
            for feature, info in sorted(report.anomaly_info.items()) for reason in info.reason
            if reason.type in DRIFT]


DRIFT = (anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
         anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH)


@component
def AnomaliesGate(
    examples: InputArtifact[Examples],
    anomalies: InputArtifact[ExampleAnomalies],
    statistics: InputArtifact[ExampleStatistics],
    schema: InputArtifact[Schema],
    validated: OutputArtifact[ExampleStatistics],
    code: Parameter[str],  # a fingerprint of this code, for TFX's cache key
    history: InputArtifact[list[ExampleStatistics]] = None,  # what passed before
) -> None:
    """Fails the run when ExampleValidator found any anomaly, a split has no rows, or the
    span drifted from the previous one; else publishes the statistics as `validated`, the
    baseline the next span's drift is measured against."""
    del code
    problems = empty_splits(statistics) + anomaly_problems(anomalies)
    span = span_of(examples)
    baseline = previous_span(span, list(history or []))
    if baseline is not None:
        curated = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema.uri))
        problems += drift_problems(statistics, baseline, curated)
    if problems:
        raise DataValidationError(problems, anomalies.uri)
    io_utils.copy_dir(statistics.uri, validated.uri)
    validated.split_names = statistics.split_names
    validated.set_int_custom_property("span", span)
    validated.set_int_custom_property("drift_baseline_span", -1 if baseline is None else span_of(baseline))


def validation_components(examples, statistics_gen, schema_file: str):
    """StatisticsGen's statistics -> ImportSchemaGen (curated) -> ExampleValidator -> gate
    (with drift). StatisticsGen comes from components/statistics.py, which this module does
    not import: the gate's code fingerprint covers only the code it runs."""
    schema_importer = ImportSchemaGen(schema_file=schema_file)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_importer.outputs["schema"])
    history = Resolver(
        strategy_class=RecentArtifacts,
        config={"desired_num_of_artifacts": HISTORY},
        statistics=Channel(type=ExampleStatistics, producer_component_id="AnomaliesGate",
                                   output_key="validated"),
    ).with_id("ValidatedStatisticsHistory")
    gate = AnomaliesGate(examples=examples,
                         anomalies=example_validator.outputs["anomalies"],
                         statistics=statistics_gen.outputs["statistics"],
                         schema=schema_importer.outputs["schema"],
                         history=history.outputs["statistics"],
                         code=code_fingerprint(__name__))
    return schema_importer, example_validator, history, gate


HISTORY = 20  # validated statistics the gate looks through for the previous span
