"""What both branches wire the same way: the trainer on the shared Transform output, the
resolver that finds a branch's last blessed model (the evaluator's baseline), and the infra
validator that starts the blessed candidate in its server before any push."""

import dataclasses

from tfx.components import Trainer
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.proto.trainer_pb2 import EvalArgs, TrainArgs
from tfx.types.channel import Channel
from tfx.types.standard_artifacts import Model, ModelBlessing

from components.fingerprint import code_fingerprint
from components.front import Front
from pipelines.config import PipelineConfig
from pipelines.infra_validation import ServingInfraValidator


def trainer(cfg: PipelineConfig, front: Front, run_fn: str, branch) -> Trainer:
    """TFX's Trainer on the shared Transform output, running `run_fn` (a module path).

    The dataset, the hyperparameters and a fingerprint of all the code `run_fn` can run
    ride in custom_config, so an edit to any of them is a cache miss.
    """
    return Trainer(
        run_fn=run_fn,
        examples=front.transform.outputs["transformed_examples"],
        transform_graph=front.transform.outputs["transform_graph"],
        schema=front.schema_importer.outputs["schema"],
        train_args=TrainArgs(num_steps=cfg.train.train_steps),
        eval_args=EvalArgs(num_steps=cfg.train.eval_steps),
        custom_config={"dataset": cfg.front.dataset, "train": dataclasses.asdict(cfg.train),
                       "code": code_fingerprint(run_fn.rsplit(".", 1)[0], cfg.dataset.package)},
    ).with_id(branch.trainer_id)


class LatestBlessedOtherModel(LatestBlessedModelStrategy):
    """TFX's LatestBlessedModelStrategy, leaving out the branch's newest model: the candidate.

    A model is never its own baseline: on a re-run whose Trainer is cached, the candidate is
    the model blessed last time, and TFX's strategy would pick it, so the Evaluator (whose
    inputs then differ from the first run's) would evaluate the model against itself, bless
    it again, and every component after it would run again. Leaving it out resolves the same
    baseline as the run that produced it: a re-run with nothing changed is fully cached.
    The resolver runs after the trainer (an explicit dependency), so the branch's newest
    model is this run's candidate, new or cached. (Naming the candidate by the trainer's
    output channel does not work: TFX merges it with the `model` channel, the same one.)"""

    def resolve_artifacts(self, store, input_dict):
        models = input_dict.get("model", [])
        if models:
            newest = max(models, key=lambda model: model.id)
            input_dict = {**input_dict, "model": [m for m in models if m.id != newest.id]}
        return super().resolve_artifacts(store, input_dict)


def latest_blessed_model_resolver(cfg: PipelineConfig, branch, trainer_node) -> Resolver:
    """The baseline: the latest model of *this* branch that its evaluator blessed, other than
    the candidate that `trainer_node` trains, where the orchestrator allows.

    Both branches share one pipeline, so the channels name their producers: otherwise
    a Keras model could become the PyTorch branch's baseline, or the other way round.
    """
    exclude = cfg.baseline_excludes_candidate
    resolver = Resolver(
        strategy_class=LatestBlessedOtherModel if exclude else LatestBlessedModelStrategy,
        model=Channel(type=Model, producer_component_id=branch.trainer_id, output_key="model"),
        model_blessing=Channel(type=ModelBlessing, producer_component_id=branch.evaluator_id, output_key="blessing"),
    ).with_id(branch.resolver_id)
    if exclude:
        resolver.add_upstream_node(trainer_node)
    return resolver


def infra_validator(cfg: PipelineConfig, front: Front, branch, model, blessing, server: str):
    """ServingInfraValidator for the branch's candidate `model`, in `server` ("tf" or "torch")."""
    return ServingInfraValidator(
        model=model,
        model_blessing=blessing,
        examples=front.example_gen.outputs["examples"],
        transform_graph=front.transform.outputs["transform_graph"],
        server=server,
        dataset=cfg.front.dataset,
        code=code_fingerprint(ServingInfraValidator.__module__, cfg.dataset.package),
    ).with_id(branch.infra_validator_id)
