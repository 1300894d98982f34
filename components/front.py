"""The shared front of both pipelines, as one function that returns its components.

    ExampleGen -> StatisticsGen -> ImportSchemaGen (curated) -> ExampleValidator
               -> gate (anomalies, empty splits, drift since the previous span)
               -> Transform (runs only after the gate passed)

Both branches wire their trainers to `Front.transform`, so they train on the very same
validated, transformed examples.
"""

from dataclasses import dataclass

from tfx.components import ExampleValidator
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base.base_node import BaseNode

from components import datasets, ingest, statistics, validate
from components.fingerprint import code_fingerprint
from components.materialize import Transform
from components.statistics import StatisticsGen
from components.transform import TF_COMPAT_V1

PREPROCESSING_FN = "components.transform.preprocessing_fn"


@dataclass(frozen=True)
class FrontConfig:
    input_base: str  # a folder of CSV files
    schema_file: str  # the curated schema (a content-addressed copy, see validate.stage_schema)
    input_pattern: str = "*"  # files in input_base; may hold {SPAN}
    dataset: str = datasets.DEFAULT  # a package in components/datasets/
    split_buckets: tuple[int, int] = (4, 1)  # train/eval hash buckets: 80 % / 20 %


@dataclass(frozen=True)
class Front:
    example_gen: FileBasedExampleGen  # TFX's CSV ExampleGen (components/ingest.py)
    statistics_gen: StatisticsGen  # TFX's; all splits in one pass, or ExampleGen's (components/statistics.py)
    schema_importer: ImportSchemaGen
    example_validator: ExampleValidator
    history: BaseNode  # the statistics earlier spans passed the gate with (drift baselines)
    gate: BaseNode
    transform: Transform  # TFX's, writing the transformed examples as Parquet (components/materialize.py)

    def components(self) -> list:
        return [self.example_gen, self.statistics_gen, self.schema_importer,
                self.example_validator, self.history, self.gate, self.transform]


def create_front(cfg: FrontConfig) -> Front:
    example_gen = ingest.example_gen(cfg.input_base, cfg.input_pattern, cfg.split_buckets, statistics.OPTIONS)
    statistics_gen = statistics.statistics_gen(example_gen.outputs["examples"])
    schema_importer, example_validator, history, gate = validate.validation_components(
        example_gen.outputs["examples"], statistics_gen, cfg.schema_file)
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_importer.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        # StatisticsGen already described the raw data; skip Transform's own statistics.
        disable_statistics=True,
        force_tf_compat_v1=TF_COMPAT_V1,
        custom_config={"dataset": cfg.dataset,  # the code: preprocessing_fn's, the dataset's, the executor's
                       "code": code_fingerprint(PREPROCESSING_FN.rsplit(".", 1)[0],
                                                datasets.load(cfg.dataset).package, Transform.__module__)},
    )
    transform.add_upstream_node(gate)
    return Front(example_gen, statistics_gen, schema_importer, example_validator, history, gate, transform)
