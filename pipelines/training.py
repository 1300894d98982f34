"""What both trainers share, so that they differ only where the frameworks do: their
configuration, the order in which they see the training rows, the batches, the log points,
and the report they write. numpy and the standard library only: the PyTorch runtime imports it too.

Input order. Beam writes the transformed examples in shards of no fixed order, so a
trainer that reads them as they come is not reproducible. Both trainers read the split
into memory columns, put the rows in a canonical order — sorted by a hash of each row's
content, an O(n) key that does not depend on the shards — and then draw the same seeded
batches from it. Memory: the columns themselves (4-8 bytes per value; about 1.3 GB for
1e7 taxi rows) plus 16 bytes per row for the hash and the order.

The hash reads each value's exact bits, so the order is only as reproducible as the
Transform's output: one row an ulp off moves that row and so reshuffles every batch after
it. components/transform.py makes that output a function of the data alone (no batch- or
order-dependent float math), so two runs on the same data train on the same batches.
"""

import json
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrainConfig:
    """The same for both trainers: one optimizer step is one batch, in both frameworks
    (pipelines/config.py's PipelineConfig holds one)."""

    train_steps: int = 1500  # optimizer steps of `batch_size` rows; about 6 epochs of the 15k taxi sample
    eval_steps: int = 50
    batch_size: int = 64
    learning_rate: float = 1e-3
    adam_epsilon: float = 1e-7  # Keras' default; PyTorch's is 1e-8: both use this one
    hidden_units: tuple[int, ...] = (64, 32)
    seed: int = 42  # same seed, same data, same model


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray, scratch: np.ndarray) -> None:
    """splitmix64's finalizer, in place: a well-spread 64-bit hash of 64-bit words (wraps mod
    2^64). In place, with one scratch array: fresh temporaries for each of its eight steps made
    the canonical order of 1e6 rows 1.5-2x slower (page faults on new memory)."""
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB), (31, None)):
        np.right_shift(x, np.uint64(shift), out=scratch)
        x ^= scratch
        if multiplier:
            x *= np.uint64(multiplier)


def canonical_order(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Row indices sorted by a hash of each row's content (ties: identical rows). The hash
    reads each value's exact bits, widened to 64-bit words."""
    n = len(next(iter(columns.values())))
    key, word, scratch = np.zeros(n, np.uint64), np.empty(n, np.uint64), np.empty(n, np.uint64)
    for i, name in enumerate(sorted(columns)):
        values = np.ascontiguousarray(columns[name])
        np.copyto(word, values.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[values.dtype.itemsize]))
        with np.errstate(over="ignore"):  # a scalar's wrap warns (an array's does not)
            word += np.uint64(i + 1) * _GOLDEN
        _mix(word, scratch)
        key ^= word
        _mix(key, scratch)
    return np.argsort(key, kind="stable")


def in_canonical_order(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = canonical_order(columns)
    return {name: values[order] for name, values in columns.items()}


def batches(rows: int, batch_size: int, steps: int, seed: int):
    """`steps` arrays of row indices: seeded shuffled epochs, the last partial batch of an
    epoch dropped (every optimizer step sees `batch_size` rows)."""
    if rows < batch_size:
        raise ValueError(f"{rows} training rows are fewer than one batch of {batch_size}")
    rng = np.random.default_rng(seed)
    order, position = rng.permutation(rows), 0
    for _ in range(steps):
        if position + batch_size > rows:
            order, position = rng.permutation(rows), 0
        yield order[position:position + batch_size]
        position += batch_size


# Adam's moment decay rates (both frameworks' defaults), given to both explicitly. Epsilon
# comes from TrainConfig; PyTorch applies it where Keras does (runtime/train.py).
ADAM_BETAS = (0.9, 0.999)


def log_points(steps: int, most: int = 10) -> tuple[int, int]:
    """(periods, steps per period): up to `most` equal periods covering exactly `steps`
    steps; both trainers log train and eval loss at the end of each (Keras: its epochs)."""
    periods = max(d for d in range(1, min(most, steps) + 1) if steps % d == 0)
    return periods, steps // periods


REPORT_FILE = "training.json"  # in the Trainer's model_run folder, beside the TensorBoard logs


def write_training_report(run_dir: str, *, framework: str, device: str, steps: int, optimizer_steps: int,
                          batch_size: int, seconds: float, final_eval_loss: float, opener=open,
                          cpu_threads: int | None = None) -> dict:
    """training.json: what `tandem compare` reports. `steps`: the steps asked for;
    `optimizer_steps`: the updates the optimizer counted (a trainer that took another
    number fails before it reports). `opener`: `open`, or tf.io.gfile.GFile where the run
    folder may be in object storage. `cpu_threads`: the intra-op threads it trained with on a
    CPU, where the trainer chooses them (PyTorch; Keras leaves TensorFlow's)."""
    if optimizer_steps != steps:
        raise RuntimeError(f"{framework}: the optimizer took {optimizer_steps} steps, not the {steps} asked for")
    report = {"framework": framework, "device": device, "train_steps": steps, "optimizer_steps": optimizer_steps,
              "batch_size": batch_size, "train_seconds": seconds,
              "examples_per_second": steps * batch_size / seconds if seconds else None,
              "final_eval_loss": final_eval_loss} | ({"cpu_threads": cpu_threads} if cpu_threads else {})
    with opener(os.path.join(run_dir, REPORT_FILE), "w") as f:
        json.dump(report, f, indent=1)
    return report
