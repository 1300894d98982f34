"""A second dataset through the real CLI: Palmer penguins (predict a penguin's sex).

Proves the template is dataset-agnostic: `tandem run all --dataset penguins` trains,
blesses and pushes both branches on data the palmerpenguins package ships, `tandem
compare` reports on them by the dataset's own slices, and the shared gate stops a copy
of the data with a species the curated schema does not know. Each command runs as a
user would run it, in a subprocess (`python -m tandem.cli`); the successful run is one
module-scoped run that the tests below read.
"""

import csv
import os
import re
import subprocess
import sys

import pytest
from helpers import REPO

from components import datasets

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("penguins")]

EXIT_INVALID_DATA = 3  # tandem's exit status when the data fails validation

PENGUINS = datasets.load("penguins")
BRANCHES = ("keras", "torch")


def tandem(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tandem.cli", *args], cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return str(tmp_path_factory.mktemp("penguins_home"))


@pytest.fixture(scope="module")
def run_all(home):
    """`tandem run all --dataset penguins`: stdout, and the pushed version of each branch."""
    out = tandem("run", "all", "--dataset", "penguins", "--home", home, "--train-steps", "300")
    assert out.returncode == 0, out.stdout + out.stderr
    versions = {}
    for branch in BRANCHES:
        pushed = re.search(rf"^\s*\[{branch}\] pushed: (?:already pushed as )?version (\d+) -> ", out.stdout, re.M)
        assert pushed, out.stdout
        versions[branch] = pushed.group(1)
    return out.stdout, versions


@pytest.fixture(scope="module")
def comparison(home, run_all):
    reports = os.path.join(home, "reports")
    out = tandem("compare", "--dataset", "penguins", "--home", home, "--out", reports)
    assert out.returncode == 0, out.stdout + out.stderr
    return reports


def test_the_run_reads_the_prepared_bundled_data(home, run_all):
    stdout, _ = run_all
    prepared = os.path.join(home, "data", "penguins.csv")
    assert f"on {prepared} (dataset penguins)" in stdout
    with open(prepared, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 333  # the 11 rows without a label are left out
    assert all(r["sex"] in ("male", "female") for r in rows)
    assert not any("NA" in r.values() for r in rows)


def test_both_branches_are_blessed_and_pushed(home, run_all):
    stdout, versions = run_all
    assert "anomalies: none" in stdout
    for branch in BRANCHES:
        assert f"[{branch}] blessed: yes" in stdout, stdout
    keras_model = os.path.join(home, "serving", "keras", PENGUINS.model_name, versions["keras"])
    assert os.path.isfile(os.path.join(keras_model, "saved_model.pb"))
    model_store = os.path.join(home, "serving", "torch", "model_store")
    assert f"{PENGUINS.model_name}-{versions['torch']}.mar" in os.listdir(model_store)


def test_compare_names_the_dataset_and_plots_its_slices(comparison):
    with open(os.path.join(comparison, "comparison.md")) as f:
        report = f.read()
    assert "dataset `penguins`" in report and PENGUINS.title in report
    for slice_ in PENGUINS.slices:  # species and island
        assert f"slice_{slice_}.png" in report
        assert os.path.isfile(os.path.join(comparison, f"slice_{slice_}.png"))


def test_the_gate_stops_an_unseen_species_before_anything_is_pushed(tmp_path):
    with open(PENGUINS.bundled_csv(str(tmp_path / "prepared")), newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames), list(reader)
    for i, row in enumerate(rows):
        if i % 7 == 0:
            row["species"] = "Emperor"
    data = tmp_path / "penguins.csv"
    with open(data, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    home = str(tmp_path / "home")
    out = tandem("run", "torch", "--dataset", "penguins", "--data", str(data), "--home", home)
    assert out.returncode == EXIT_INVALID_DATA, out.stdout + out.stderr
    assert "STOPPED by the validation gate" in out.stderr
    assert "feature 'species'" in out.stderr and "Emperor" in out.stderr
    ran = set(os.listdir(os.path.join(home, "pipelines", "tandem-penguins")))
    assert ran <= {"CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate"}, ran
    assert not os.path.exists(os.path.join(home, "serving"))  # nothing pushed
