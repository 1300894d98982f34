"""The Keras branch's components, after the shared front:

    Transform -> KerasTrainer (keras_branch.trainer.run_fn)
        -> KerasEvaluator (TFMA: thresholds, and the latest blessed Keras model)
        -> KerasInfraValidator (the SavedModel behind TF Serving's binary where installed, else
           KServe's V1 server, answers the contract)
        -> KerasPusher (only if blessed; atomic, pipelines/push.py) -> serving/keras/<model>/<version>/
"""

from tfx.components import Evaluator
from tfx.proto.pusher_pb2 import PushDestination

from components.fingerprint import code_fingerprint
from components.front import Front
from pipelines import evaluation
from pipelines.config import PipelineConfig
from pipelines.keras_branch.pusher import KerasPusher
from pipelines.wiring import infra_validator, latest_blessed_model_resolver, trainer

RUN_FN = "pipelines.keras_branch.trainer.run_fn"


def create_branch(cfg: PipelineConfig, front: Front, branch) -> list:
    keras_trainer = trainer(cfg, front, RUN_FN, branch)
    baseline = latest_blessed_model_resolver(cfg, branch, keras_trainer)
    evaluator = Evaluator(
        examples=front.example_gen.outputs["examples"],
        model=keras_trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=evaluation.eval_config(cfg.evaluation, cfg.dataset),
    ).with_id(branch.evaluator_id)
    infra = infra_validator(cfg, front, branch, keras_trainer.outputs["model"], evaluator.outputs["blessing"], "tf")
    pusher = KerasPusher(
        model=keras_trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra.outputs["blessing"],
        push_destination=PushDestination(filesystem=PushDestination.Filesystem(
            base_directory=f"{cfg.serving_dir(branch.key)}/{cfg.dataset.model_name}")),
        custom_config={"code": code_fingerprint(KerasPusher.__module__)},  # the executor is ours
    ).with_id(branch.pusher_id)
    return [keras_trainer, baseline, evaluator, infra, pusher]
