"""`create_pipeline`: the shared front, then the branches asked for (pipelines/branches.py).

One pipeline and one metadata store per dataset for both branches, so the front and
Transform run once and stay cached whichever branches a run selects. Only wiring happens
here; pipelines/runner.py picks the orchestrator and the Beam runner.
"""

# TFX's own modules, not tfx.v1: importing tfx.v1 imports its Google Cloud extensions, ~2 s of every run.
from tfx.orchestration.metadata import sqlite_metadata_connection_config
from tfx.orchestration.pipeline import Pipeline

from components.front import create_front
from pipelines.branches import BRANCHES, Branch
from pipelines.config import PipelineConfig


def create_pipeline(cfg: PipelineConfig, branches: tuple[Branch, ...] = tuple(BRANCHES.values())) -> Pipeline:
    if not branches:
        raise ValueError("a pipeline needs at least one branch")
    front = create_front(cfg.front)
    components = front.components()
    for branch in branches:
        components += branch.create(cfg, front)
    return Pipeline(
        pipeline_name=cfg.name,
        pipeline_root=cfg.pipeline_root,
        components=components,
        enable_cache=cfg.enable_cache,
        metadata_connection_config=sqlite_metadata_connection_config(
            cfg.metadata_path),
        beam_pipeline_args=list(cfg.beam_args),
    )
