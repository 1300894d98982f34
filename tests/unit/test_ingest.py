"""components/ingest.py: TFX's CSV ExampleGen executor, writing each split without TFX's
reshuffle on DirectRunner. Run here through both executors' Do, as TFX's launcher calls it,
on the shipped sample."""

import os

import pytest
import tensorflow as tf
from helpers import SAMPLE_CSV
from tfx.components.example_gen import write_split
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

import components.ingest as ingest


def run(executor, out: str) -> dict[str, list[bytes]]:
    """{split: its examples, serialized deterministically and sorted}."""
    examples = standard_artifacts.Examples()
    examples.uri = out
    exec_properties = {
        "input_base": os.path.dirname(SAMPLE_CSV),
        "input_config": proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=os.path.basename(SAMPLE_CSV))])),
        "output_config": proto_utils.proto_to_json(ingest.split_config((4, 1))),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    executor.Do({}, {"examples": [examples]}, exec_properties)
    found = {}
    for split in ("train", "eval"):
        files = tf.io.gfile.glob(os.path.join(out, f"Split-{split}", "*"))
        found[split] = sorted(tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
                              for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    return found


@pytest.fixture
def writes(monkeypatch):
    """How many splits tandem's unshuffled write wrote."""
    count = []
    unshuffled = ingest._write_unshuffled

    def counted(*args, **kwargs):
        count.append(1)
        return unshuffled(*args, **kwargs)

    monkeypatch.setattr(ingest, "_write_unshuffled", counted)
    return count


TFX_WRITE = write_split.WriteSplit


def test_on_direct_runner_the_splits_hold_what_tfx_writes_without_its_reshuffle(tmp_path, writes):
    ours = run(ingest.CsvExecutor(), str(tmp_path / "ours"))
    assert len(writes) == 2  # both splits, written without the reshuffle
    assert write_split.WriteSplit is TFX_WRITE  # TFX's own again, after Do
    theirs = run(tfx_csv.Executor(), str(tmp_path / "tfx"))
    assert len(writes) == 2
    assert ours == theirs and len(ours["train"]) + len(ours["eval"]) == 400 and ours["eval"]


def test_tfx_s_write_is_back_when_do_fails(tmp_path, writes):
    with pytest.raises(Exception, match="does not match any files|No such file|not found"):
        examples = standard_artifacts.Examples()
        examples.uri = str(tmp_path)
        ingest.CsvExecutor().Do({}, {"examples": [examples]}, {
            "input_base": str(tmp_path / "nothing"),
            "input_config": proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
                example_gen_pb2.Input.Split(name="single_split", pattern="*.csv")])),
            "output_config": proto_utils.proto_to_json(ingest.split_config((4, 1)))})
    assert write_split.WriteSplit is TFX_WRITE
