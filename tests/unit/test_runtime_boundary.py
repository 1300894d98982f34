"""The rule of pipelines/torch_branch/runtime/: the PyTorch runtime never imports TensorFlow.

Each check runs in a fresh interpreter (tf_free_runner.py), since this pytest process has
TensorFlow loaded: every runtime module imports without it, and a real training run ends
without it (torch.utils.tensorboard would import TensorFlow but for train.py's switch).
"""

import dataclasses
import functools
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow_data_validation as tfdv
import tensorflow_transform.beam as tft_beam
from helpers import REPO, TAXI
from tensorflow_transform.tf_metadata import dataset_metadata

import pipelines.torch_branch.runtime as runtime
from components import features as F
from components.analyzer_results import AnalyzerResults
from components.transform import TF_COMPAT_V1, preprocessing_fn
from pipelines.training import TrainConfig

pytestmark = pytest.mark.xdist_group("runtime_boundary")  # shares a module-scoped fixture

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_free_runner.py")
RUNTIME_MODULES = sorted(m.name for m in pkgutil.walk_packages(runtime.__path__, runtime.__name__ + "."))


def tf_free(*args: str) -> subprocess.CompletedProcess:
    """tf_free_runner.py ARGS in a fresh interpreter, from the repository root."""
    return subprocess.run([sys.executable, RUNNER, *args], cwd=REPO, env={**os.environ, "PYTHONPATH": REPO},
                          capture_output=True, text=True)


def test_the_runtime_modules_are_found():
    assert {runtime.__name__ + ".train", runtime.__name__ + ".preprocessing"} <= set(RUNTIME_MODULES)


def test_the_check_sees_tensorflow():
    out = tf_free("import", "tensorflow")
    assert out.returncode != 0 and "loaded TensorFlow" in out.stderr


# and the trainers' reader of the Transform's output, which says it needs no TensorFlow
@pytest.mark.parametrize("module", RUNTIME_MODULES + ["pipelines.transformed_data"])
def test_a_runtime_module_imports_without_tensorflow(module):
    out = tf_free("import", module)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------- a real training run

def synthetic_row(i: int) -> dict:
    """A raw taxi row (every column a list: [] = missing), varied by `i`; odd rows tip big."""
    fare = 5.0 + i
    row = {
        "trip_miles": [0.5 * i], "fare": [fare], "trip_seconds": [60 * i], "trip_start_hour": [i % 24],
        "trip_start_day": [1 + i % 7], "trip_start_month": [1 + i % 12],
        "payment_type": [b"Cash" if i % 3 else b"Credit Card"], "company": [b"Flash Cab"],
        "pickup_community_area": [1 + i % 4], "dropoff_community_area": [8],
        "dropoff_census_tract": [17031081500 + i % 2], "pickup_latitude": [41.8 + 0.01 * i],
        "pickup_longitude": [-87.6 - 0.01 * i], "dropoff_latitude": [41.9], "dropoff_longitude": [-87.7 + 0.001 * i],
        "tips": [fare * 0.3 if i % 2 else 0.0],
    }
    if i % 5 == 0:  # some missing values
        row.update(trip_miles=[], company=[], pickup_latitude=[])
    return {name: row.get(name, []) for name in TAXI.raw_dtypes}


