"""components/statistics.py: TFX's StatisticsGen executor, computing every split's statistics
in one pass where Beam runs in this process, TFX's executor elsewhere. Run here through both
executors' Do, as TFX's launcher calls it, on the same examples (ExampleGen's, of the shipped
sample and of the CSV of edge cases; and a split without rows), with TFX's executor as the
reference: the same statistics per split, counts exact and every other number within 1e-9
relative (float sums in another order)."""

import os
import shutil
from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from helpers import EDGE_CSV, SAMPLE_CSV, example_gen_do
from tfx.components.statistics_gen import executor as tfx_statistics
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import json_utils

from components import ingest, statistics
from pipelines.config import LOCAL_BEAM_ARGS, LOCAL_WORKERS, SMALL_INPUT_BEAM_ARGS

OPTIONS = tfdv.StatsOptions(num_histogram_buckets=100).to_json()  # as the front sets them


def examples_of(csv: str, out: str) -> standard_artifacts.Examples:
    return example_gen_do(ingest.CsvExecutor(), out, csv)


def statistics_by(executor, examples, out: str, options: str = OPTIONS,
                  **exec_properties) -> standard_artifacts.ExampleStatistics:
    stats = standard_artifacts.ExampleStatistics()
    stats.uri = out
    executor.Do({"examples": [examples]}, {"statistics": [stats]}, {"stats_options_json": options, **exec_properties})
    return stats


def split_statistics(stats, split: str):
    return tfdv.load_stats_binary(os.path.join(artifact_utils.get_split_uri([stats], split), "FeatureStats.pb"))


def by_path(statistics_list):
    """The statistics with each dataset's features in the order of their paths: the order
    TFDV writes them in follows the order its combiners' results were merged in."""
    ordered = type(statistics_list)()
    ordered.CopyFrom(statistics_list)
    for dataset in ordered.datasets:
        features = sorted(dataset.features, key=lambda f: list(f.path.step))
        del dataset.features[:]
        dataset.features.extend(features)
    return ordered


def assert_same(ours, theirs):
    """Field by field: integers and text equal, other numbers within 1e-9 relative."""
    ours, theirs = (text_format.MessageToString(by_path(s)).splitlines() for s in (ours, theirs))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        if a == b:
            continue
        (key, x), (key_b, y) = a.split(":", 1), b.split(":", 1)
        assert key == key_b and "." in x + y, (a, b)  # no count differs
        assert abs(float(x) - float(y)) <= 1e-9 * max(abs(float(x)), abs(float(y))), (a, b)


def edge_or_sample(tmp_path, csv: str) -> str:
    if csv == "sample":
        return SAMPLE_CSV
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "edge.csv").write_text(EDGE_CSV, encoding="utf-8")
    return str(tmp_path / "data" / "edge.csv")


def rows_as_tfx(ours, theirs) -> int:
    """Asserts the two statistics artifacts say the same (properties, and each split's
    statistics as assert_same), and returns how many rows they count."""
    assert ours.split_names == theirs.split_names and ours.span == theirs.span
    assert ours.mlmd_artifact.custom_properties == theirs.mlmd_artifact.custom_properties
    for split in ("train", "eval"):
        assert_same(split_statistics(ours, split), split_statistics(theirs, split))
    return sum(split_statistics(ours, split).datasets[0].num_examples for split in ("train", "eval"))


def refuse_tfx_s_executor(monkeypatch):
    """From here on, the test fails if tandem's executor hands the work to TFX's."""
    def refused(*args, **kwargs):
        raise AssertionError("TFX's executor ran")
    monkeypatch.setattr(tfx_statistics.Executor, "Do", refused)


@pytest.mark.parametrize("csv", ["sample", "edge"])
def test_each_split_has_the_statistics_tfx_computes(tmp_path, csv, monkeypatch):
    examples = examples_of(edge_or_sample(tmp_path, csv), str(tmp_path / "examples"))
    theirs = statistics_by(tfx_statistics.Executor(), examples, str(tmp_path / "tfx"))
    refuse_tfx_s_executor(monkeypatch)
    small = statistics.Executor(BaseBeamExecutor.Context(beam_pipeline_args=list(SMALL_INPUT_BEAM_ARGS)))
    ours = statistics_by(small, examples, str(tmp_path / "ours"))
    assert rows_as_tfx(ours, theirs) == (400 if csv == "sample" else 7)


