"""CLI argument handling: what reaches the pipeline config, and clear usage errors."""

import pytest

from components.front import FrontConfig
from tandem import cli, exits
from tandem.commands.pipeline import pipeline_config
from tandem.inputs import input_bytes, input_files


def parse(*argv):
    return cli.parser().parse_args(list(argv))


def no_bundled():
    raise AssertionError("the bundled data should not be needed")


def test_a_csv_file_becomes_its_folder_and_an_escaped_pattern(tmp_path):
    path = tmp_path / "trips [2024].csv"
    path.write_text("a\n1\n")
    base, pattern = input_files(str(path), bundled_data=no_bundled)
    assert base == str(tmp_path)
    assert pattern == "trips [[]2024].csv"  # glob metacharacters match literally


def test_a_folder_reads_its_csv_files(tmp_path):
    (tmp_path / "a.csv").write_text("a\n1\n")
    assert input_files(str(tmp_path), bundled_data=no_bundled) == (str(tmp_path), "*.csv")


@pytest.mark.parametrize("make", [lambda p: str(p / "missing.csv"), lambda p: str(p)])
def test_no_data_is_a_clear_error(tmp_path, make):
    with pytest.raises(exits.UsageError, match="--data|no files match"):
        input_files(make(tmp_path), bundled_data=no_bundled)


def test_a_small_input_runs_in_process_and_a_large_one_on_a_worker_per_core(tmp_path):
    small = tmp_path / "small.csv"
    small.write_text("a\n1\n")
    large = tmp_path / "large.csv"
    with open(large, "wb") as f:
        f.truncate(32 << 20)  # 32 MiB (sparse): the first size that gets worker processes
    cfg = pipeline_config(parse("run", "tf", "--data", str(small), "--home", str(tmp_path)), str(tmp_path))
    # DirectRunner's in-process engine, by name: one worker, in this process
    assert cfg.beam_args == ("--runner=FnApiRunner", "--sdk_container_image=unused-by-direct-runner")
    cfg = pipeline_config(parse("run", "tf", "--data", str(large), "--home", str(tmp_path)), str(tmp_path))
    assert cfg.beam_args == ("--direct_running_mode=multi_processing", "--direct_num_workers=0",
                             "--sdk_container_image=unused-by-direct-runner")


def test_only_the_newest_span_counts_toward_the_input_size(tmp_path):
    for span, size in ((1, 40 << 20), (2, 1 << 10), (10, 3 << 10)):
        (tmp_path / f"span-{span}").mkdir()
        with open(tmp_path / f"span-{span}" / "trips.csv", "wb") as f:
            f.truncate(size)
    assert input_bytes(str(tmp_path), "span-{SPAN}/*.csv") == 3 << 10  # span 10, not span 2 or all
    assert input_bytes(str(tmp_path), "*/*.csv") == (40 << 20) + (4 << 10)
    assert input_bytes(str(tmp_path), "span-{SPAN}/none.csv") == 0


def test_beam_args_pass_through(tmp_path):
    args = parse("run", "tf", "--data", cli.__file__, "--beam-arg=--runner=FlinkRunner",
                 "--beam-arg=--parallelism=4")
    cfg = pipeline_config(args, str(tmp_path))
    assert cfg.beam_args == ("--runner=FlinkRunner", "--parallelism=4")
    assert isinstance(cfg.front, FrontConfig)


def test_train_steps_cache_and_dataset_flags(tmp_path):
    args = parse("run", "tf", "--data", cli.__file__, "--train-steps", "7", "--no-cache", "--dataset", "taxi")
    cfg = pipeline_config(args, str(tmp_path))
    assert cfg.train.train_steps == 7 and cfg.enable_cache is False and cfg.front.dataset == "taxi"
    assert cfg.train.batch_size == 64  # TrainConfig's


def test_one_batch_size_for_both_trainers(tmp_path):
    cfg = pipeline_config(parse("run", "all", "--data", cli.__file__, "--batch-size", "1024"), str(tmp_path))
    assert cfg.train.batch_size == 1024 and cfg.train.train_steps == 1500


def test_shared_options_are_the_same_on_every_command(monkeypatch):
    monkeypatch.setenv("TANDEM_HOME", "/somewhere")
    for argv in (["run", "tf"], ["compare"], ["tensorboard"], ["schema", "draft", "--out", "x"],
                 ["data", "generate", "--rows", "1", "--out", "x"]):
        args = parse(*argv)
        assert args.home == "/somewhere" and args.dataset == "taxi" and args.verbose is False, argv


@pytest.mark.parametrize("argv", [["run", "pytorch"], ["run", "tf", "--train-steps", "0"], ["run"], [],
                                  ["run", "tf", "--dataset", "nope"],
                                  ["data", "generate", "--rows", "-5", "--out", "x"]])
def test_bad_arguments_exit_with_usage_status(argv, capsys):
    assert cli.main(argv) == exits.USAGE
    assert capsys.readouterr().err.startswith("tandem: error:")


def test_an_input_pattern_with_spans_is_checked_against_the_folder(tmp_path):
    (tmp_path / "span-3").mkdir()
    (tmp_path / "span-3" / "trips.csv").write_text("a\n1\n")
    assert input_files(str(tmp_path), "span-{SPAN}/*.csv", no_bundled) == (str(tmp_path), "span-{SPAN}/*.csv")
    with pytest.raises(exits.UsageError, match="no files match"):
        input_files(str(tmp_path), "day-{SPAN}/*.csv", no_bundled)
