"""`tandem predict` on what the first taxi run (tests/e2e/conftest.py) pushed: the CSV of
probabilities equals, row by row, the pushed models called in-process — the SavedModel's
serving_default here, the archive's TorchScript model in a PyTorch process — on the
contract's columns (an empty cell: NaN for a number, "" for a string). `tandem predict
torch` never loads TensorFlow."""

import csv
import math
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from helpers import REPO, SAMPLE_CSV, TAXI, tandem

from tandem.commands.serving import pushed_versions

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("taxi_run")]


def sample_columns() -> dict:
    """The sample's model features as the contract reads them: float64 (NaN) and str ("")."""
    with open(SAMPLE_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    return {n: np.array([r[n] for r in rows]) if TAXI.is_string(n) else
            np.array([float(r[n]) if r[n].strip() else math.nan for r in rows], dtype=np.float64)
            for n in TAXI.serving_features}


def probabilities(path) -> np.ndarray:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["probability"]
        return np.array([float(p) for (p,) in reader])


def newest(home: str, target: str) -> str:
    found = pushed_versions(home, target, TAXI.model_name)
    return found[max(found)]


def test_predict_tf_answers_what_the_saved_model_answers_in_process(taxi_run, tmp_path):
    import tensorflow as tf

    home, _ = taxi_run
    out = tandem("predict", "tf", "--home", home, "--data", SAMPLE_CSV, "--out", str(tmp_path / "tf.csv"))
    assert out.returncode == 0, out.stderr
    scored = probabilities(tmp_path / "tf.csv")
    serve = tf.saved_model.load(newest(home, "tf")).signatures["serving_default"]
    in_process = serve(**{n: tf.constant(v) for n, v in sample_columns().items()})["probability"].numpy()
    assert scored.shape == in_process.shape == (len(next(iter(sample_columns().values()))),)
    np.testing.assert_allclose(scored, in_process, atol=1e-6, rtol=0)


def test_predict_torch_answers_what_the_archived_model_answers_without_tensorflow(taxi_run, tmp_path):
    home, _ = taxi_run
    # The whole command in a fresh interpreter that checks, at its end, that TensorFlow never loaded.
    check = ("import sys; from tandem.cli import main; code = main(sys.argv[1:]); "
             "assert 'tensorflow' not in sys.modules, 'tandem predict torch loaded TensorFlow'; sys.exit(code)")
    out = subprocess.run([sys.executable, "-c", check, "predict", "torch", "--home", home, "--data", SAMPLE_CSV,
                          "--out", str(tmp_path / "torch.csv")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    scored = probabilities(tmp_path / "torch.csv")
    with zipfile.ZipFile(newest(home, "torch")) as archive:  # the very model the archive holds
        archive.extract("model.pt", tmp_path)
    np.savez(tmp_path / "rows.npz", **sample_columns())
    run = subprocess.run([sys.executable, "-m", "pipelines.torch_branch.runtime.predict", "--rows",
                          str(tmp_path / "rows.npz"), "--out", str(tmp_path / "p.npz"), f"m={tmp_path / 'model.pt'}"],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    in_process = np.load(tmp_path / "p.npz")["m"]
    assert scored.shape == in_process.shape
    np.testing.assert_allclose(scored, in_process, atol=1e-6, rtol=0)


@pytest.mark.parametrize("target, progress", [("tf", "100,000 rows scored"), ("torch", "100,000 rows read")])
def test_predict_reads_a_big_file_in_chunks_with_progress(taxi_run, tmp_path, target, progress):
    """More rows than one chunk: progress on stderr, and the rows' answers as when scored alone, in order."""
    home, _ = taxi_run
    with open(SAMPLE_CSV, newline="") as f:
        header, *rows = list(csv.reader(f))
    copies = -(-100_001 // len(rows))  # past one chunk of 100,000 rows
    with open(tmp_path / "big.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for _ in range(copies):
            writer.writerows(rows)
    big = tandem("predict", target, "--home", home, "--data", str(tmp_path / "big.csv"), "--out",
                 str(tmp_path / "big_p.csv"))
    assert big.returncode == 0, big.stderr
    assert progress in big.stderr
    small = tandem("predict", target, "--home", home, "--data", SAMPLE_CSV, "--out", str(tmp_path / "p.csv"))
    assert small.returncode == 0, small.stderr
    np.testing.assert_allclose(probabilities(tmp_path / "big_p.csv").reshape(copies, -1),
                               np.tile(probabilities(tmp_path / "p.csv"), (copies, 1)), atol=1e-6, rtol=0)
    assert not [n for n in os.listdir(tmp_path) if "partial" in n]
