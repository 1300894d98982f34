"""The pipeline as a KFP v2 pipeline spec (IR YAML) for Kubeflow Pipelines or Vertex AI
Pipelines, through TFX's KubeflowV2DagRunner: `tandem compile --target kfp`.

Nothing of this machine goes into the spec:
- the data is a runtime parameter, `data-root`: a folder of CSV files the pods can read
  (gs://BUCKET/data, or a mounted path);
- the curated schema is one too, `schema-file`; its default is the dataset's schema inside the
  pipeline image, relative to the image's working directory (the repository root);
- the pipeline root is the run's, the KFP v2 way: given when the run is submitted (KFP:
  `pipeline_root=` of the client's create_run…, else the cluster's default; Vertex AI:
  `PipelineJob(pipeline_root=…)`); ML Metadata is the platform's;
- the pushers publish under `serving_root`, a path inside the pipeline's containers (default
  /tandem/serving: mount a volume there; on Vertex AI, /gcs/BUCKET/… is Cloud Storage).

Where TFX's KFP v2 compiler forces a difference from the local pipeline (it resolves artifacts
by type, not by producer, and knows only TFX's latest-artifact and latest-blessed-model
resolvers):
- each branch is a KFP pipeline of its own (`tandem-<dataset>-tf`, `tandem-<dataset>-torch`,
  each with the shared front): in one pipeline, a branch's evaluator could be handed the other
  branch's model as its baseline;
- the gate's drift baseline is the pipeline's newest ExampleStatistics (TFX's
  LatestArtifactStrategy), not the newest validated span before this one;
- the evaluators' baseline is TFX's LatestBlessedModelStrategy as it is (KFP resolves it
  before the trainer runs, so the candidate is not among the models it picks from).
"""

import os
from dataclasses import dataclass

import yaml

from pipelines.config import PipelineConfig
from pipelines.home import pipeline_name

DEFAULT_IMAGE = "tandem:latest"
DEFAULT_SERVING_ROOT = "/tandem/serving"
DATA_ROOT, SCHEMA_FILE = "data-root", "schema-file"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class KfpConfig(PipelineConfig):
    """The pipeline's configuration for KFP: its paths are the platform's or the containers'."""

    serving_root: str = DEFAULT_SERVING_ROOT
    branch_name: str = ""  # one KFP pipeline per branch
    baseline_excludes_candidate: bool = False  # KFP resolves the baseline before the trainer runs

    @property
    def name(self) -> str:
        base = pipeline_name(self.front.dataset)
        return f"{base}-{self.branch_name}" if self.branch_name else base

    @property
    def pipeline_root(self) -> str:
        return ""  # the run's: set when it is submitted

    @property
    def metadata_path(self) -> str:
        return ""  # the platform's ML Metadata

    def serving_dir(self, branch_key: str) -> str:
        return f"{self.serving_root.rstrip('/')}/{branch_key}"


def _drift_baseline_for_kfp(pipeline) -> None:
    """The gate's history resolver (components.validate.RecentArtifacts) as TFX's
    LatestArtifactStrategy, the one the KFP v2 compiler can express."""
    from tfx.dsl.components.common.resolver import RESOLVER_STRATEGY_CLASS, Resolver
    from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy

    from components.validate import RecentArtifacts

    for node in pipeline.components:
        if isinstance(node, Resolver) and node.exec_properties.get(RESOLVER_STRATEGY_CLASS) is RecentArtifacts:
            node._strategy_class, node._config = LatestArtifactStrategy, {}  # TFX has no public setter


def compile_specs(dataset: str, branches, image: str = DEFAULT_IMAGE, out_dir: str = ".", beam_args=None,
                  serving_root: str = DEFAULT_SERVING_ROOT, input_pattern: str | None = None) -> dict[str, dict]:
    """Write one KFP v2 pipeline spec (IR YAML) per branch into `out_dir`; {path: its pipelineSpec}."""
    from tfx import v1 as tfx
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import KubeflowV2DagRunner, KubeflowV2DagRunnerConfig

    from components import datasets
    from components.front import FrontConfig
    from pipelines.pipeline import create_pipeline

    if not serving_root.startswith("/"):
        raise ValueError(f"--serving-root {serving_root}: an absolute path inside the pipeline's containers")
    schema = os.path.relpath(datasets.load(dataset).schema_path, REPO)
    front = FrontConfig(
        input_base=tfx.dsl.experimental.RuntimeParameter(name=DATA_ROOT, ptype=str),
        schema_file=tfx.dsl.experimental.RuntimeParameter(name=SCHEMA_FILE, ptype=str, default=schema),
        input_pattern=input_pattern or "*.csv", dataset=dataset)
    written = {}
    for branch in branches:
        cfg = KfpConfig(front=front, home="", serving_root=serving_root, branch_name=branch.cli_name,
                        **({"beam_args": tuple(beam_args)} if beam_args else {}))
        pipeline = create_pipeline(cfg, (branch,))
        _drift_baseline_for_kfp(pipeline)
        job = KubeflowV2DagRunner(KubeflowV2DagRunnerConfig(default_image=image, use_pipeline_spec_2_1=True)
                                  ).run(pipeline, write_out=False)
        spec = job["pipelineSpec"]
        # TFX keeps a RuntimeParameter's default only in a PipelineJob's runtime config: put it in the spec.
        spec["root"]["inputDefinitions"]["parameters"][SCHEMA_FILE].update(defaultValue=schema, isOptional=True)
        path = os.path.join(out_dir, f"{cfg.name}.yaml")
        os.makedirs(out_dir, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write(f"# KFP v2 pipeline {cfg.name}, compiled by `tandem compile --target kfp` (TFX "
                    f"{spec.get('sdkVersion', '')}).\n# Runtime parameters: {DATA_ROOT} (required), {SCHEMA_FILE} "
                    f"(default {schema}); the pipeline root is the run's.\n")
            yaml.safe_dump(spec, f, sort_keys=True)
        os.replace(path + ".tmp", path)
        written[path] = spec
    return written
