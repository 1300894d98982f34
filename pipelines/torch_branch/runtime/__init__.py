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
DATA_WRITTEN = "data written"  # what train.py --wait-for-data reads on stdin before it reads --data


def train_args(data_dir: str, transform_dir: str, dataset: str, model_dir: str, run_dir: str,
               config: str, wait_for_data: bool = False) -> list[str]:
    """`python -m pipelines.torch_branch.runtime.train`'s arguments (see train.py); `config`:
    TrainConfig fields as JSON; `wait_for_data`: started before --data is written, told
    DATA_WRITTEN on stdin once it is."""
    return ["--data", data_dir, "--transform-dir", transform_dir, "--dataset", dataset, "--model-dir", model_dir,
            "--run-dir", run_dir, "--config", config] + (["--wait-for-data"] if wait_for_data else [])
