"""The two branches after the shared front, one record each: what the pipeline, the CLI,
the run summary and the comparison know about a branch, and nowhere else.

    keras   TFX Trainer (Keras) -> TFX Evaluator (TFMA) -> Pusher: a SavedModel for TF Serving
    torch   TFX Trainer (a PyTorch process) -> TorchEvaluator (TFMA) -> TorchServePusher: a .mar

Both are TFX; they differ only in the framework that trains and serves the model.
"""

from dataclasses import dataclass
from importlib import import_module

from pipelines.torch_branch.runtime import MODEL_FILE, TRAIN_MODULE


@dataclass(frozen=True)
class Branch:
    key: str  # the branch's name everywhere: component ids, outputs, reports
    cli_name: str  # what users type: `tandem run tf|torch`
    title: str  # in reports
    server: str  # what serves its pushed models
    component_prefix: str  # its component ids: <prefix>Trainer, <prefix>Evaluator, <prefix>Pusher
    module: str  # where its create_branch(cfg, front, branch) is
    serving_file: str = ""  # the served model inside the Trainer's serving folder ("": the folder)
    spare: str = ""  # a module its Trainer runs as a child, which a local run starts ahead (pipelines/child.Spare)

    def create(self, cfg, front) -> list:
        """The branch's components, wired to the front. Its module is imported here, not with
        this one: TFX's components import TensorFlow, PyTorch and Beam (seconds), which the
        reports and the CLI, reading these records, do not need."""
        return import_module(self.module).create_branch(cfg, front, self)

    @property
    def trainer_id(self) -> str:
        return f"{self.component_prefix}Trainer"

    @property
    def resolver_id(self) -> str:
        return f"{self.component_prefix}LatestBlessedModel"

    @property
    def evaluator_id(self) -> str:
        return f"{self.component_prefix}Evaluator"

    @property
    def infra_validator_id(self) -> str:
        return f"{self.component_prefix}InfraValidator"

    @property
    def pusher_id(self) -> str:
        return f"{self.component_prefix}Pusher"


KERAS = Branch(key="keras", cli_name="tf", title="TFX / Keras", server="TF Serving",
               component_prefix="Keras", module="pipelines.keras_branch.branch")
TORCH = Branch(key="torch", cli_name="torch", title="PyTorch", server="TorchServe",
               component_prefix="Torch", module="pipelines.torch_branch.branch", serving_file=MODEL_FILE,
               spare=TRAIN_MODULE)
BRANCHES = {b.key: b for b in (KERAS, TORCH)}


def by_cli_name(name: str) -> tuple[Branch, ...]:
    """`tandem run tf|torch|all` -> the branches it runs."""
    return tuple(BRANCHES.values()) if name == "all" else tuple(b for b in BRANCHES.values() if b.cli_name == name)
