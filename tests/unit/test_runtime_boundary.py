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
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_data_validation as tfdv
import tensorflow_transform.beam as tft_beam
from helpers import REPO, TAXI, write_transformed_split
from tensorflow_transform.tf_metadata import dataset_metadata

import pipelines.torch_branch.runtime as runtime
from components import features as F
from components.analyzer_results import AnalyzerResults
from components.transform import TF_COMPAT_V1, preprocessing_fn
from pipelines.child import Spare, start
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
    """Transformed rows as columns: one [rows] array per transformed feature (float32
    z-scores, int64 indices) and the label (int64)."""
    numeric = {F.transformed_name(f.name) for f in TAXI.numeric}
    return {name: np.array([r[name] for r in rows], np.float32 if name in numeric else np.int64) for name in rows[0]}


@pytest.fixture(scope="module")
def training_inputs(tmp_path_factory):
    """A tiny Transform output (tf.Transform's Beam implementation) and its transformed
    splits as the Transform writes them: (transform folder, train files, eval files)."""
    root = tmp_path_factory.mktemp("runtime_train")
    transform_dir = str(root / "transform")
    metadata = dataset_metadata.DatasetMetadata(tfdv.load_schema_text(TAXI.schema_path))
    fn = functools.partial(preprocessing_fn, custom_config={"dataset": TAXI.name})
    rows = [synthetic_row(i) for i in range(24)]
    with tft_beam.Context(temp_dir=str(root / "tmp"), force_tf_compat_v1=TF_COMPAT_V1):
        (transformed, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
    AnalyzerResults.read(transform_dir)  # what train.py reads
    return (transform_dir, write_transformed_split(root / "Split-train", as_columns(transformed[:16])),
            write_transformed_split(root / "Split-eval", as_columns(transformed[16:])))


CONFIG = json.dumps(dataclasses.asdict(TrainConfig(train_steps=4, batch_size=4, hidden_units=(8,))))


def test_training_runs_to_the_end_without_tensorflow(training_inputs, tmp_path):
    transform_dir, train_files, eval_files = training_inputs
    model_dir, run_dir = tmp_path / "model", tmp_path / "run"
    run_dir.mkdir()
    out = tf_free("run", runtime.TRAIN_MODULE, *runtime.train_args(train_files, eval_files, transform_dir, TAXI.name,
                                                                  str(model_dir), str(run_dir), CONFIG))
    assert out.returncode == 0, out.stderr
    assert (model_dir / runtime.MODEL_FILE).is_file()
    assert json.loads(out.stdout.splitlines()[-1])["train_steps"] == 4
    for split in ("train", "validation"):  # TensorBoard events were written, with TensorFlow absent
        assert any(f.name.startswith("events.out.tfevents") for f in (run_dir / "torch" / split).iterdir()), split


# ------------------------------------------- --serve: started ahead of its job (child.Spare)

def test_a_spare_started_ahead_trains_the_job_it_takes_without_tensorflow(training_inputs, tmp_path, monkeypatch):
    """train.py --serve, as `tandem run` starts it, in a TensorFlow-free interpreter: it
    imports, says it is ready, takes the Trainer's arguments from the taker (here this
    process, as run_fn would: pipelines.child.start) and trains to the end."""
    transform_dir, train_files, eval_files = training_inputs
    monkeypatch.setenv("PYTHONPATH", REPO)
    with Spare(runtime.TRAIN_MODULE, python=(sys.executable, RUNNER, "run")) as spare:
        assert spare.ready(300), "the spare did not come to listen"
        with start(runtime.TRAIN_MODULE, *runtime.train_args(
                train_files, eval_files, transform_dir, TAXI.name, str(tmp_path / "model"), str(tmp_path), CONFIG),
                   what="PyTorch training") as training:
            assert training.pid == spare.process.pid  # the spare took it
            report = json.loads(training.finish())
        # tf_free_runner exits 1 (its AssertionError in the run's log) if TensorFlow was loaded
        assert spare.process.wait(60) == 0
    assert report["optimizer_steps"] == 4 and (tmp_path / "model" / runtime.MODEL_FILE).is_file()
