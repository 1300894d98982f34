"""The comparison's scoring: score the eval rows with one served model and time it, so
that each framework runs without the other loaded (they cannot share a process) and without
the other's threads around. The comparison scores Keras in the comparison's process, which has
TensorFlow loaded and no PyTorch; PyTorch here, in a process of its own.

    python -m reporting.score keras|torch   (then three lines on stdin: MODEL, ROWS.npz, OUT)

It imports its framework first, then reads on stdin what to score: the comparison starts it
before it knows, so that the framework's imports overlap its own. Writes OUT.npy
(probabilities, float32) and OUT.json (latency p50/p99 at each batch size).
"""

import gc
import json
import sys
import time

import numpy as np

BATCH_SIZES = (1, 64)
LATENCY_RUNS = 200  # timed calls per batch size, after 20 warm-up calls


def _keras():
    """Import TensorFlow; return load(path) -> (prepare, call) of a SavedModel."""
    import tensorflow as tf

    def load(path: str):
        serving = tf.saved_model.load(path).signatures["serving_default"]

        def prepare(columns):
            return {k: tf.constant(v) for k, v in columns.items()}  # float64 numbers, strings

        return prepare, lambda inputs: serving(**inputs)["probability"].numpy()

    return load


def _torch():
    """Import PyTorch; return load(path) -> (prepare, call) of a TorchScript model."""
    import torch

    from pipelines.torch_branch.runtime.predict import as_inputs

    def load(path: str):
        model = torch.jit.load(path)

        def call(inputs):
            with torch.no_grad():
                return model(*inputs).numpy()

        return lambda columns: as_inputs(model, columns), call

    return load


LOADERS = {"keras": _keras, "torch": _torch}  # framework -> import it, then load(path) -> (prepare, call)


def score_and_time(model, rows_path: str, out_path: str) -> None:
    """model: (prepare, call) of a loaded model."""
    prepare, call = model
    with np.load(rows_path) as data:
        rows = {k: data[k] for k in data.files}
    n = len(next(iter(rows.values())))
    probabilities = np.concatenate(
        [call(prepare({k: v[i:i + 4096] for k, v in rows.items()})) for i in range(0, n, 4096)])
    latency = {}
    gc.collect()
    gc.freeze()  # what is loaded stays out of the collector's passes: the timings are the model's calls
    for size in BATCH_SIZES:
        inputs = prepare({k: v[:size] for k, v in rows.items()})  # time the model call alone
        for _ in range(20):
            call(inputs)
        times = []
        for _ in range(LATENCY_RUNS):
            start = time.perf_counter()
            call(inputs)
            times.append((time.perf_counter() - start) * 1000)
        latency[str(size)] = {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}
    gc.unfreeze()
    np.save(out_path + ".npy", probabilities.astype(np.float32))
    with open(out_path + ".json", "w") as f:
        json.dump(latency, f)


if __name__ == "__main__":
    load = LOADERS[sys.argv[1]]()
    model_path, rows_path, out_path = sys.stdin.read().splitlines()  # waits for the comparison
    score_and_time(load(model_path), rows_path, out_path)
