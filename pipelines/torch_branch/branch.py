"""The PyTorch branch's components, after the shared front:

    Transform -> TorchTrainer (torch_branch.trainer.run_fn: a PyTorch process trains)
        -> TorchEvaluator (TFMA on the models' predictions, the Keras branch's thresholds)
        -> TorchInfraValidator (the .mar behind a real TorchServe answers the contract)
        -> TorchPusher (only if blessed) -> serving/torch/model_store/<model>-<version>.mar
"""

import dataclasses
import json
import os

from components.fingerprint import code_fingerprint
from components.front import Front
from pipelines.config import PipelineConfig
from pipelines.torch_branch.evaluator import TorchEvaluator
from pipelines.torch_branch.pusher import TorchServePusher
from pipelines.wiring import infra_validator, latest_blessed_model_resolver, trainer

RUN_FN = "pipelines.torch_branch.trainer.run_fn"


def create_branch(cfg: PipelineConfig, front: Front, branch) -> list:
    torch_trainer = trainer(cfg, front, RUN_FN, branch)
    baseline = latest_blessed_model_resolver(cfg, branch, torch_trainer)
    evaluator = TorchEvaluator(
        examples=front.example_gen.outputs["examples"],
        transform_graph=front.transform.outputs["transform_graph"],
        model=torch_trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        thresholds=json.dumps(dataclasses.asdict(cfg.evaluation)),
        dataset=cfg.front.dataset,
        code=code_fingerprint(TorchEvaluator.__module__, cfg.dataset.package),
    ).with_id(branch.evaluator_id)
    infra = infra_validator(cfg, front, branch, torch_trainer.outputs["model"], evaluator.outputs["blessing"], "torch")
    pusher = TorchServePusher(
        model=torch_trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra.outputs["blessing"],
        model_store=os.path.join(cfg.serving_dir(branch.key), "model_store"),
        dataset=cfg.front.dataset,
        code=code_fingerprint(TorchServePusher.__module__, cfg.dataset.package),
    ).with_id(branch.pusher_id)
    return [torch_trainer, baseline, evaluator, infra, pusher]
