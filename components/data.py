"""The bundled data set, and a generator that scales it for benchmarks.

Bundled: the Chicago Taxi trips sample that ships inside the tfx wheel (provenance in
data/PROVENANCE.md): 15,002 rows, 18 columns, many missing values.
"""

import os

import numpy as np
import pandas as pd

# Continuous columns that get a little multiplicative noise when the sample is scaled,
# so generated rows are not exact copies; missing values stay missing.
_JITTER = {"fare": 0.05, "tips": 0.05, "trip_miles": 0.05, "trip_seconds": 0.05}


def bundled_csv() -> str:
    import tfx  # the data ships in the tfx package

    path = os.path.join(os.path.dirname(tfx.__file__), "examples", "chicago_taxi_pipeline",
                        "data", "simple", "data.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(f"the bundled Chicago Taxi sample is missing from the tfx package: {path}")
    return path


def generate(rows: int, out_path: str, seed: int = 0, chunk: int = 500_000, source: str | None = None) -> str:
    """Write `rows` rows resampled (with replacement) from the real sample, deterministically.

    Row resampling keeps every column's distribution, the joint structure and the
    missing-value pattern; a small jitter on fares, tips, miles and durations keeps rows
    distinct. Written in chunks, so 1e7 rows need no more memory than 5e5.
    """
    # Read as text, so integer columns with missing values stay integers when written.
    sample = pd.read_csv(source or bundled_csv(), dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    written = 0
    with open(out_path, "w", newline="") as out:
        while written < rows:
            n = min(chunk, rows - written)
            part = sample.iloc[rng.integers(0, len(sample), n)].reset_index(drop=True)
            for column, scale in _JITTER.items():
                present = part[column] != ""
                values = pd.to_numeric(part.loc[present, column]) * rng.lognormal(0.0, scale, int(present.sum()))
                part.loc[present, column] = (values.round(0).astype("int64").astype(str) if column == "trip_seconds"
                                             else values.round(2).astype(str))
            part.to_csv(out, header=written == 0, index=False)
            written += n
    return out_path
