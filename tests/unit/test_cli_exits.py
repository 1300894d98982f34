"""The CLI's exit-code contract, through the real CLI in a process of its own:
0 success, 1 another failure, 2 bad arguments, 3 data failed validation, 130/143 interrupted
(tests/e2e/test_interrupts.py). `--verbose` changes what is printed, never the code."""

import os

import pytest
from helpers import SAMPLE_CSV

from pipelines.home import hold
from tandem.exits import FAILED, USAGE

BAD_ARGUMENTS = {
    "no such data file": (["run", "tf", "--data", "/no/such/trips.csv"], "--data"),
    "a data folder without CSV files": (["run", "tf", "--data", "{tmp}"], "no files match"),
    "no file matches the span pattern": (["run", "tf", "--data", "{tmp}", "--input-pattern", "span-{{SPAN}}/*.csv"],
                                         "no files match"),
    "no such schema": (["run", "tf", "--data", SAMPLE_CSV, "--schema", "/no/such/schema.pbtxt"], "--schema"),
    "zero training steps": (["run", "tf", "--train-steps", "0"], "--train-steps"),
    "training steps that are not a number": (["run", "tf", "--train-steps", "many"], "--train-steps"),
    "a batch of no rows": (["run", "all", "--batch-size", "0"], "--batch-size"),
    "an unknown dataset": (["run", "tf", "--dataset", "weather"], "--dataset"),
    "an unknown branch": (["run", "keras"], "invalid choice"),
    "a Beam option Beam rejects": (["run", "tf", "--data", SAMPLE_CSV, "--beam-arg=--direct_running_mode=fast"],
                                   "direct_running_mode"),
    "an unknown Beam option": (["run", "tf", "--data", SAMPLE_CSV, "--beam-arg=--no_such_option=1"],
                               "unknown Beam option --no_such_option"),
    "Beam's threaded workers, which lose elements": (
        ["run", "tf", "--data", SAMPLE_CSV, "--beam-arg=--direct_running_mode=multi_threading"],
        "--direct_running_mode=multi_threading is refused"),
    "Beam's threaded workers, for Kubeflow's pods": (
        ["compile", "--target", "kfp", "--out", "{tmp}/kfp", "--beam-arg=--direct_running_mode=multi_threading"],
        "--direct_running_mode=multi_threading is refused"),
    "an unknown Beam option, for Kubeflow's pods": (
        ["compile", "--target", "kfp", "--out", "{tmp}/kfp", "--beam-arg=--no_such_option=1"],
        "unknown Beam option --no_such_option"),
    "a home that cannot be written": (["run", "tf", "--data", SAMPLE_CSV, "--home", "/proc/tandem"], "--home"),
    "negative rows to generate": (["data", "generate", "--rows", "-5", "--out", "{tmp}/x.csv"], "--rows"),
    "rows that are not a number": (["data", "generate", "--rows", "lots", "--out", "{tmp}/x.csv"], "--rows"),
    "a draft into a missing folder": (["schema", "draft", "--data", SAMPLE_CSV, "--out", "/no/such/draft.pbtxt"],
                                      "--out"),
    "no command": ([], "required"),
}


VERBOSE = ("no such data file", "no such schema", "a Beam option Beam rejects", "a home that cannot be written")


@pytest.mark.parametrize("case, verbose", [(c, False) for c in BAD_ARGUMENTS] + [(c, True) for c in VERBOSE])
def test_bad_arguments_exit_2_with_one_line(case, verbose, tmp_path, run_cli):
    argv, words = BAD_ARGUMENTS[case]
    argv = [a.format(tmp=tmp_path) for a in argv]
    if argv and "--home" not in argv:
        argv += ["--home", str(tmp_path / "home")]
    code, out, err = run_cli(*argv, *(["--verbose"] if verbose and argv else []))
    assert code == USAGE, out + err
    assert "tandem: error:" in err and words in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "x.csv") and not os.path.exists(tmp_path / "kfp")


def test_a_busy_home_stops_a_second_command_at_once(tmp_path, run_cli):
    home = tmp_path / "home"
    with hold(str(home), "tandem run all (a test holding the home)"):
        code, _, err = run_cli("run", "tf", "--data", SAMPLE_CSV, "--home", str(home))
    assert code == FAILED
    assert f"another tandem run (pid {os.getpid()}" in err and str(home) in err and "--wait" in err


def test_compare_without_runs_says_what_to_run_first(tmp_path, run_cli):
    code, _, err = run_cli("compare", "--home", str(tmp_path / "empty"), "--out", str(tmp_path / "reports"))
    assert code == FAILED
    assert "run `tandem run all` first" in err
    assert not (tmp_path / "reports" / "comparison.md").exists()


def test_data_generate_writes_the_rows_asked_for(tmp_path, run_cli):
    code, out, err = run_cli("data", "generate", "--rows", "1234", "--out", str(tmp_path / "x.csv"),
                             "--home", str(tmp_path / "home"))
    assert code == 0, err
    with open(tmp_path / "x.csv") as f:
        assert sum(1 for _ in f) == 1234 + 1  # and a header
