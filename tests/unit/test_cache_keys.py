"""Edits to user code and to the curated schema must reach TFX's cache key.

TFX keys its cache on a component's inputs and exec properties. User code is named by
module path (unchanged by an edit), so a fingerprint of the source rides in
custom_config; the schema is imported from a content-addressed copy. The end-to-end
test shows the schema case on a real re-run.
"""

import importlib
import json
import sys

from components.fingerprint import source_fingerprint
from components.front import FrontConfig
from components.validate import curated_schema_path, stage_schema
from pipelines.config import PipelineConfig
from pipelines.pipeline import create_pipeline
from pipelines.torch_pipeline import TORCH_CODE


def test_fingerprint_follows_the_source(tmp_path, monkeypatch):
    module = tmp_path / "user_code_probe.py"
    module.write_text("def preprocessing_fn(inputs):\n    return inputs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    before = source_fingerprint("user_code_probe")
    module.write_text("def preprocessing_fn(inputs):\n    return dict(inputs)\n")
    assert source_fingerprint("user_code_probe") != before
    sys.modules.pop("user_code_probe", None)


def test_transform_and_trainers_carry_the_code_fingerprint(tmp_path):
    cfg = PipelineConfig(front=FrontConfig(str(tmp_path), curated_schema_path()), home=str(tmp_path))
    nodes = {c.id: c for c in create_pipeline(cfg, ("tf", "torch")).components}

    def code(node_id):
        return json.loads(nodes[node_id].exec_properties["custom_config"])["code"]

    assert code("Transform") == source_fingerprint("components.features", "components.transform")
    assert code("KerasTrainer") == source_fingerprint("components.features", "pipelines.keras_module")
    assert code("TorchTrainer") == source_fingerprint("components.features", "pipelines.torch_module", *TORCH_CODE)


def test_staged_schema_path_changes_with_content(tmp_path):
    original = curated_schema_path()
    first = stage_schema(original, str(tmp_path / "staged"))
    assert stage_schema(original, str(tmp_path / "staged")) == first  # same content, same path
    edited = tmp_path / "edited.pbtxt"
    edited.write_text(open(original).read() + "\n# an edit\n")
    assert stage_schema(str(edited), str(tmp_path / "staged")) != first
