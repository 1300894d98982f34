"""What both branches wire the same way: the trainer on the shared Transform output, and
the resolver that finds a branch's last blessed model (the evaluator's baseline)."""

import dataclasses

from tfx import v1 as tfx

from components.fingerprint import code_fingerprint
from components.front import Front
from pipelines.config import PipelineConfig


def trainer(cfg: PipelineConfig, front: Front, run_fn: str, branch) -> tfx.components.Trainer:
    """TFX's Trainer on the shared Transform output, running `run_fn` (a module path).

    The dataset, the hyperparameters and a fingerprint of all the code `run_fn` can run
    ride in custom_config, so an edit to any of them is a cache miss.
    """
    return tfx.components.Trainer(
        run_fn=run_fn,
        examples=front.transform.outputs["transformed_examples"],
        transform_graph=front.transform.outputs["transform_graph"],
        schema=front.schema_importer.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=cfg.train.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.train.eval_steps),
        custom_config={"dataset": cfg.front.dataset, "train": dataclasses.asdict(cfg.train),
                       "code": code_fingerprint(run_fn.rsplit(".", 1)[0], cfg.dataset.package)},
    ).with_id(branch.trainer_id)


def latest_blessed_model_resolver(branch) -> tfx.dsl.Resolver:
    """The baseline: the latest model of *this* branch that its evaluator blessed.

    Both branches share one pipeline, so the channels name their producers: otherwise
    a Keras model could become the PyTorch branch's baseline, or the other way round.
    """
    return tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model,
                              producer_component_id=branch.trainer_id, output_key="model"),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing,
                                       producer_component_id=branch.evaluator_id, output_key="blessing"),
    ).with_id(branch.resolver_id)
