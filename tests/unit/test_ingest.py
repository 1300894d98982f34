"""components/ingest.py: TFX's CSV ExampleGen executor, converting rows in batches and
writing each split without TFX's reshuffle, uncompressed, on DirectRunner. Run here through
both executors' Do, as TFX's launcher calls it, on the shipped sample and on a CSV of the
cases where typing and encoding could differ."""

import os
from pathlib import Path

import pytest
import tensorflow as tf
from helpers import EDGE_CSV, SAMPLE_CSV, example_gen_do
from tfx.components.example_gen import write_split
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

import components.ingest as ingest


def run(executor, out: str, csv: str = SAMPLE_CSV) -> dict[str, list[bytes]]:
    example_gen_do(executor, out, csv)
    return read_splits(out)


def read_splits(out: str) -> dict[str, list[bytes]]:
    """{split: its examples, serialized deterministically and sorted}."""
    found = {}
    for split in ("train", "eval"):
        files = tf.io.gfile.glob(os.path.join(out, f"Split-{split}", "*"))
        gzipped = {f.endswith(".gz") for f in files}  # the readers' rule: by the name
        assert len(gzipped) == 1, files
        compression = "GZIP" if gzipped == {True} else ""
        found[split] = sorted(tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
                              for r in tf.data.TFRecordDataset(files, compression_type=compression))
    return found


def is_gzip(path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"  # gzip's magic number


@pytest.fixture
def writes(monkeypatch):
    """How many splits tandem's local write wrote."""
    count = []
    local = ingest._write_local

    def counted(*args, **kwargs):
        count.append(1)
        return local(*args, **kwargs)

    monkeypatch.setattr(ingest, "_write_local", counted)
    return count


TFX_WRITE = write_split.WriteSplit


def test_on_direct_runner_the_splits_hold_what_tfx_writes_without_its_reshuffle(tmp_path, writes):
    ours = run(ingest.CsvExecutor(), str(tmp_path / "ours"))
    assert len(writes) == 2  # both splits, written without the reshuffle
    assert write_split.WriteSplit is TFX_WRITE  # TFX's own again, after Do
    theirs = run(tfx_csv.Executor(), str(tmp_path / "tfx"))
    assert len(writes) == 2
    assert ours == theirs and len(ours["train"]) + len(ours["eval"]) == 400 and ours["eval"]
    written = {kind: [p for p in (tmp_path / kind).rglob("*") if p.is_file()] for kind in ("ours", "tfx")}
    assert written["ours"] and not any(p.suffix == ".gz" or is_gzip(p) for p in written["ours"])  # uncompressed
    assert written["tfx"] and all(p.suffix == ".gz" and is_gzip(p) for p in written["tfx"])  # TFX's: gzip


def test_small_inputs_run_in_this_process_on_direct_runner_s_engine_and_never_try_prism(tmp_path, writes,
                                                                                        monkeypatch):
    from apache_beam.runners.direct import direct_runner
    from apache_beam.runners.portability import prism_runner
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor

    from pipelines.config import SMALL_INPUT_BEAM_ARGS

    def refused(*args, **kwargs):
        raise AssertionError("not FnApiRunner in this process")
    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", refused)
    monkeypatch.setattr(direct_runner.SwitchingDirectRunner, "run_pipeline", refused)
    small = ingest.CsvExecutor(BaseBeamExecutor.Context(beam_pipeline_args=list(SMALL_INPUT_BEAM_ARGS)))
    ours = run(small, str(tmp_path / "ours"))
    assert len(writes) == 2  # tandem's local write: it knows the engine for DirectRunner's
    assert len(ours["train"]) + len(ours["eval"]) == 400


def test_rows_become_the_examples_tfx_makes_in_the_cases_where_typing_could_differ(tmp_path):
    csv = tmp_path / "data" / "edge.csv"
    csv.parent.mkdir()
    csv.write_text(EDGE_CSV, encoding="utf-8")
    ours = run(ingest.CsvExecutor(), str(tmp_path / "ours"), str(csv))
    theirs = run(tfx_csv.Executor(), str(tmp_path / "tfx"), str(csv))
    assert ours == theirs
    examples = [tf.train.Example.FromString(e) for split in ours.values() for e in split]
    assert len(examples) == 7  # the blank line is no example
    kinds = {name: {f.WhichOneof("kind") for f in (e.features.feature[name] for e in examples)}
             for name in ("count", "amount", "nothing", "mixed", "big", "huge_among_floats")}
    assert kinds == {"count": {"int64_list"}, "amount": {"float_list"}, "nothing": {None},
                     "mixed": {"bytes_list"}, "big": {"bytes_list"}, "huge_among_floats": {"bytes_list"}}


def by_both_executors(tmp_path, input_base: str, inputs: example_gen_pb2.Input,
                      output: example_gen_pb2.Output) -> dict[str, dict[str, list[bytes]]]:
    """{"ours" / "tfx": read_splits of what tandem's / TFX's executor wrote from the same input}."""
    found = {}
    for name, executor in (("ours", ingest.CsvExecutor()), ("tfx", tfx_csv.Executor())):
        examples = standard_artifacts.Examples()
        examples.uri = str(tmp_path / name)
        executor.Do({}, {"examples": [examples]}, {"input_base": input_base,
                                                   "input_config": proto_utils.proto_to_json(inputs),
                                                   "output_config": proto_utils.proto_to_json(output)})
        found[name] = read_splits(examples.uri)
    return found


def test_input_splits_stay_as_they_are_as_in_tfx(tmp_path):
    lines = Path(SAMPLE_CSV).read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "first.csv").write_text("".join(lines[:301]), encoding="utf-8")  # header + 300 rows
    (tmp_path / "data" / "rest.csv").write_text(lines[0] + "".join(lines[301:]), encoding="utf-8")
    found = by_both_executors(tmp_path, str(tmp_path / "data"), example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name="train", pattern="first.csv"),
        example_gen_pb2.Input.Split(name="eval", pattern="rest.csv")]), example_gen_pb2.Output())
    assert found["ours"] == found["tfx"]
    assert (len(found["ours"]["train"]), len(found["ours"]["eval"])) == (300, 100)


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


def test_a_partition_feature_splits_as_in_tfx(tmp_path):
    by_hour = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=ingest.split_config((4, 1)).split_config.splits, partition_feature_name="trip_start_hour"))
    found = by_both_executors(tmp_path, os.path.dirname(SAMPLE_CSV), example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name="single_split", pattern=os.path.basename(SAMPLE_CSV))]), by_hour)
    assert found["ours"] == found["tfx"]
    hours = {split: {tf.train.Example.FromString(e).features.feature["trip_start_hour"].int64_list.value[0]
                     for e in examples} for split, examples in found["ours"].items()}
    assert hours["train"] and hours["eval"] and not hours["train"] & hours["eval"]  # an hour stays in one split
