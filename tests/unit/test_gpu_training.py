"""The PyTorch trainer on a CUDA GPU (`@pytest.mark.gpu`: the accelerator machine runs these;
elsewhere they are reported skipped, with the reason).

That machine has PyTorch and no TensorFlow, as the PyTorch runtime's container has. So the
Transform output here is made by hand: what train.py reads of one (the published analyzer
results and vocabularies, components/analyzer_results.py), with the widths
components/transform.py gives each kind of feature. The trainer runs as run_fn starts it
(`python -m pipelines.torch_branch.runtime.train`), and its TorchScript model is scored on
raw rows by the runtime's own scorer, on the CPU, as TorchServe and the evaluator load it.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import (
    REPO,
    TAXI,
    TOKENS,
    handmade_transform_output,
    run_torch_trainer,
    transformed_split,
    write_transformed_split,
)

from components import features as F
from pipelines.torch_branch.runtime import MODEL_FILE
from pipelines.training import TrainConfig

pytestmark = [pytest.mark.gpu, pytest.mark.xdist_group("gpu_training")]  # one worker trains once for all
TRAIN_ROWS, EVAL_ROWS, RAW_ROWS = 4096, 512, 300


def raw_rows(rng) -> dict[str, np.ndarray]:
    """Raw rows as the scorer reads them: float64 numbers (NaN: missing), strings."""
    columns = {}
    for f in TAXI.features:
        if TAXI.is_string(f.name):
            columns[f.name] = rng.choice([f"{f.name}-{i}" for i in range(TOKENS)] + ["", "unseen"], RAW_ROWS)
        else:
            values = rng.integers(0, 30, RAW_ROWS).astype(np.float64) if f.dtype == F.INT else rng.uniform(0, 40,
                                                                                                          RAW_ROWS)
            values[rng.random(RAW_ROWS) < 0.1] = np.nan
            columns[f.name] = values
    return columns


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """(transform folder, train files, eval files, raw rows file)."""
    root, rng = tmp_path_factory.mktemp("gpu_training"), np.random.default_rng(7)
    transform_dir, sizes = handmade_transform_output(root / "transform")
    train_files = write_transformed_split(root / "Split-train", transformed_split(TRAIN_ROWS, sizes, rng))
    eval_files = write_transformed_split(root / "Split-eval", transformed_split(EVAL_ROWS, sizes, rng))
    np.savez(root / "rows.npz", **raw_rows(rng))
    return transform_dir, train_files, eval_files, str(root / "rows.npz")


def train(inputs, out, device: str) -> dict:
    """The trainer's process, as run_fn starts it; its report. device "cpu": CUDA hidden."""
    transform_dir, train_files, eval_files, _ = inputs
    return run_torch_trainer(train_files, eval_files, transform_dir, out, TrainConfig(train_steps=200, batch_size=64),
                             hide_cuda=device == "cpu")


def score(inputs, out) -> np.ndarray:
    """The model's probabilities for the raw rows, by the runtime's scorer on the CPU."""
    done = subprocess.run([sys.executable, "-m", "pipelines.torch_branch.runtime.predict", "--rows", inputs[3],
                           "--out", str(out / "scores.npz"), f"model={out / 'model' / MODEL_FILE}"],
                          cwd=REPO, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with np.load(out / "scores.npz") as scores:
        return scores["model"]


@pytest.fixture(scope="module")
def trained(inputs, tmp_path_factory):
    """{name: (report, probabilities)}: two runs on the GPU, one on the CPU."""
    runs = {}
    for name, device in (("gpu-a", "cuda"), ("gpu-b", "cuda"), ("cpu", "cpu")):
        out = tmp_path_factory.mktemp(name)
        runs[name] = (train(inputs, out, device), score(inputs, out))
    return runs


def test_the_trainer_trains_on_the_gpu_and_its_model_serves_on_a_cpu(trained):
    report, probabilities = trained["gpu-a"]
    assert report["device"] == "cuda" and report["optimizer_steps"] == 200
    assert len(probabilities) == RAW_ROWS and np.all((probabilities >= 0) & (probabilities <= 1))
    assert len(np.unique(probabilities.round(4))) > RAW_ROWS // 10  # it reads the features


def test_training_on_the_gpu_is_bit_reproducible(trained):
    assert trained["gpu-a"][1].tobytes() == trained["gpu-b"][1].tobytes()
    assert trained["gpu-a"][0]["final_eval_loss"] == trained["gpu-b"][0]["final_eval_loss"]


def test_the_gpu_and_the_cpu_train_the_same_model_up_to_float_rounding(trained):
    """The same batches and updates; only the kernels' summation order differs."""
    assert trained["cpu"][0]["device"] == "cpu"
    np.testing.assert_allclose(trained["gpu-a"][1], trained["cpu"][1], atol=1e-4)
    assert trained["gpu-a"][0]["final_eval_loss"] == pytest.approx(trained["cpu"][0]["final_eval_loss"], abs=1e-4)
