"""Reproducibility: two whole pipeline runs from nothing on the same data give the same
models, for both branches, whichever way Beam runs.

Each run is the real CLI (`tandem run all`) in a subprocess with a fresh --home: one in the
mode tandem picks for small inputs (DirectRunner in the tandem process), one in the mode it
picks for large ones (multi_processing, 2 worker processes here), where the order and
batching of rows change from run to run. The two runs go at the same time, which also makes
their timing, and so their batching, differ. Then, stage by stage:
the Transform's analyzer results are identical, the transformed training data both
trainers read (the PyTorch trainer's export, in canonical row order) is identical, each
trainer took exactly --train-steps optimizer steps, and every eval metric of both branches
agrees within 1e-4.
"""

import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import REPO, SAMPLE_CSV, TAXI

from components.analyzer_results import AnalyzerResults
from pipelines.home import metadata_path, pipeline_name
from pipelines.training import REPORT_FILE
from pipelines.transformed_data import load_split
from reporting.summary import run_summary

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("reproducibility")]

STEPS = 200
TOLERANCE = 1e-4
BRANCHES = {"keras": "KerasTrainer", "torch": "TorchTrainer"}  # summary key -> Trainer component id
MULTI_PROCESSING = ["--beam-arg=--direct_running_mode=multi_processing", "--beam-arg=--direct_num_workers=2"]


def start_run(home: str, *beam_args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tandem.cli", "run", "all", "--home", home, "--data", SAMPLE_CSV,
         "--train-steps", str(STEPS), *beam_args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    homes = [str(tmp_path_factory.mktemp(f"run_{name}")) for name in ("in_process", "multi_processing")]
    start = time.perf_counter()
    runs = [start_run(homes[0]), start_run(homes[1], *MULTI_PROCESSING)]
    try:
        for home, run, mode in zip(homes, runs, ("DirectRunner in this process", "multi_processing"), strict=True):
            out, _ = run.communicate(timeout=900)
            assert run.returncode == 0, f"tandem run all --home {home} failed:\n{out}"
            beam = next(line for line in out.splitlines() if line.startswith("tandem: Beam: "))
            assert mode in beam, beam  # the run said how Beam ran it
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    print(f"two runs in {time.perf_counter() - start:.0f}s")
    return homes


def artifact(home: str, pattern: str) -> str:
    (path,) = glob.glob(os.path.join(home, "pipelines", pipeline_name(TAXI.name), pattern))
    return path


def training_report(home: str, branch: str) -> dict:
    with open(os.path.join(artifact(home, f"{BRANCHES[branch]}/model_run/*"), REPORT_FILE)) as f:
        return json.load(f)


def test_the_transform_computes_the_same_analyzer_results(homes):
    first, second = (AnalyzerResults.read(artifact(home, "Transform/transform_graph/*")) for home in homes)
    assert first == second  # means, variances, bucket boundaries, vocabularies and widths, to the bit


def test_both_trainers_read_the_same_training_data(homes):
    """The transformed splits in the canonical order both trainers batch them in
    (transformed_data.load_split): any difference upstream shows here first."""
    for split in ("train", "eval"):
        first, second = (load_split([os.path.join(artifact(home, "Transform/transformed_examples/*"),
                                                  f"Split-{split}", "*")]) for home in homes)
        assert sorted(first) == sorted(second) and len(first[TAXI.label.name]) > 0
        for name in first:
            np.testing.assert_array_equal(first[name], second[name], err_msg=f"{split}: {name}")


@pytest.mark.parametrize("branch", BRANCHES)
def test_each_trainer_takes_exactly_the_steps_asked_for(homes, branch):
    for home in homes:
        report = training_report(home, branch)
        assert report["train_steps"] == STEPS
        assert report["optimizer_steps"] == STEPS  # Keras: optimizer.iterations; PyTorch: Adam's step count


@pytest.mark.parametrize("branch", BRANCHES)
def test_two_runs_give_the_same_eval_metrics(homes, branch):
    first, second = (run_summary(metadata_path(home, TAXI.name)).branches[branch].metrics for home in homes)
    assert first and set(first) == set(second)
    assert first["example_count"] > 0
    differences = {name: abs(first[name] - second[name]) for name in first}
    assert max(differences.values()) <= TOLERANCE, {name: (first[name], second[name]) for name in first}


@pytest.mark.parametrize("branch", BRANCHES)
def test_two_runs_give_the_same_final_eval_loss(homes, branch):
    first, second = (training_report(home, branch) for home in homes)
    assert first["final_eval_loss"] == pytest.approx(second["final_eval_loss"], abs=TOLERANCE)
