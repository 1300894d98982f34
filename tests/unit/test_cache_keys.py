"""Edits to tandem's code and to the curated schema must reach TFX's cache key.

TFX keys its cache on a component's inputs and exec properties; code is named by module
path, which an edit does not change. Each component that runs tandem code carries a
fingerprint of all the code it can run in an exec property. These tests copy the code to a
temporary folder, build the pipeline there in a fresh interpreter, edit one module, build
it again, and compare the exec properties TFX would key on: the expectation is what an edit
must (and must not) change, never a fingerprint recomputed here.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import REPO, TAXI

from components.validate import stage_schema

pytestmark = pytest.mark.xdist_group("cache_keys")  # shares a module-scoped fixture

# In a fresh interpreter on the copy: the exec properties as they are, then after each edit
# (a comment appended to one file, then taken out again).
EXEC_PROPERTIES = """
import json, sys
from components.front import FrontConfig
from pipelines.config import PipelineConfig
from pipelines.pipeline import create_pipeline

def properties():
    cfg = PipelineConfig(front=FrontConfig(sys.argv[1], sys.argv[2]), home=sys.argv[1])
    return {c.id: {k: str(v) for k, v in c.exec_properties.items()} for c in create_pipeline(cfg).components}

out = {"": properties()}
for edit in json.loads(sys.argv[3]):
    original = open(edit).read()
    with open(edit, "w") as f:
        f.write(original + "\\n# an edit\\n")
    out[edit] = properties()
    with open(edit, "w") as f:
        f.write(original)
print(json.dumps(out))
"""
CUSTOM = ("StatisticsGen", "AnomaliesGate", "Transform", "KerasTrainer", "TorchTrainer", "TorchEvaluator",
          "TorchPusher")


EDITS = [
    ("components/validate.py", {"AnomaliesGate"}, set()),
    ("components/ingest.py", {"CsvExampleGen"}, {"AnomaliesGate", "Transform"}),
    ("components/transform.py", {"Transform"}, {"AnomaliesGate"}),
    ("components/materialize.py", {"Transform"}, {"AnomaliesGate", "KerasTrainer", "TorchTrainer"}),
    # ExampleGen computes the statistics where it can (components/ingest.py): its code too.
    ("components/statistics.py", {"StatisticsGen", "CsvExampleGen"},
     {"AnomaliesGate", "Transform", "KerasTrainer", "TorchTrainer", "TorchEvaluator"}),
    ("components/front.py", set(), {"KerasTrainer", "TorchTrainer", "TorchEvaluator", "TorchPusher"}),
    ("components/datasets/taxi/label.py", {"Transform", "KerasTrainer", "TorchTrainer"}, {"AnomaliesGate"}),
    ("pipelines/keras_branch/model.py", {"KerasTrainer"}, {"TorchTrainer", "Transform"}),
    ("pipelines/training.py", {"KerasTrainer", "TorchTrainer"}, {"Transform"}),
    ("pipelines/transformed_data.py", {"KerasTrainer", "TorchTrainer"}, {"Transform", "TorchEvaluator"}),
    ("pipelines/torch_branch/runtime/train.py", {"TorchTrainer"}, {"KerasTrainer", "TorchEvaluator"}),
    ("pipelines/torch_branch/runtime/predict.py", {"TorchEvaluator"}, {"KerasTrainer"}),
    ("pipelines/torch_branch/evaluator.py", {"TorchEvaluator"}, {"TorchPusher", "Transform"}),
    ("pipelines/torch_branch/pusher.py", {"TorchPusher"}, {"TorchEvaluator"}),
    ("serving/torchserve/handler.py", {"TorchPusher"}, {"TorchTrainer"}),
    # both served models carry the contract (the SavedModel's assets.extra, the .mar), and both
    # infra validators speak it
    ("serving/contract.py", {"KerasTrainer", "TorchPusher", "KerasInfraValidator", "TorchInfraValidator"},
     {"Transform", "TorchTrainer"}),
]


@pytest.fixture(scope="module")
def exec_properties(tmp_path_factory) -> dict:
    """{edit ("" for none): {component id: exec properties}}, from a copy of the code."""
    root = tmp_path_factory.mktemp("code")
    for package in ("components", "pipelines", "serving"):
        shutil.copytree(os.path.join(REPO, package), root / package, ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path_factory.mktemp("home")
    schema = stage_schema(TAXI.schema_path, str(home / "schemas"))
    edits = json.dumps([edit for edit, _, _ in EDITS])
    out = subprocess.run([sys.executable, "-c", EXEC_PROPERTIES, str(home), schema, edits], cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("edit, must_change, must_not_change", EDITS, ids=[e for e, _, _ in EDITS])
def test_an_edit_changes_the_cache_key_of_what_runs_that_code(edit, must_change, must_not_change, exec_properties):
    before, after = exec_properties[""], exec_properties[edit]
    changed = {node for node in before if before[node] != after[node]}
    assert must_change <= changed, f"{edit}: {sorted(must_change - changed)} would be served from cache"
    assert not must_not_change & changed, f"{edit}: needlessly invalidates {sorted(must_not_change & changed)}"


def test_every_custom_component_carries_a_code_fingerprint(exec_properties):
    properties = exec_properties[""]
    for node in CUSTOM:
        fingerprint = properties[node].get("code") or json.loads(properties[node]["custom_config"])["code"]
        assert len(fingerprint) == 16, node


def test_staged_schema_path_changes_with_content(tmp_path):
    first = stage_schema(TAXI.schema_path, str(tmp_path / "staged"))
    assert stage_schema(TAXI.schema_path, str(tmp_path / "staged")) == first  # same content, same path
    edited = tmp_path / "edited.pbtxt"
    with open(TAXI.schema_path) as f:
        edited.write_text(f.read() + "\n# an edit\n")
    assert stage_schema(str(edited), str(tmp_path / "staged")) != first
