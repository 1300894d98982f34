"""Score raw rows with TorchScript serving models, in a PyTorch-only process.

    python -m pipelines.torch_branch.runtime.predict --rows rows.npz --out predictions.npz NAME=model.pt [...]

rows.npz holds one array per raw feature the models read: float64 numbers (NaN = missing)
and unicode strings ("" = missing). Writes one float32 array of probabilities per NAME.
"""

import argparse

import numpy as np
import torch

BATCH = 4096


def as_inputs(model, columns) -> tuple[dict, dict]:
    """Raw columns (numpy) -> the ServingModel's (numbers, strings) inputs, by what it reads."""
    kinds = model.input_kinds()
    numbers = {n: torch.from_numpy(np.asarray(columns[n], dtype=np.float64)) for n, k in kinds.items() if k == "number"}
    strings = {n: np.asarray(columns[n]).astype(str).tolist() for n, k in kinds.items() if k == "string"}
    return numbers, strings


def predict(model, columns, batch: int = BATCH) -> np.ndarray:
    rows = len(next(iter(columns.values())))
    out = []
    with torch.no_grad():
        for start in range(0, rows, batch):
            numbers, strings = as_inputs(model, {k: v[start:start + batch] for k, v in columns.items()})
            out.append(model(numbers, strings).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros([0], np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("models", nargs="+", metavar="NAME=PATH")
    args = parser.parse_args()
    with np.load(args.rows) as data:
        columns = {k: data[k] for k in data.files}
    predictions = {}
    for spec in args.models:
        name, path = spec.split("=", 1)
        predictions[name] = predict(torch.jit.load(path), columns)
    np.savez(args.out, **predictions)


if __name__ == "__main__":
    main()
