"""The PyTorch trainer (`python -m pipelines.torch_branch.runtime.train`, as run_fn starts it) on
a Transform output made by hand, on the CPU: it batches the train split as read through the
split's canonical order (runtime/train.py, device_batches), so the order the Transform wrote
the rows in, which Beam does not fix, changes nothing it trains."""


import numpy as np
import torch
from helpers import handmade_transform_output, run_torch_trainer, transformed_split, write_transformed_split

from pipelines.torch_branch.runtime import MODEL_FILE
from pipelines.training import TrainConfig

TRAIN_ROWS, EVAL_ROWS = 2048, 256  # 32 batches an epoch: the 100 steps below start 4 epochs


def train(transform_dir: str, splits: dict[str, dict], out) -> tuple[dict, dict[str, torch.Tensor]]:
    """(the trainer's report, its model's parameters), trained on `splits` as written."""
    files = {name: write_transformed_split(out / f"Split-{name}", columns) for name, columns in splits.items()}
    report = run_torch_trainer(files["train"], files["eval"], transform_dir, out,
                               TrainConfig(train_steps=100, batch_size=64))
    return report, torch.jit.load(str(out / "model" / MODEL_FILE)).state_dict()


def reordered(columns: dict[str, np.ndarray], rng) -> dict[str, np.ndarray]:
    order = rng.permutation(len(next(iter(columns.values()))))
    return {name: values[order] for name, values in columns.items()}


def test_the_order_the_transform_wrote_the_rows_in_changes_nothing_trained(tmp_path):
    rng = np.random.default_rng(3)
    transform_dir, sizes = handmade_transform_output(tmp_path / "transform")
    splits = {"train": transformed_split(TRAIN_ROWS, sizes, rng), "eval": transformed_split(EVAL_ROWS, sizes, rng)}
    report, parameters = train(transform_dir, splits, tmp_path / "as_made")
    shuffled_report, shuffled_parameters = train(
        transform_dir, {name: reordered(columns, rng) for name, columns in splits.items()}, tmp_path / "shuffled")
    assert report["optimizer_steps"] == 100
    assert shuffled_report["final_eval_loss"] == report["final_eval_loss"]
    assert sorted(shuffled_parameters) == sorted(parameters) and parameters
    for name, values in parameters.items():
        assert torch.equal(shuffled_parameters[name], values), name
