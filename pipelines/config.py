"""Pipeline configuration: plain frozen dataclasses, filled by the CLI (or a test)."""

import os
from dataclasses import dataclass, field

from components.front import FrontConfig

PIPELINE_NAME = "tandem"


@dataclass(frozen=True)
class TrainConfig:
    train_steps: int = 1500  # batches of `batch_size`; about 6 epochs of the 15k sample
    eval_steps: int = 50
    batch_size: int = 64
    learning_rate: float = 1e-3
    hidden_units: tuple[int, ...] = (64, 32)
    seed: int = 42  # same seed, same data, same model


@dataclass(frozen=True)
class EvalConfig:
    """Blessing thresholds, the same for both frameworks."""

    min_auc: float = 0.7
    min_accuracy: float = 0.7
    # The candidate may be at most this much worse (AUC) than the last blessed model.
    max_auc_drop: float = 0.01
    slices: tuple[str, ...] = ("payment_type", "trip_start_hour")


@dataclass(frozen=True)
class PipelineConfig:
    front: FrontConfig
    home: str  # pipeline root, metadata store and pushed models live under here
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    beam_args: tuple[str, ...] = (
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=0",  # one worker per core
    )
    enable_cache: bool = True
    name: str = PIPELINE_NAME

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.home, "pipelines", self.name)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.home, "metadata", f"{self.name}.sqlite")

    @property
    def serving_dir(self) -> str:
        """TF Serving's model_base_path: numbered version folders appear here."""
        return os.path.join(self.home, "serving", "tf", "big_tipper")

    @property
    def torch_model_store(self) -> str:
        """TorchServe's --model-store: big_tipper-<version>.mar archives appear here."""
        return os.path.join(self.home, "serving", "torch", "model_store")
