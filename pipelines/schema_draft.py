"""A SchemaGen draft of the data's schema, for a person to review against the curated one.

    CsvExampleGen -> StatisticsGen -> SchemaGen   (then the schema is copied to --out)

The curated schema (components/schema/) is never overwritten: inferred schemas only say
what the data happened to be; the curated one says what it must be.
"""

import os
import shutil

from tfx.components import SchemaGen
from tfx.orchestration.metadata import sqlite_metadata_connection_config
from tfx.orchestration.pipeline import Pipeline

from components import ingest
from components.statistics import StatisticsGen
from pipelines.runner import run_pipeline


def create_schema_draft_pipeline(input_base: str, input_pattern: str, home: str) -> Pipeline:
    example_gen = ingest.example_gen(input_base, input_pattern, (4, 1))
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    return Pipeline(
        pipeline_name="tandem-schema-draft",
        pipeline_root=os.path.join(home, "pipelines", "tandem-schema-draft"),
        components=[example_gen, statistics_gen, schema_gen],
        enable_cache=False,
        metadata_connection_config=sqlite_metadata_connection_config(
            os.path.join(home, "metadata", "tandem-schema-draft.sqlite")),
    )


def write_schema_draft(input_base: str, input_pattern: str, home: str, out: str) -> str:
    pipeline = create_schema_draft_pipeline(input_base, input_pattern, home)
    run_pipeline(pipeline)
    schema_dir = os.path.join(pipeline.pipeline_info.pipeline_root, "SchemaGen", "schema")
    latest = max(os.listdir(schema_dir), key=int)
    shutil.copyfile(os.path.join(schema_dir, latest, "schema.pbtxt"), out)
    return os.path.abspath(out)
