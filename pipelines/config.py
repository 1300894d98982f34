"""Pipeline configuration: plain frozen dataclasses, filled by the CLI (or a test)."""

import os
from dataclasses import dataclass, field

from components import datasets
from components.dataset import Dataset
from components.front import FrontConfig

DEFAULT_HOME = "tandem_home"  # relative to where tandem runs; TANDEM_HOME overrides it in the CLI
# Beam on one machine: DirectRunner, one worker process per core. `--beam-arg` replaces these.
LOCAL_BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")


@dataclass(frozen=True)
class TrainConfig:
    """The same for both trainers: one optimizer step is one batch, in both frameworks."""

    train_steps: int = 1500  # optimizer steps of `batch_size` rows; about 6 epochs of the 15k taxi sample
    eval_steps: int = 50
    batch_size: int = 64
    learning_rate: float = 1e-3
    adam_epsilon: float = 1e-7  # Keras' default; PyTorch's is 1e-8: both use this one
    hidden_units: tuple[int, ...] = (64, 32)
    seed: int = 42  # same seed, same data, same model


@dataclass(frozen=True)
class EvalConfig:
    """Blessing thresholds, the same for both branches (slices come from the dataset)."""

    min_auc: float = 0.7
    min_accuracy: float = 0.7
    # The candidate may be at most this much worse (AUC) than the last blessed model.
    max_auc_drop: float = 0.01


@dataclass(frozen=True)
class PipelineConfig:
    front: FrontConfig
    home: str  # pipeline root, metadata store and pushed models live under here
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    beam_args: tuple[str, ...] = LOCAL_BEAM_ARGS
    enable_cache: bool = True

    @property
    def dataset(self) -> Dataset:
        return datasets.load(self.front.dataset)

    @property
    def name(self) -> str:
        """One pipeline (and one metadata store) per dataset, shared by both branches."""
        return pipeline_name(self.front.dataset)

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.home, "pipelines", self.name)

    @property
    def metadata_path(self) -> str:
        return metadata_path(self.home, self.front.dataset)

    def serving_dir(self, branch_key: str) -> str:
        """Where a branch pushes its models (`tandem_home/serving/<branch>/`)."""
        return os.path.join(self.home, "serving", branch_key)


def pipeline_name(dataset: str) -> str:
    return f"tandem-{dataset}"


def metadata_path(home: str, dataset: str) -> str:
    return os.path.join(home, "metadata", f"{pipeline_name(dataset)}.sqlite")
