"""The comparison's worker: score the eval rows with one served model and time it, in a
process of its own, so each framework runs without the other loaded (they cannot share a
process) and without the other's threads around.

    python -m reporting.score keras|torch MODEL ROWS.npz OUT

Writes OUT.npy (probabilities, float32) and OUT.json (latency p50/p99 at each batch size).
"""

import json
import sys
import time

import numpy as np

BATCH_SIZES = (1, 64)
LATENCY_RUNS = 200  # timed calls per batch size, after 20 warm-up calls


def _keras_model(path: str):
    import tensorflow as tf

    serving = tf.saved_model.load(path).signatures["serving_default"]

    def prepare(columns):
        return {k: tf.constant(v) for k, v in columns.items()}  # float64 numbers, strings

    return prepare, lambda inputs: serving(**inputs)["probability"].numpy()


def _torch_model(path: str):
    import torch

    from pipelines.torch_branch.runtime.predict import as_inputs

    model = torch.jit.load(path)

    def call(inputs):
        with torch.no_grad():
            return model(*inputs).numpy()

    return lambda columns: as_inputs(model, columns), call


def score_and_time(branch: str, model_path: str, rows_path: str, out_path: str) -> None:
    with np.load(rows_path) as data:
        rows = {k: data[k] for k in data.files}
    prepare, call = {"keras": _keras_model, "torch": _torch_model}[branch](model_path)
    n = len(next(iter(rows.values())))
    probabilities = np.concatenate(
        [call(prepare({k: v[i:i + 4096] for k, v in rows.items()})) for i in range(0, n, 4096)])
    latency = {}
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
    np.save(out_path + ".npy", probabilities.astype(np.float32))
    with open(out_path + ".json", "w") as f:
        json.dump(latency, f)


if __name__ == "__main__":
    score_and_time(*sys.argv[1:5])
