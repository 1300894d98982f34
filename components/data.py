"""Scale a dataset's bundled data to any number of rows, for benchmarks.

    generate(dataset, rows, out_path)   (the CLI: `tandem data generate --rows N --out FILE`)
"""

import os

import numpy as np
import pandas as pd

from components.dataset import Dataset


def generate(dataset: Dataset, source: str, rows: int, out_path: str, seed: int = 0,
             chunk: int = 500_000) -> str:
    """Write `rows` rows resampled (with replacement) from `source`, deterministically.

    Row resampling keeps every column's distribution, the joint structure and the
    missing-value pattern; a small log-normal jitter on the dataset's `jitter` columns
    keeps rows distinct. Written in chunks, so 1e7 rows need no more memory than 5e5.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    # Read as text, so integer columns with missing values stay integers when written.
    sample = pd.read_csv(source, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    written = 0
    with open(out_path, "w", newline="") as out:
        while written < rows:
            n = min(chunk, rows - written)
            part = sample.iloc[rng.integers(0, len(sample), n)].reset_index(drop=True)
            for column, scale in dataset.jitter.items():
                present = part[column] != ""
                values = pd.to_numeric(part.loc[present, column]) * rng.lognormal(0.0, scale, int(present.sum()))
                integer = dataset.raw_dtypes[column] == "int"
                part.loc[present, column] = (values.round(0).astype("int64").astype(str) if integer
                                             else values.round(2).astype(str))
            part.to_csv(out, header=written == 0, index=False)
            written += n
    return out_path