def as_columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Transformed rows as train.py reads them: one [rows] array per transformed feature
    (float32 z-scores, int64 indices) and the label (int64)."""
    numeric = {F.transformed_name(f.name) for f in TAXI.numeric}
    return {name: np.array([r[name] for r in rows], np.float32 if name in numeric else np.int64) for name in rows[0]}


@pytest.fixture(scope="module")
def training_inputs(tmp_path_factory):
    """A tiny Transform output (tf.Transform's Beam implementation) and its transformed
    splits as train.npz / eval.npz."""
    root = tmp_path_factory.mktemp("runtime_train")
    transform_dir, data_dir = str(root / "transform"), root / "data"
    metadata = dataset_metadata.DatasetMetadata(tfdv.load_schema_text(TAXI.schema_path))
    fn = functools.partial(preprocessing_fn, custom_config={"dataset": TAXI.name})
    rows = [synthetic_row(i) for i in range(24)]
    with tft_beam.Context(temp_dir=str(root / "tmp"), force_tf_compat_v1=TF_COMPAT_V1):
        (transformed, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
    AnalyzerResults.read(transform_dir)  # what train.py reads
    data_dir.mkdir()
    np.savez(data_dir / "train.npz", **as_columns(transformed[:16]))
    np.savez(data_dir / "eval.npz", **as_columns(transformed[16:]))
    return transform_dir, str(data_dir)


def test_training_runs_to_the_end_without_tensorflow(training_inputs, tmp_path):
    transform_dir, data_dir = training_inputs
    model_dir, run_dir = tmp_path / "model", tmp_path / "run"
    run_dir.mkdir()
    config = dataclasses.asdict(TrainConfig(train_steps=4, batch_size=4, hidden_units=(8,)))
    out = tf_free("run", "pipelines.torch_branch.runtime.train", "--data", data_dir, "--transform-dir", transform_dir,
                  "--dataset", TAXI.name, "--model-dir", str(model_dir), "--run-dir", str(run_dir),
                  "--config", json.dumps(config))
    assert out.returncode == 0, out.stderr
    assert (model_dir / runtime.MODEL_FILE).is_file()
    assert json.loads(out.stdout.splitlines()[-1])["train_steps"] == 4
    for split in ("train", "validation"):  # TensorBoard events were written, with TensorFlow absent
        assert any(f.name.startswith("events.out.tfevents") for f in (run_dir / "torch" / split).iterdir()), split


# ------------------------------------------- --wait-for-data: started before the data exists

def _start_waiting(data_dir, transform_dir, out) -> subprocess.Popen:
    """train.py --wait-for-data, as the PyTorch trainer's run_fn starts it."""
    config = json.dumps(dataclasses.asdict(TrainConfig(train_steps=4, batch_size=4, hidden_units=(8,))))
    return subprocess.Popen([sys.executable, RUNNER, "run", "pipelines.torch_branch.runtime.train",
                             *runtime.train_args(str(data_dir), transform_dir, TAXI.name, str(out / "model"),
                                                 str(out), config, wait_for_data=True)],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _reading_stdin(process: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Whether the process's main thread came to block in read(2) on fd 0 (Linux'
    /proc/PID/syscall: the syscall's number, 0 on x86-64 and arm64's 63, then its first argument)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with open(f"/proc/{process.pid}/syscall") as f:
            if f.read().split()[:2] in (["0", "0x0"], ["63", "0x0"]):
                return True
        time.sleep(0.1)
    return False


def test_waiting_training_reads_the_data_only_once_told(training_inputs, tmp_path):
    transform_dir, good = training_inputs
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    bad = {name: np.full(16, 10**6, np.int64) for name in np.load(os.path.join(good, "train.npz")).files}
    for split in ("train", "eval"):  # indices far outside every one-hot width: read now, training would fail
        np.savez(data_dir / f"{split}.npz", **bad)
    process = _start_waiting(data_dir, transform_dir, tmp_path)
    assert _reading_stdin(process), process.communicate()[1][-2000:]
    for split in ("train", "eval"):  # the TF side writes the real splits, then says so
        shutil.copy(os.path.join(good, f"{split}.npz"), data_dir / f"{split}.npz")
    stdout, stderr = process.communicate(runtime.DATA_WRITTEN, timeout=300)
    assert process.returncode == 0, stderr[-2000:]
    assert json.loads(stdout.splitlines()[-1])["train_steps"] == 4
    assert (tmp_path / "model" / runtime.MODEL_FILE).is_file()


def test_waiting_training_stops_if_the_data_never_comes(training_inputs, tmp_path):
    transform_dir, _ = training_inputs
    process = _start_waiting(tmp_path / "never-written", transform_dir, tmp_path)
    _, stderr = process.communicate("", timeout=300)  # stdin closed: the TF side failed before it wrote the data
    assert process.returncode != 0
    assert "stdin closed before 'data written'" in stderr and "the side writing --data stopped" in stderr
    assert not (tmp_path / "model").exists()