def test_a_split_without_rows_has_the_empty_statistics_tfx_writes(tmp_path, monkeypatch):
    examples = examples_of(SAMPLE_CSV, str(tmp_path / "examples"))
    eval_split = artifact_utils.get_split_uri([examples], "eval")
    shutil.rmtree(eval_split)
    os.makedirs(eval_split)
    open(os.path.join(eval_split, "data_tfrecord-00000-of-00001"), "wb").close()  # no records
    theirs = statistics_by(tfx_statistics.Executor(), examples, str(tmp_path / "tfx"))
    refuse_tfx_s_executor(monkeypatch)
    ours = statistics_by(statistics.Executor(), examples, str(tmp_path / "ours"))
    assert split_statistics(ours, "eval") == split_statistics(theirs, "eval")
    assert split_statistics(ours, "eval").datasets[0].num_examples == 0
    assert_same(split_statistics(ours, "train"), split_statistics(theirs, "train"))
    assert split_statistics(ours, "train").datasets[0].num_examples > 300


def test_excluded_splits_get_no_statistics(tmp_path, monkeypatch):
    examples = examples_of(SAMPLE_CSV, str(tmp_path / "examples"))
    refuse_tfx_s_executor(monkeypatch)
    ours = statistics_by(statistics.Executor(), examples, str(tmp_path / "ours"),
                         exclude_splits=json_utils.dumps(["eval"]))
    assert artifact_utils.decode_split_names(ours.split_names) == ["train"]
    assert os.listdir(tmp_path / "ours") == ["Split-train"]


@pytest.mark.parametrize("beam_args", [LOCAL_BEAM_ARGS, ("--runner=DaskRunner",)])
def test_beam_workers_of_their_own_get_tfx_s_executor(tmp_path, monkeypatch, beam_args):
    examples = examples_of(SAMPLE_CSV, str(tmp_path / "examples"))
    ran = []
    monkeypatch.setattr(tfx_statistics.Executor, "Do", lambda *args: ran.append(1))
    executor = statistics.Executor(BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args)))
    statistics_by(executor, examples, str(tmp_path / "ours"))
    assert ran == [1]


def test_options_the_pass_does_not_cover_run_tfx_s_executor(tmp_path, monkeypatch):
    examples = examples_of(SAMPLE_CSV, str(tmp_path / "examples"))
    ran, tfx_do = [], tfx_statistics.Executor.Do

    def tfx_s_executor(self, *args):
        ran.append(1)
        return tfx_do(self, *args)
    monkeypatch.setattr(tfx_statistics.Executor, "Do", tfx_s_executor)
    # TFDV samples whole record batches, and their sizes vary from run to run: a rate of one in
    # a million keeps none of the sample's few batches (a rate of one half kept 0 to all rows).
    ours = statistics_by(statistics.Executor(), examples, str(tmp_path / "ours"),
                         sample_rate_by_split=json_utils.dumps({"train": 1e-6}))
    assert ran == [1]
    sampled = json_utils.loads(ours.get_json_value_custom_property("sample_rate_by_split"))
    assert sampled == {"train": 1e-6, "eval": 1.0}  # TFX's executor's property
    assert split_statistics(ours, "train").datasets[0].num_examples == 0
    assert split_statistics(ours, "eval").datasets[0].num_examples > 0


WORKERS = ("--direct_running_mode=multi_processing", "--direct_num_workers=2", LOCAL_WORKERS)  # bundles merged


@pytest.mark.parametrize("csv, beam_args", [("sample", ()), ("edge", ()), ("sample", WORKERS)])
def test_example_gen_computes_tfx_s_statistics_and_statistics_gen_takes_them(tmp_path, csv, beam_args, monkeypatch):
    executor = ingest.CsvExecutor(BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args)))
    examples = example_gen_do(executor, str(tmp_path / "examples"), edge_or_sample(tmp_path, csv),
                              statistics_options=statistics.OPTIONS)
    assert examples.get_string_custom_property(statistics.AHEAD) == OPTIONS
    theirs = statistics_by(tfx_statistics.Executor(), examples, str(tmp_path / "tfx"))
    for split in ("train", "eval"):  # from here on, only the statistics ExampleGen computed are left
        shutil.rmtree(artifact_utils.get_split_uri([examples], split))
    refuse_tfx_s_executor(monkeypatch)
    # Taken whatever the engine StatisticsGen is given: they are computed already.
    workers = statistics.Executor(BaseBeamExecutor.Context(beam_pipeline_args=list(LOCAL_BEAM_ARGS)))
    ours = statistics_by(workers, examples, str(tmp_path / "ours"))
    assert rows_as_tfx(ours, theirs) == (400 if csv == "sample" else 7)


