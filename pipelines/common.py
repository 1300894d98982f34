"""Pieces both framework branches wire the same way: the trainer and the baseline resolver."""

import dataclasses

from tfx import v1 as tfx

from components.fingerprint import source_fingerprint
from components.front import Front
from pipelines.config import PipelineConfig


def trainer(cfg: PipelineConfig, front: Front, run_fn: str, component_id: str,
            code: tuple[str, ...] = ()) -> tfx.components.Trainer:
    """TFX's Trainer on the shared Transform output, running `run_fn` (a module path).

    The hyperparameters and a fingerprint of the training code (run_fn's module and the
    modules named in `code`) ride in custom_config, so an edit to it is a cache miss.
    """
    modules = ("components.features", run_fn.rsplit(".", 1)[0]) + code
    return tfx.components.Trainer(
        run_fn=run_fn,
        examples=front.transform.outputs["transformed_examples"],
        transform_graph=front.transform.outputs["transform_graph"],
        schema=front.schema_importer.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=cfg.train.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.train.eval_steps),
        custom_config={"train": dataclasses.asdict(cfg.train),
                       "code": source_fingerprint(*modules)},
    ).with_id(component_id)


def latest_blessed_model_resolver(component_id: str, trainer_id: str, evaluator_id: str) -> tfx.dsl.Resolver:
    """The baseline: the latest model of *this* branch that its evaluator blessed.

    Both branches share one pipeline, so the channels name their producers: otherwise
    a Keras model could become the PyTorch branch's baseline, or the other way round.
    """
    return tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model,
                              producer_component_id=trainer_id, output_key="model"),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing,
                                       producer_component_id=evaluator_id, output_key="blessing"),
    ).with_id(component_id)
