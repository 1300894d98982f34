"""The PyTorch branch on the shared front (DirectRunner, the checked-in sample).

TFX's Trainer runs torch_branch.trainer.run_fn, which exports the data and trains in a
separate PyTorch process; TorchEvaluator blesses with TFMA on the served model's
predictions. Everything PyTorch here runs in subprocesses: this pytest process has
TensorFlow loaded.
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from components.front import FrontConfig
from components.validate import stage_schema
from helpers import SAMPLE_CSV, TAXI, read_rows
from pipelines.branches import TORCH
from pipelines.config import PipelineConfig, TrainConfig
from pipelines.pipeline import create_pipeline
from pipelines.runner import run_pipeline
from reporting.summary import run_summary

pytestmark = pytest.mark.e2e


def torch_config(home, train_steps):
    schema = stage_schema(TAXI.schema_path, os.path.join(home, "schemas"))
    return PipelineConfig(
        front=FrontConfig(os.path.dirname(SAMPLE_CSV), schema, input_pattern=os.path.basename(SAMPLE_CSV)),
        home=home, train=TrainConfig(train_steps=train_steps), beam_args=("--direct_running_mode=in_memory",))


def model_store(cfg):
    return os.path.join(cfg.serving_dir("torch"), "model_store")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return str(tmp_path_factory.mktemp("torch_home"))


@pytest.fixture(scope="module")
def trained(home):
    cfg = torch_config(home, 200)
    run_pipeline(create_pipeline(cfg, (TORCH,)), echo=lambda _: None)
    root = os.path.join(cfg.pipeline_root, "TorchTrainer")
    (model_dir,) = glob.glob(os.path.join(root, "model", "*", "Format-Serving"))
    (run_dir,) = glob.glob(os.path.join(root, "model_run", "*"))
    (transform_dir,) = glob.glob(os.path.join(cfg.pipeline_root, "Transform", "transform_graph", "*"))
    return model_dir, run_dir, transform_dir


def raw_rows(path, count=40):
    """Sample rows as the runtime's predict reads them: float64 numbers (NaN = missing), strings."""
    _, rows = read_rows()
    rows = rows[:count]
    np.savez(path, **{n: np.array([r[n] for r in rows]) if TAXI.is_string(n) else
                      np.array([float(r[n]) if r[n] else np.nan for r in rows]) for n in TAXI.serving_features})
    return str(path)


def score(model_path, rows_path):
    """Probabilities from the project's own PyTorch scorer, in its own process."""
    out_path = os.path.join(os.path.dirname(rows_path), "predictions.npz")
    out = subprocess.run([sys.executable, "-m", "pipelines.torch_branch.runtime.predict", "--rows", rows_path,
                          "--out", out_path, f"model={model_path}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with np.load(out_path) as predictions:
        return predictions["model"].tolist()


def test_scripted_model_scores_raw_rows(trained, tmp_path):
    model_dir, _, _ = trained
    probabilities = score(os.path.join(model_dir, "model.pt"), raw_rows(tmp_path / "rows.npz"))
    assert len(probabilities) == 40
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert len({round(p, 4) for p in probabilities}) > 5  # it looks at the features


def test_training_reports_and_logs_for_tensorboard(trained):
    _, run_dir, _ = trained
    with open(os.path.join(run_dir, "training.json")) as f:
        metrics = json.load(f)
    assert metrics["train_steps"] == 200 and metrics["examples_per_second"] > 0
    for split in ("train", "validation"):  # the folders and tags Keras' TensorBoard callback writes
        assert glob.glob(os.path.join(run_dir, "torch", split, "events.out.tfevents.*"))


def test_training_is_reproducible(trained, tmp_path):
    _, run_dir, transform_dir = trained
    config = json.dumps({**TrainConfig().__dict__, "hidden_units": [64, 32], "train_steps": 50})
    models = []
    for attempt in ("a", "b"):
        out = subprocess.run([sys.executable, "-m", "pipelines.torch_branch.runtime.train",
                              "--data", os.path.join(run_dir, "torch_data"), "--transform-dir", transform_dir,
                              "--dataset", "taxi", "--model-dir", str(tmp_path / attempt),
                              "--run-dir", str(tmp_path / f"run-{attempt}"), "--config", config],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        models.append(str(tmp_path / attempt / "model.pt"))
    rows = raw_rows(tmp_path / "rows.npz")
    assert score(models[0], rows) == score(models[1], rows)


def test_first_model_is_evaluated_by_tfma_and_blessed(trained, home):
    cfg = torch_config(home, 200)
    summary = run_summary(cfg.metadata_path).branches["torch"]
    assert summary.metrics["example_count"] > 40
    assert summary.metrics["auc"] >= 0.7 and summary.blessed is True
    assert os.listdir(model_store(cfg)) == [f"big_tipper-{summary.pushed_version}.mar"]
    assert summary.pushed_path == os.path.join(model_store(cfg), f"big_tipper-{summary.pushed_version}.mar")


def test_worse_model_fails_the_change_threshold_against_the_blessed_one(trained, home):
    cfg = torch_config(home, 1)
    before = os.listdir(model_store(cfg))
    run_pipeline(create_pipeline(cfg, (TORCH,)), echo=lambda _: None)
    summary = run_summary(cfg.metadata_path).branches["torch"]
    assert summary.blessed is False and summary.pushed_version is None
    assert any(f.startswith("auc (change vs. the last blessed model)") for f in summary.failed_thresholds)
    assert os.listdir(model_store(cfg)) == before  # nothing pushed
