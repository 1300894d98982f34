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
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies, ExampleStatistics

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


def empty_splits(statistics: ExampleStatistics) -> list[str]:
    """TFDV finds no anomaly in a split without rows (nothing to compare): say it here."""
    problems = []
    for split in artifact_utils.decode_split_names(statistics.split_names):
        stats = tfdv.load_stats_binary(
            os.path.join(artifact_utils.get_split_uri([statistics], split), "FeatureStats.pb"))
        if sum(d.num_examples for d in stats.datasets) == 0:
            problems.append(f"{split}: dataset: no rows (an empty or header-only CSV file?)")
    return problems


@tfx.dsl.components.component
def AnomaliesGate(
    anomalies: tfx.dsl.components.InputArtifact[ExampleAnomalies],
    statistics: tfx.dsl.components.InputArtifact[ExampleStatistics],
    code: tfx.dsl.components.Parameter[str],  # a fingerprint of this code, for TFX's cache key
) -> None:
    """Fails the run when ExampleValidator found any anomaly, or a split has no rows."""
    del code
    problems = empty_splits(statistics) + anomaly_problems(anomalies)
    if problems:
        raise DataValidationError(problems, anomalies.uri)


def validation_components(examples, schema_file: str):
    """StatisticsGen -> ImportSchemaGen (curated) -> ExampleValidator -> gate."""
    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    schema_importer = tfx.components.ImportSchemaGen(schema_file=schema_file)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_importer.outputs["schema"])
    gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"],
                         statistics=statistics_gen.outputs["statistics"],
                         code=code_fingerprint(__name__))
    return statistics_gen, schema_importer, example_validator, gate
