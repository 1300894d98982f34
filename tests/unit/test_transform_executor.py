"""components/transform_executor.py: TFX's Transform, writing the transformed splits
uncompressed on DirectRunner. The front's ExampleGen -> ImportSchemaGen -> Transform runs on the
shipped sample twice, through TFX's local runner: with tandem's executor, and with TFX's Do in
its place (the reference): the same transformed examples, ours plain TFRecords, TFX's gzip."""

import glob
import os

import tensorflow as tf
from helpers import SAMPLE_CSV, TAXI
from tfx import v1 as tfx
from tfx.components.transform import executor as tfx_transform

from components import transform_executor
from components.front import FrontConfig, create_front
from components.validate import stage_schema
from pipelines.config import SMALL_INPUT_BEAM_ARGS
from pipelines.runner import run_pipeline


def transformed(root: str) -> dict[str, tuple[list[bytes], list[str]]]:
    """{split: (its examples, serialized deterministically and sorted; its files)}."""
    found = {}
    for split in ("train", "eval"):
        files = glob.glob(os.path.join(root, "Transform", "transformed_examples", "*", f"Split-{split}", "*"))
        records = []
        for path in files:
            compression = "GZIP" if path.endswith(".gz") else ""  # the readers' rule: by the name
            records += [tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
                        for r in tf.data.TFRecordDataset(path, compression_type=compression)]
        found[split] = sorted(records), files
    return found


def run_front(tmp_path, name: str) -> str:
    front = create_front(FrontConfig(os.path.dirname(SAMPLE_CSV), stage_schema(TAXI.schema_path, str(tmp_path)),
                                     input_pattern=os.path.basename(SAMPLE_CSV), dataset=TAXI.name))
    front.transform.remove_upstream_node(front.gate)
    root = str(tmp_path / name)
    run_pipeline(tfx.dsl.Pipeline(
        pipeline_name=name, pipeline_root=root, enable_cache=False,
        components=[front.example_gen, front.schema_importer, front.transform],
        beam_pipeline_args=list(SMALL_INPUT_BEAM_ARGS),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / f"{name}.sqlite"))), echo=lambda _: None)
    return root


def is_gzip(path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"  # gzip's magic number


def test_on_direct_runner_the_transformed_splits_are_tfx_s_uncompressed(tmp_path, monkeypatch):
    ours = transformed(run_front(tmp_path, "ours"))
    assert tfx_transform.TransformProcessor is transform_executor.TFX_PROCESSOR  # TFX's own again, after Do
    monkeypatch.setattr(transform_executor.Executor, "Do", tfx_transform.Executor.Do)
    theirs = transformed(run_front(tmp_path, "tfx"))
    for split in ("train", "eval"):
        (our_examples, our_files), (their_examples, their_files) = ours[split], theirs[split]
        assert our_examples == their_examples and len(our_examples) > 50
        assert our_files and not any(p.endswith(".gz") or is_gzip(p) for p in our_files)
        assert their_files and all(p.endswith(".gz") and is_gzip(p) for p in their_files)
    assert len(ours["train"][0]) + len(ours["eval"][0]) == 400
