"""Both pipelines on the checked-in sample, through the real CLI, in one home as a user's:
the first run trains, blesses and pushes both branches; later tests run again the way a
user would (unchanged, with an edited schema, with a worse model)."""

import os

import pytest
from helpers import TAXI, run_all, versions

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("taxi_run")]


def keras_versions(home):
    return versions(os.path.join(home, "serving", "keras", "big_tipper"))


def torch_archives(home):
    return versions(os.path.join(home, "serving", "torch", "model_store"))


def test_the_first_run_trains_blesses_and_pushes_both_branches(taxi_run):
    home, out = taxi_run
    for component in ("CsvExampleGen", "AnomaliesGate", "Transform", "KerasTrainer", "TorchTrainer",
                      "KerasEvaluator", "TorchEvaluator", "KerasPusher", "TorchPusher"):
        assert f"{component}" in out
    assert "anomalies: none" in out and "drift: not checked (no previous span)" in out
    assert out.count("blessed: yes") == 2 and out.count("auc=") == 2
    assert len(keras_versions(home)) == 1 and keras_versions(home)[0].isdigit()  # a TF Serving version folder
    (archive,) = torch_archives(home)
    assert archive.startswith("big_tipper-") and archive[len("big_tipper-"):-len(".mar")].isdigit()


def test_a_rerun_with_nothing_changed_is_fully_cached_and_pushes_nothing_new(taxi_run):
    home, _ = taxi_run
    before = keras_versions(home), torch_archives(home)
    out = run_all(home)
    assert out.returncode == 0, out.stderr
    ran = {line.split()[2] for line in out.stdout.splitlines()
           if line.startswith("[") and not line.rstrip().endswith(("started", "cached"))}
    # Everything comes from the cache (the evaluators too: a model is never its own baseline),
    # but the resolvers (they only look up artifacts) and the gate, which checks this span
    # against the history of validated spans.
    assert ran == {"ValidatedStatisticsHistory", "AnomaliesGate", "KerasLatestBlessedModel",
                   "TorchLatestBlessedModel"}, out.stdout
    assert (keras_versions(home), torch_archives(home)) == before


def test_an_edited_schema_invalidates_what_depends_on_it(taxi_run, tmp_path):
    home, _ = taxi_run
    edited = tmp_path / "schema.pbtxt"
    with open(TAXI.schema_path) as f:
        edited.write_text(f.read() + "\n# reviewed again\n")
    out = run_all(home, "--schema", str(edited))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any("CsvExampleGen" in line and line.rstrip().endswith("cached") for line in lines)  # data unchanged
    for component in ("ImportSchemaGen", "Transform", "KerasTrainer", "TorchTrainer"):
        assert any(component in line and "done in" in line for line in lines), out.stdout


def test_a_worse_model_is_not_blessed_and_nothing_is_pushed(taxi_run):
    home, _ = taxi_run
    before = keras_versions(home), torch_archives(home)
    out = run_all(home, "--train-steps", "1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("blessed: no") == 2 and out.stdout.count("pushed: nothing") == 2
    assert out.stdout.count("auc (change vs. the last blessed model)") == 2
    assert (keras_versions(home), torch_archives(home)) == before
