"""`create_pipeline`: the shared front, then one branch per framework asked for.

One pipeline name and one metadata store for all branches, so the front and Transform
run once and stay cached whichever branches a run selects. Only wiring happens here;
pipelines/runner.py picks the orchestrator and the Beam runner.
"""

from tfx import v1 as tfx

from components.front import create_front
from pipelines.config import PipelineConfig
from pipelines.tfx_pipeline import keras_branch
from pipelines.torch_pipeline import torch_branch

BRANCHES = {"tf": keras_branch, "torch": torch_branch}


def create_pipeline(cfg: PipelineConfig, frameworks: tuple[str, ...] = ("tf",)) -> tfx.dsl.Pipeline:
    unknown = set(frameworks) - set(BRANCHES)
    if unknown or not frameworks:
        raise ValueError(f"frameworks must be among {sorted(BRANCHES)}, got {frameworks}")
    front = create_front(cfg.front)
    components = front.components()
    for framework in frameworks:
        components += BRANCHES[framework](cfg, front)
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.name,
        pipeline_root=cfg.pipeline_root,
        components=components,
        enable_cache=cfg.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            cfg.metadata_path),
        beam_pipeline_args=list(cfg.beam_args),
    )
