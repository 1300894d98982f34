"""pipelines/transformed_data.load_split: how both trainers read the Transform's output.
A tf.Transform output with a float and an int feature, and TFRecord shards of transformed
examples written here as Transform writes them (gzip), read back as columns."""

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from pipelines.transformed_data import load_split

ROWS = [(0.5, 1), (-1.25, 0), (3.0, 1), (2.0, 0), (0.0, 0)]  # (z, label)


@pytest.fixture(scope="module")
def tf_transform_output(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("tft"))
    spec = {"x": tf.io.FixedLenFeature([], tf.float32), "label": tf.io.FixedLenFeature([], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))

    def preprocessing_fn(inputs):
        return {"z": tft.scale_to_z_score(inputs["x"]), "label": inputs["label"]}

    with tft_beam.Context(temp_dir=out):
        transform_fn = ([{"x": 1.0, "label": 0}, {"x": 2.0, "label": 1}], metadata) | tft_beam.AnalyzeDataset(
            preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    return tft.TFTransformOutput(out)


def example(**features) -> bytes:
    kinds = {float: lambda v: tf.train.Feature(float_list=tf.train.FloatList(value=v)),
             int: lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=v))}
    return tf.train.Example(features=tf.train.Features(feature={
        name: kinds[type(values[0]) if values else float](values) for name, values in features.items()
    })).SerializeToString()


def write(folder, name: str, records: list[bytes], compressed: bool = True) -> None:
    os.makedirs(folder, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, name), "GZIP" if compressed else None) as writer:
        for record in records:
            writer.write(record)


def rows_of(columns) -> list[tuple]:
    return sorted(zip(columns["z"].tolist(), columns["label"].tolist(), strict=True))


def test_every_row_of_every_shard_comes_back_once_as_one_value_per_feature(tf_transform_output, tmp_path):
    records = [example(z=[z], label=[label]) for z, label in ROWS]
    write(tmp_path, "transformed_examples-00000-of-00002.gz", records[:2])
    write(tmp_path, "transformed_examples-00001-of-00002.gz", records[2:])
    columns = load_split([str(tmp_path / "*")], tf_transform_output, batch_size=2)
    assert columns["z"].dtype == np.float32 and columns["label"].dtype == np.int64
    assert rows_of(columns) == sorted(ROWS)


def test_uncompressed_shards_are_read_too(tf_transform_output, tmp_path):
    write(tmp_path, "part-0", [example(z=[z], label=[label]) for z, label in ROWS], compressed=False)
    assert rows_of(load_split([str(tmp_path / "*")], tf_transform_output)) == sorted(ROWS)
    with open(tmp_path / "part-0", "rb") as f, gzip.open(tmp_path / "other.gz", "wb") as g:
        g.write(f.read())  # one gzip shard beside a plain one: which is it?
    with pytest.raises(ValueError, match="transformed examples in .*"):
        load_split([str(tmp_path / "*")], tf_transform_output)


@pytest.mark.parametrize("bad, says", [
    ({"z": [1.0]}, r"Feature: label .* is required but could not be found"),  # a value missing
    ({"z": [1.0, 2.0], "label": [1]}, r"Key: z, .*Values size: 2"),          # two values where Transform writes one
], ids=["missing", "repeated"])
def test_a_row_without_exactly_one_value_per_feature_is_an_error_naming_the_feature(tf_transform_output, tmp_path,
                                                                                   bad, says):
    write(tmp_path, "transformed_examples-00000-of-00001.gz", [example(z=[0.5], label=[1]), example(**bad)])
    with pytest.raises(ValueError, match=rf"transformed examples in .*{says}"):
        load_split([str(tmp_path / "*")], tf_transform_output)


def test_a_split_without_rows_gives_empty_columns(tf_transform_output, tmp_path):
    write(tmp_path, "transformed_examples-00000-of-00001.gz", [])
    columns = load_split([str(tmp_path / "*")], tf_transform_output)
    assert {name: (len(values), values.dtype) for name, values in columns.items()} == {
        "z": (0, np.float32), "label": (0, np.int64)}
