"""components/materialize.py: TFX's Transform executor, with the transformed examples written
as Parquet. Run here through both executors' Do, as TFX's launcher calls it, on the same
examples (ExampleGen's, of the shipped sample) and the curated schema, with TFX's executor
as the reference: the same transformed rows, value for value; an artifact that says it holds
Parquet, which TFX's own reader (tfxio_utils, what a Trainer's data_accessor uses) reads as
such; and the columns the trainers load (pipelines/transformed_data.py)."""

import os
import shutil

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from apache_beam.testing.util import assert_that, equal_to
from helpers import TAXI, example_gen_do
from tfx.components.transform import executor as tfx_transform
from tfx.components.util import examples_utils, tfxio_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils, json_utils

from components import ingest, materialize
from components.front import PREPROCESSING_FN
from components.transform import TF_COMPAT_V1
from pipelines.transformed_data import load_split

pytestmark = pytest.mark.xdist_group("materialize")  # shares a module-scoped fixture


def artifact(kind, uri: str):
    made = kind()
    made.uri = uri
    return made


def transform_by(executor, examples, schema, out: str) -> tuple[standard_artifacts.Examples, str]:
    transformed = artifact(standard_artifacts.Examples, os.path.join(out, "transformed_examples"))
    graph = artifact(standard_artifacts.TransformGraph, os.path.join(out, "transform_graph"))
    executor.Do({"examples": [examples], "schema": [schema]},
                {"transform_graph": [graph], "transformed_examples": [transformed]},
                {"preprocessing_fn": PREPROCESSING_FN, "custom_config": json_utils.dumps({"dataset": "taxi"}),
                 "force_tf_compat_v1": int(TF_COMPAT_V1), "disable_statistics": 1})
    return transformed, graph.uri


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    work = tmp_path_factory.mktemp("materialize")
    examples = example_gen_do(ingest.CsvExecutor(), str(work / "examples"))
    (work / "schema").mkdir()
    shutil.copy(TAXI.schema_path, work / "schema")  # TFX reads the one file in the artifact's folder
    schema = artifact(standard_artifacts.Schema, str(work / "schema"))
    return {"tfx": transform_by(tfx_transform.Executor(), examples, schema, str(work / "tfx")),
            "ours": transform_by(materialize.Executor(), examples, schema, str(work / "ours"))}


def tfx_rows(transformed, graph: str, split: str) -> list[tuple]:
    """TFX's executor's TFRecords of tf.Examples, parsed with the Transform's feature spec."""
    spec = tft.TFTransformOutput(graph).transformed_feature_spec()
    pattern = io_utils.all_files_pattern(artifact_utils.get_split_uri([transformed], split))
    parsed = tf.io.parse_example(list(tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), "GZIP")), spec)
    return sorted(zip(*(parsed[name].numpy().ravel().tolist() for name in sorted(spec)), strict=True))


def column_rows(columns: dict) -> list[tuple]:
    return sorted(zip(*(columns[name].tolist() for name in sorted(columns)), strict=True))


@pytest.mark.parametrize("split", ["train", "eval"])
def test_the_trainers_read_the_rows_tfx_s_transform_writes(both, split):
    ours, _ = both["ours"]
    files = os.listdir(artifact_utils.get_split_uri([ours], split))
    assert files and all(name.endswith(".parquet") for name in files)
    columns = load_split([io_utils.all_files_pattern(artifact_utils.get_split_uri([ours], split))])
    expected = tfx_rows(*both["tfx"], split)
    assert len(expected) > 0 and column_rows(columns) == expected  # every value, bit for bit (float32 both)
    label = columns[TAXI.label.name]
    assert label.dtype == np.int64 and set(label.tolist()) == {0, 1}


def test_the_artifact_says_parquet_and_tfx_s_reader_reads_it(both):
    ours, graph = both["ours"]
    assert examples_utils.get_file_format(ours) == "FILE_FORMAT_PARQUET"
    assert examples_utils.get_payload_format(ours) == example_gen_pb2.FORMAT_PARQUET
    tfx, _ = both["tfx"]
    assert examples_utils.get_payload_format(tfx) == example_gen_pb2.FORMAT_TF_EXAMPLE  # TFX's, unmarked
    schema = tft.TFTransformOutput(graph).transformed_metadata.schema
    tfxio = tfxio_utils.get_tfxio_factory_from_artifact([ours], ["tandem", "test"], schema=schema)(
        io_utils.all_files_pattern(artifact_utils.get_split_uri([ours], "eval")))
    expected = tfx_rows(*both["tfx"], "eval")

    def rows(batch):
        return zip(*(batch.column(name).flatten().to_numpy().tolist() for name in sorted(batch.schema.names)),
                   strict=True)
    with beam.Pipeline() as pipeline:  # TFX's Parquet reader is a Beam source
        read = pipeline | tfxio.BeamSource() | beam.FlatMap(rows)
        assert_that(read, equal_to(expected))


@pytest.mark.parametrize("split", ["train", "eval"])
def test_a_file_s_rows_make_one_row_group_not_one_per_record_batch(both, split):
    """Beam's sink writes each table it gets as a row group, and tf.Transform's record batches
    are small (here: 10 of them for the 338 train rows); read back group by group they made
    reading slow (materialize.py). One bundle (in-process DirectRunner), fewer rows than a row
    group holds: one row group a file."""
    folder = artifact_utils.get_split_uri([both["ours"][0]], split)
    files = [pq.ParquetFile(os.path.join(folder, name)).metadata for name in os.listdir(folder)]
    assert 0 < sum(f.num_rows for f in files) < materialize.ROW_GROUP_ROWS
    assert [f.num_row_groups for f in files] == [1] * len(files)
