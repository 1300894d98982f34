"""PyTorch code that runs in processes of its own and never imports TensorFlow.

TensorFlow and PyTorch's compiler stack abort together in one process (an LLVM clash,
see ../../README), and this code also runs as its own container on Kubernetes, where
TensorFlow is not installed. tests/unit/test_runtime_boundary.py holds the rule: every
module here imports without loading `tensorflow`, and training ends without it.

    model.py          the network, and the TorchScript serving model (raw rows in)
    preprocessing.py  the Transform's steps in PyTorch, from its published analyzer results
    train.py          python -m pipelines.torch_branch.runtime.train ...
    predict.py        python -m pipelines.torch_branch.runtime.predict ...
"""

MODEL_FILE = "model.pt"  # the TorchScript ServingModel, in the Trainer's serving model folder
# What `python -m` runs to train. Built, not written out, so that the code fingerprint of the
# components that import this package for MODEL_FILE does not follow train.py (trainer.py,
# which runs it, names it in full).
TRAIN_MODULE = f"{__name__}.train"


def train_args(train_files: list[str], eval_files: list[str], transform_dir: str, dataset: str, model_dir: str,
               run_dir: str, config: str) -> list[str]:
    """`python -m pipelines.torch_branch.runtime.train`'s arguments (see train.py): the
    Transform's Parquet splits as file patterns (a folder, then a glob of names, as TFX's
    FnArgs gives them); `config`: TrainConfig fields as JSON."""
    return ["--train-files", *train_files, "--eval-files", *eval_files, "--transform-dir", transform_dir,
            "--dataset", dataset, "--model-dir", model_dir, "--run-dir", run_dir, "--config", config]