def test_statistics_gen_with_other_options_computes_its_own(tmp_path, monkeypatch):
    examples = example_gen_do(ingest.CsvExecutor(), str(tmp_path / "examples"), statistics_options=statistics.OPTIONS)
    ten_buckets = tfdv.StatsOptions(num_histogram_buckets=10).to_json()
    theirs = statistics_by(tfx_statistics.Executor(), examples, str(tmp_path / "tfx"), ten_buckets)
    refuse_tfx_s_executor(monkeypatch)
    ours = statistics_by(statistics.Executor(), examples, str(tmp_path / "ours"), ten_buckets)
    for split in ("train", "eval"):
        assert_same(split_statistics(ours, split), split_statistics(theirs, split))
    fare = next(f for f in split_statistics(ours, "train").datasets[0].features if f.path.step == ["fare"])
    assert len(fare.num_stats.histograms[0].buckets) == 10  # not the 100 ExampleGen computed with


def test_example_gen_computes_statistics_only_when_asked(tmp_path):
    examples = example_gen_do(ingest.CsvExecutor(), str(tmp_path / "examples"))
    assert not examples.has_custom_property(statistics.AHEAD)
    assert sorted(os.listdir(tmp_path / "examples")) == ["Split-eval", "Split-train"]


def test_example_gen_computes_no_statistics_the_pass_does_not_cover(tmp_path):
    sampled = tfdv.StatsOptions(num_histogram_buckets=100, sample_rate=0.5)
    examples = example_gen_do(ingest.CsvExecutor(), str(tmp_path / "examples"), statistics_options=sampled)
    assert not examples.has_custom_property(statistics.AHEAD)
    assert sorted(os.listdir(tmp_path / "examples")) == ["Split-eval", "Split-train"]


def test_a_csv_without_rows_gets_from_example_gen_the_statistics_tfx_writes(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    header = Path(SAMPLE_CSV).read_text(encoding="utf-8").splitlines(keepends=True)[0]
    (tmp_path / "data" / "header.csv").write_text(header, encoding="utf-8")
    examples = example_gen_do(ingest.CsvExecutor(), str(tmp_path / "examples"), str(tmp_path / "data" / "header.csv"),
                              statistics_options=statistics.OPTIONS)
    theirs = statistics_by(tfx_statistics.Executor(), examples, str(tmp_path / "tfx"))
    for split in ("train", "eval"):  # only the statistics ExampleGen computed are left
        shutil.rmtree(artifact_utils.get_split_uri([examples], split))
    refuse_tfx_s_executor(monkeypatch)
    ours = statistics_by(statistics.Executor(), examples, str(tmp_path / "ours"))
    assert rows_as_tfx(ours, theirs) == 0


def test_excluded_splits_get_none_of_example_gen_s_statistics(tmp_path, monkeypatch):
    examples = example_gen_do(ingest.CsvExecutor(), str(tmp_path / "examples"), statistics_options=statistics.OPTIONS)
    refuse_tfx_s_executor(monkeypatch)
    ours = statistics_by(statistics.Executor(), examples, str(tmp_path / "ours"),
                         exclude_splits=json_utils.dumps(["eval"]))
    assert artifact_utils.decode_split_names(ours.split_names) == ["train"]
    assert os.listdir(tmp_path / "ours") == ["Split-train"]


def test_statistics_gen_computes_its_own_when_example_gen_s_are_missing(tmp_path, monkeypatch):
    examples = example_gen_do(ingest.CsvExecutor(), str(tmp_path / "examples"), statistics_options=statistics.OPTIONS)
    os.remove(os.path.join(statistics.ahead_uri(examples.uri, "eval"), "FeatureStats.pb"))
    theirs = statistics_by(tfx_statistics.Executor(), examples, str(tmp_path / "tfx"))
    ours = statistics_by(statistics.Executor(), examples, str(tmp_path / "ours"))  # one pass, from the examples
    for split in ("train", "eval"):
        assert_same(split_statistics(ours, split), split_statistics(theirs, split))
