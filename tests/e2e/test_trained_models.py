"""What the first taxi run (tests/e2e/conftest.py) trained and pushed: the pushed SavedModel
scores raw rows as it scores tf.Examples; the scripted PyTorch model scores raw rows; both
trainers leave TensorBoard logs and a report; the PyTorch trainer is bit-reproducible on
the same exported data. PyTorch runs in subprocesses: this pytest process has TensorFlow."""

import glob
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers import TAXI, read_rows, run_torch_trainer, versions
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from pipelines.training import TrainConfig

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("taxi_run")]
ROWS = 32


def trainer_outputs(home, trainer):
    root = os.path.join(home, "pipelines", "tandem-taxi", trainer)
    (model_dir,) = glob.glob(os.path.join(root, "model", "*", "Format-Serving"))[:1]
    (run_dir,) = glob.glob(os.path.join(root, "model_run", "*"))[:1]
    return model_dir, run_dir


def raw_columns(count=ROWS) -> dict:
    """Sample rows as both models' raw inputs take them: float64 numbers (NaN = missing), strings."""
    _, rows = read_rows()
    rows = rows[:count]
    assert any(not r["company"] for r in rows) and any(not r["dropoff_census_tract"] for r in rows)
    return {n: np.array([r[n] for r in rows]) if TAXI.is_string(n) else
            np.array([float(r[n]) if r[n] else math.nan for r in rows]) for n in TAXI.serving_features}


def test_the_pushed_saved_model_scores_raw_rows_like_tf_examples(taxi_run):
    home, _ = taxi_run
    folder = os.path.join(home, "serving", "keras", "big_tipper")
    model = tf.saved_model.load(os.path.join(folder, versions(folder)[0]))
    columns = raw_columns()
    from_raw = model.signatures["serving_default"](**{k: tf.constant(v) for k, v in columns.items()})
    from_raw = from_raw["probability"].numpy()
    assert from_raw.shape == (ROWS,) and np.all((from_raw >= 0) & (from_raw <= 1))
    assert len(set(np.round(from_raw, 4))) > 5  # it looks at the features

    examples = []
    for i in range(ROWS):
        feature = {}
        for name, values in columns.items():
            value = values[i]
            if TAXI.is_string(name):
                if value:
                    feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
            elif not math.isnan(value):
                feature[name] = (tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
                                 if TAXI.raw_dtypes[name] == "int" else
                                 tf.train.Feature(float_list=tf.train.FloatList(value=[value])))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    from_examples = model.signatures["serving_examples"](examples=tf.constant(examples))["probability"].numpy()
    np.testing.assert_allclose(from_raw, from_examples, atol=1e-6)


def score(model_path, rows_path):
    """Probabilities from the project's own PyTorch scorer, in its own process."""
    out_path = os.path.join(os.path.dirname(rows_path), "predictions.npz")
    out = subprocess.run([sys.executable, "-m", "pipelines.torch_branch.runtime.predict", "--rows", rows_path,
                          "--out", out_path, f"model={model_path}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with np.load(out_path) as predictions:
        return predictions["model"].tolist()


def test_the_scripted_model_scores_raw_rows(taxi_run, tmp_path):
    model_dir, _ = trainer_outputs(taxi_run[0], "TorchTrainer")
    np.savez(tmp_path / "rows.npz", **raw_columns())
    probabilities = score(os.path.join(model_dir, "model.pt"), str(tmp_path / "rows.npz"))
    assert len(probabilities) == ROWS and all(0.0 <= p <= 1.0 for p in probabilities)
    assert len({round(p, 4) for p in probabilities}) > 5  # it looks at the features


@pytest.mark.parametrize("trainer, logs", [("KerasTrainer", "keras"), ("TorchTrainer", "torch")])
def test_both_trainers_report_and_log_for_tensorboard_the_same_way(taxi_run, trainer, logs):
    _, run_dir = trainer_outputs(taxi_run[0], trainer)
    with open(os.path.join(run_dir, "training.json")) as f:
        report = json.load(f)
    assert report["train_steps"] == report["optimizer_steps"] == 300 and report["examples_per_second"] > 0
    for split in ("train", "validation"):  # the folders and tags Keras' TensorBoard callback writes
        events = [event for path in glob.glob(os.path.join(run_dir, logs, split, "events.out.tfevents.*"))
                  for event in EventFileLoader(path).Load()]
        logged = sorted(event.step for event in events if any(v.tag == "epoch_loss" for v in event.summary.value))
        assert logged == list(range(10)), (split, logged)  # 300 steps: the loss after each of 10 periods of 30


def test_the_pytorch_trainer_is_bit_reproducible_on_the_same_data(taxi_run, tmp_path):
    home, _ = taxi_run
    transform = os.path.join(home, "pipelines", "tandem-taxi", "Transform")
    transform_dir = sorted(glob.glob(os.path.join(transform, "transform_graph", "*")))[0]
    examples = sorted(glob.glob(os.path.join(transform, "transformed_examples", "*")))[0]
    models = []
    for attempt in ("a", "b"):
        run_torch_trainer([os.path.join(examples, "Split-train", "*")], [os.path.join(examples, "Split-eval", "*")],
                          transform_dir, tmp_path / attempt, TrainConfig(train_steps=50), hide_cuda=False)
        models.append(str(tmp_path / attempt / "model" / "model.pt"))
    np.savez(tmp_path / "rows.npz", **raw_columns())
    assert score(models[0], str(tmp_path / "rows.npz")) == score(models[1], str(tmp_path / "rows.npz"))


def test_the_pytorch_trainer_takes_one_cpu_thread_only_for_a_small_batch(taxi_run):
    """The run's batch (TrainConfig's 64) trained on one intra-op thread, and says so in its
    report; a batch whose one-hot input has 2^16 elements or more takes PyTorch's default (the
    full taxi data's network is 526 columns wide). In a TensorFlow-free interpreter."""
    _, run_dir = trainer_outputs(taxi_run[0], "TorchTrainer")
    with open(os.path.join(run_dir, "training.json")) as f:
        assert json.load(f)["cpu_threads"] == 1
    rule = subprocess.run([sys.executable, "-c", "from pipelines.torch_branch.runtime.train import cpu_threads as t; "
                           "print(t(64, 526, 8), t(124, 526, 8), t(125, 526, 8), t(1024, 526, 8), t(64, 526, 1))"],
                          capture_output=True, text=True)
    assert rule.returncode == 0, rule.stderr
    assert rule.stdout.split() == ["1", "1", "8", "8", "1"]
