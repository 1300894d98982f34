"""Read every analyzer result the PyTorch side needs out of a tf.Transform output.

tf.Transform keeps vocabularies as files but folds means, variances and bucket
boundaries into its graph as constants (and OSS builds write no schema annotations).
So they are recovered by probing the transform function with chosen inputs:
- z-scores are affine in the (log1p'd) value: two probes give mean and std;
- bucket boundaries: bucketizing is monotone, so a bisection over float32 values finds,
  for each bucket k, the smallest float32 that lands in bucket >= k.
The parity test holds the result equal to the graph on golden rows.

TF side only: the output is plain JSON (`write_params`) that the PyTorch code reads.
"""

import json

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components import features as F
from components.transform import sparse_from_rows

_PROBE_HIGH = np.float32(1.0)  # a second numeric probe; 0 is the first


def transform_columns(tf_transform_output: tft.TFTransformOutput, columns: dict) -> dict:
    """Raw columns, one value per row (None or NaN = missing), through the Transform graph
    exactly as the served model feeds it (components.transform.sparse_from_rows)."""
    raw_spec = tf_transform_output.raw_feature_spec()
    batch = len(next(iter(columns.values())))
    raw = {}
    for name in F.RAW_COLUMNS:
        values = columns.get(name, [None] * batch)
        if raw_spec[name].dtype == tf.string:
            rows = tf.constant(["" if v is None else v for v in values], tf.string)
        else:
            rows = tf.constant([np.nan if v is None else float(v) for v in values], tf.float64)
        raw[name] = sparse_from_rows(rows, raw_spec[name].dtype)
    out = tf_transform_output.transform_raw_features(raw, drop_unused_features=True)
    return {k: v.numpy() for k, v in out.items()}


def _numeric_params(tf_transform_output) -> dict:
    out = transform_columns(tf_transform_output, {f.name: [0.0, float(_PROBE_HIGH)] for f in F.NUMERIC})
    params = {}
    for f in F.NUMERIC:
        v0, v1 = np.float32(0.0), (np.log1p(_PROBE_HIGH) if f.log else _PROBE_HIGH)
        z0, z1 = out[F.transformed_name(f.name)].astype(np.float64)
        std = (float(v1) - float(v0)) / (z1 - z0)
        params[f.name] = {"mean": float(v0) - z0 * std, "std": std, "log": f.log, "dtype": f.dtype}
    return params


def _sortable(x: np.ndarray) -> np.ndarray:
    """float32 -> uint64 keys in the same order (for bisection over float32 values)."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return np.where(bits & 0x80000000, 0xFFFFFFFF - bits, bits | 0x80000000)


def _unsortable(key: np.ndarray) -> np.ndarray:
    key = key.astype(np.uint64)
    bits = np.where(key & 0x80000000, key & 0x7FFFFFFF, 0xFFFFFFFF - key)
    return bits.astype(np.uint32).view(np.float32)


def _bucket_boundaries(tf_transform_output) -> dict:
    """For each quantile feature: the smallest float32 of every bucket after the first."""
    names = [f.name for f in F.QUANTILES]
    ks = np.arange(1, max(f.buckets for f in F.QUANTILES))  # bucket indices to find
    lo = np.full((len(names), len(ks)), _sortable(np.array([-np.inf]))[0], dtype=np.uint64)
    hi = np.full_like(lo, _sortable(np.array([np.inf]))[0])

    def bucket_of(keys):  # keys: [features, ks] -> buckets of those float32 values
        values = _unsortable(keys)
        out = transform_columns(tf_transform_output, {n: [float(v) for v in values[i]] for i, n in enumerate(names)})
        return np.stack([out[F.transformed_name(n)] for n in names])

    exists = bucket_of(hi) >= ks  # bucket k exists iff +inf reaches it
    while np.any(hi - lo > 1):  # invariant: bucket(lo) < k <= bucket(hi)
        mid = lo + (hi - lo) // 2
        reached = bucket_of(mid) >= ks
        hi, lo = np.where(reached, mid, hi), np.where(reached, lo, mid)
    boundaries = _unsortable(hi)
    return {n: [float(b) for b, ok in zip(boundaries[i], exists[i]) if ok] for i, n in enumerate(names)}


def transform_params(tf_transform_output: tft.TFTransformOutput) -> dict:
    """All that the PyTorch preprocessing needs, as plain JSON-able values."""
    vocabularies = {}
    for f in F.VOCABULARY:
        tokens = tf_transform_output.vocabulary_by_name(F.vocabulary_name(f.name))
        vocabularies[f.name] = {"tokens": [t.decode("utf-8") for t in tokens], "dtype": f.dtype}
    return {
        "numeric": _numeric_params(tf_transform_output),
        "ordinal": {f.name: {"low": f.low, "high": f.high} for f in F.ORDINAL},
        "vocabulary": vocabularies,
        "quantiles": {name: {"boundaries": b, "missing": next(f.buckets for f in F.QUANTILES if f.name == name)}
                      for name, b in _bucket_boundaries(tf_transform_output).items()},
        "feature_order": [F.transformed_name(f.name) for f in F.MODEL_FEATURES],
    }


def write_params(tf_transform_output: tft.TFTransformOutput, path: str) -> dict:
    params = transform_params(tf_transform_output)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(params, f, indent=1)
    return params
