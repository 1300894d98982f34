"""The whole TFX pipeline on the checked-in sample, on Beam's DirectRunner.

One pipeline home for the module: the first run trains, blesses and pushes; later tests
re-run it the way a user would (unchanged, with an edited schema, with a worse model).
"""

import contextlib
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import IN_MEMORY, SAMPLE_CSV, TAXI, read_rows

pytestmark = pytest.mark.e2e

TRAIN_STEPS = "300"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tandem_home"))


def run(run_cli, home, *extra):
    return run_cli("run", "tf", "--data", SAMPLE_CSV, "--home", home, "--train-steps", TRAIN_STEPS, *IN_MEMORY, *extra)


def versions(home):
    serving = os.path.join(home, "serving", "keras", "big_tipper")
    return sorted(os.listdir(serving)) if os.path.isdir(serving) else []


@pytest.fixture(scope="module")
def first_run(home, tmp_path_factory):
    from tandem.cli import main

    # capfd is function-scoped: capture this module-level run through a file instead.
    out = tmp_path_factory.mktemp("out") / "stdout.txt"
    with open(out, "w") as f, contextlib.redirect_stdout(f):
        code = main(["run", "tf", "--data", SAMPLE_CSV, "--home", home, "--train-steps", TRAIN_STEPS, *IN_MEMORY])
    return code, out.read_text()


def test_first_run_trains_blesses_and_pushes_a_version(first_run, home):
    code, out = first_run
    assert code == 0, out
    for component in ("CsvExampleGen", "AnomaliesGate", "Transform", "Trainer", "Evaluator", "Pusher"):
        assert f"{component}" in out
    assert "anomalies: none" in out
    assert "blessed: yes" in out
    assert len(versions(home)) == 1 and versions(home)[0].isdigit()  # a TF Serving version folder
    assert "auc=" in out and "binary_accuracy=" in out


def test_pushed_model_scores_raw_rows_like_tf_examples(first_run, home):
    model = tf.saved_model.load(os.path.join(home, "serving", "keras", "big_tipper", versions(home)[0]))
    _, rows = read_rows()
    rows = rows[:32]
    raw = {}
    for name in TAXI.serving_features:
        if TAXI.is_string(name):
            raw[name] = tf.constant([r[name] for r in rows])
        else:  # a missing number is sent as NaN
            raw[name] = tf.constant([float(r[name]) if r[name] else math.nan for r in rows], tf.float64)
    assert any(not r["company"] for r in rows) and any(not r["dropoff_census_tract"] for r in rows)
    from_raw = model.signatures["serving_default"](**raw)["probability"].numpy()
    assert from_raw.shape == (32,) and np.all((from_raw >= 0) & (from_raw <= 1))
    assert len(set(np.round(from_raw, 4))) > 5  # it looks at the features

    examples = []
    for r in rows:
        feature = {}
        for name in TAXI.serving_features:
            if not r[name]:
                continue
            dtype = TAXI.raw_dtypes[name]
            if dtype == "string":
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[r[name].encode()]))
            elif dtype == "int":
                feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(r[name]))]))
            else:
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(r[name])]))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    from_examples = model.signatures["serving_examples"](examples=tf.constant(examples))["probability"].numpy()
    np.testing.assert_allclose(from_raw, from_examples, atol=1e-6)


def test_rerun_resumes_from_cache(first_run, home, run_cli):
    code, out, err = run(run_cli, home)
    assert code == 0, err
    for component in ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer"):
        assert any(component in line and line.rstrip().endswith("cached") for line in out.splitlines()), out


def test_edited_schema_invalidates_what_depends_on_it(first_run, home, run_cli, tmp_path):
    edited = tmp_path / "schema.pbtxt"
    edited.write_text(open(TAXI.schema_path).read() + "\n# reviewed again\n")
    code, out, err = run(run_cli, home, "--schema", str(edited))
    assert code == 0, err
    lines = out.splitlines()
    assert any("CsvExampleGen" in l and l.rstrip().endswith("cached") for l in lines)  # data unchanged
    for component in ("ImportSchemaGen", "Transform", "Trainer"):
        assert any(component in l and "done in" in l for l in lines), out


def test_worse_model_is_not_blessed_and_nothing_is_pushed(first_run, home, run_cli):
    before = versions(home)
    code, out, err = run_cli("run", "tf", "--data", SAMPLE_CSV, "--home", home, "--train-steps", "1", *IN_MEMORY)
    assert code == 0, err
    assert "blessed: no" in out
    assert "pushed: nothing" in out
    assert "auc (change vs. the last blessed model)" in out
    assert versions(home) == before
