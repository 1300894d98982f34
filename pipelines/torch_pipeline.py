"""The PyTorch branch, on the same front: TorchTrainer (torch_module.run_fn).

TFX's Trainer (generic executor) runs the run_fn, which exports the transformed data and
the Transform parameters, then trains in a separate PyTorch process. Evaluation and the
TorchServe push are the next steps of this branch (issue 3).
"""

from components.front import Front
from pipelines.common import trainer
from pipelines.config import PipelineConfig

TORCH_RUN_FN = "pipelines.torch_module.run_fn"
# The run_fn hands over to these; an edit to any of them must retrain.
TORCH_CODE = ("pipelines.torch_train", "pipelines.torch_model", "pipelines.torch_preprocessing",
              "pipelines.transform_params")


def torch_branch(cfg: PipelineConfig, front: Front) -> list:
    return [trainer(cfg, front, TORCH_RUN_FN, "TorchTrainer", TORCH_CODE)]
