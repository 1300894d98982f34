"""The TFX pipeline: the shared front, then Keras training, TFMA blessing and a push.

    front (components/front.py) -> Trainer (keras_module.run_fn)
        -> Evaluator (vs. thresholds and the latest blessed model) -> Pusher (if blessed)

`create_pipeline` only wires components; the runner (pipelines/runner.py) picks the
orchestrator and the Beam runner.
"""

import dataclasses

from tfx import v1 as tfx

from components.fingerprint import source_fingerprint
from components.front import create_front
from pipelines import evaluation
from pipelines.config import PipelineConfig

KERAS_RUN_FN = "pipelines.keras_module.run_fn"


def trainer_config(cfg: PipelineConfig) -> dict:
    """Hyperparameters for run_fn, plus a fingerprint of the code so edits miss the cache."""
    code = source_fingerprint("components.features", "pipelines.keras_module")
    return {"train": dataclasses.asdict(cfg.train), "code": code}


def latest_blessed_model_resolver():
    return tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")


def create_pipeline(cfg: PipelineConfig) -> tfx.dsl.Pipeline:
    front = create_front(cfg.front)
    trainer = tfx.components.Trainer(
        run_fn=KERAS_RUN_FN,
        examples=front.transform.outputs["transformed_examples"],
        transform_graph=front.transform.outputs["transform_graph"],
        schema=front.schema_importer.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=cfg.train.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.train.eval_steps),
        custom_config=trainer_config(cfg),
    )
    baseline = latest_blessed_model_resolver()
    evaluator = tfx.components.Evaluator(
        examples=front.example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=evaluation.eval_config(cfg.evaluation),
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=cfg.serving_dir)),
    )
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.name,
        pipeline_root=cfg.pipeline_root,
        components=front.components() + [trainer, baseline, evaluator, pusher],
        enable_cache=cfg.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            cfg.metadata_path),
        beam_pipeline_args=list(cfg.beam_args),
    )
