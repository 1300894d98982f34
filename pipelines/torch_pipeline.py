"""The PyTorch branch, on the same front:

    Transform -> TorchTrainer (torch_module.run_fn)
        -> TorchEvaluator (TFMA on the models' predictions, same thresholds as Keras)
        -> TorchServePusher (a versioned .mar, only if blessed)

TFX's Trainer (generic executor) runs the run_fn, which exports the transformed data and
the Transform parameters, then trains in a separate PyTorch process.
"""

import dataclasses
import json

from components.front import Front
from pipelines.common import latest_blessed_model_resolver, trainer
from pipelines.config import PipelineConfig
from pipelines.torch_evaluation import TorchEvaluator
from pipelines.torch_push import TorchServePusher

TORCH_RUN_FN = "pipelines.torch_module.run_fn"
# The run_fn hands over to these; an edit to any of them must retrain.
TORCH_CODE = ("pipelines.torch_train", "pipelines.torch_model", "pipelines.torch_preprocessing",
              "pipelines.transform_params")


def torch_branch(cfg: PipelineConfig, front: Front) -> list:
    torch_trainer = trainer(cfg, front, TORCH_RUN_FN, "TorchTrainer", TORCH_CODE)
    baseline = latest_blessed_model_resolver("latest_blessed_torch_model", "TorchTrainer", "TorchEvaluator")
    evaluator = TorchEvaluator(
        examples=front.example_gen.outputs["examples"],
        transform_graph=front.transform.outputs["transform_graph"],
        model=torch_trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        thresholds=json.dumps(dataclasses.asdict(cfg.evaluation)),
    ).with_id("TorchEvaluator")
    pusher = TorchServePusher(
        model=torch_trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        model_store=cfg.torch_model_store,
    ).with_id("TorchServePusher")
    return [torch_trainer, baseline, evaluator, pusher]
