"""Score raw rows with TorchScript serving models, in a PyTorch-only process.

    python -m pipelines.torch_predict --rows rows.npz --out predictions.npz NAME=model.pt [...]

rows.npz holds one array per raw serving feature: float64 numbers (NaN = missing) and
unicode strings ("" = missing). Writes one float32 array of probabilities per NAME.
"""

import argparse

import numpy as np
import torch

from components import features as F

BATCH = 4096


def as_inputs(columns) -> tuple[dict, dict, int]:
    """Raw columns (numpy) -> the ServingModel's (numbers, strings) inputs, and the row count."""
    numbers = {n: torch.from_numpy(np.asarray(columns[n], dtype=np.float64)) for n in F.SERVING_FEATURES
               if F.RAW_DTYPES[n] != F.STRING}
    strings = {n: np.asarray(columns[n]).astype(str).tolist() for n in F.SERVING_FEATURES
               if F.RAW_DTYPES[n] == F.STRING}
    return numbers, strings, len(next(iter(numbers.values())))


def load_rows(path: str) -> tuple[dict, dict, int]:
    with np.load(path) as data:
        return as_inputs(data)


def predict(model, numbers: dict, strings: dict, rows: int) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, rows, BATCH):
            end = min(rows, start + BATCH)
            out.append(model({k: v[start:end] for k, v in numbers.items()},
                             {k: v[start:end] for k, v in strings.items()}).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros([0], np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("models", nargs="+", metavar="NAME=PATH")
    args = parser.parse_args()
    numbers, strings, rows = load_rows(args.rows)
    predictions = {}
    for spec in args.models:
        name, path = spec.split("=", 1)
        predictions[name] = predict(torch.jit.load(path), numbers, strings, rows)
    np.savez(args.out, **predictions)


if __name__ == "__main__":
    main()
