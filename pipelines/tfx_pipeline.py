"""The TFX (Keras) branch: Keras training, TFMA blessing, a push for TF Serving.

    Transform -> KerasTrainer (keras_module.run_fn)
        -> KerasEvaluator (vs. thresholds and the latest blessed model) -> KerasPusher (if blessed)
"""

from tfx import v1 as tfx

from components.front import Front
from pipelines import evaluation
from pipelines.common import latest_blessed_model_resolver, trainer
from pipelines.config import PipelineConfig

KERAS_RUN_FN = "pipelines.keras_module.run_fn"


def keras_branch(cfg: PipelineConfig, front: Front) -> list:
    keras_trainer = trainer(cfg, front, KERAS_RUN_FN, "KerasTrainer")
    baseline = latest_blessed_model_resolver("latest_blessed_keras_model", "KerasTrainer", "KerasEvaluator")
    evaluator = tfx.components.Evaluator(
        examples=front.example_gen.outputs["examples"],
        model=keras_trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=evaluation.eval_config(cfg.evaluation),
    ).with_id("KerasEvaluator")
    pusher = tfx.components.Pusher(
        model=keras_trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=cfg.serving_dir)),
    ).with_id("KerasPusher")
    return [keras_trainer, baseline, evaluator, pusher]
