"""`preprocessing_fn`: the one tf.Transform both pipelines train from.

Every step is reproducible outside TensorFlow from the analyzer results alone: affine
scaling, integer offsets, a vocabulary lookup with a single out-of-vocabulary bucket, and
bucketizing. No hashing. The Transform publishes those results itself, exactly and once:
vocabularies as asset files, and means, variances, bucket boundaries and one-hot widths in
the asset `analyzer_results.json` (components/analyzer_results.py reads both, without
TensorFlow). The PyTorch side applies the same steps from them, and a parity test holds
the two equal.

Missing values: every raw feature arrives as a SparseTensor (the curated schema gives no
fixed shape), so a missing value is an absent entry. How each kind of feature encodes it
is documented in components/features.py.
"""

import json
import os

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam

from components import datasets
from components import features as F
from components.analyzer_results import ASSET_FILE, ASSET_KEY
from components.analyzers import exact_mean_and_var, exact_quantiles, log1p
from components.dataset import call

# tf.Transform traces preprocessing_fn as one TF1 graph (its `force_tf_compat_v1`), not as
# tf.functions: the same analyzers, vocabularies and analyzer results, and about 5 s less
# Transform on every run, where tracing is most of the cost on small data. Transformed values
# differ from the TF2 mode's in float32's last bit. Every consumer applies the graph through
# TFTransformOutput.transform_features_layer(), which loads either kind, and the tests build
# their Transform outputs in this same mode.
TF_COMPAT_V1 = True


def _densify(x: tf.SparseTensor, default):
    """A [batch, <=1] SparseTensor as a dense [batch] tensor and a [batch] presence mask."""
    shape = tf.stack([x.dense_shape[0], tf.constant(1, tf.int64)])
    values = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, shape), default)
    present = tf.sparse.to_dense(
        tf.SparseTensor(x.indices, tf.ones_like(x.values, tf.bool), shape), False)
    return tf.squeeze(values, axis=1), tf.squeeze(present, axis=1)


def sparse_from_rows(values: tf.Tensor, dtype) -> tf.SparseTensor:
    """The inverse of `_densify`, for served rows: one value per row (a NaN number means
    missing) -> the [batch, <=1] SparseTensor Transform takes, cast to the raw column's
    dtype (float64 -> int64 truncates). Strings are always present; "" is looked up
    like a missing value (out of vocabulary)."""
    if values.dtype.is_floating:
        present = tf.math.logical_not(tf.math.is_nan(values))
    else:
        present = tf.ones_like(values, tf.bool)
    rows = tf.where(present)
    indices = tf.concat([rows, tf.zeros_like(rows)], axis=1)
    batch = tf.shape(values, out_type=tf.int64)[0]
    return tf.SparseTensor(indices, tf.cast(tf.gather_nd(values, rows), dtype),
                           tf.stack([batch, tf.constant(1, tf.int64)]))


def numeric_input(x: tf.SparseTensor, log: bool) -> tf.SparseTensor:
    """The value that is z-scored: log1p(max(x, 0)) for long-tailed features."""
    values = tf.cast(x.values, tf.float32)
    if log:
        values = log1p(tf.maximum(values, 0.0))
    return tf.SparseTensor(x.indices, values, x.dense_shape)


def scale_numeric(x: tf.SparseTensor, feature: F.Numeric, results: dict) -> tf.Tensor:
    v = numeric_input(x, feature.log)
    mean, var = exact_mean_and_var(v.values, feature.name)
    results["mean"][feature.name], results["var"][feature.name] = mean, var
    std = tf.sqrt(var)
    dense, present = _densify(v, 0.0)
    # A constant feature has no spread: centre it, do not divide by zero.
    z = tf.where(std > 0, (dense - mean) / tf.where(std > 0, std, 1.0), dense - mean)
    return tf.where(present, z, 0.0)


def encode_ordinal(x: tf.SparseTensor, feature: F.Ordinal, results: dict) -> tf.Tensor:
    dense, present = _densify(tf.cast(x, tf.int64), 0)
    index = dense - feature.low
    in_range = present & (index >= 0) & (index <= feature.high - feature.low)
    results["size"][feature.name] = tf.constant(feature.high - feature.low + 2, tf.int64)
    return tf.where(in_range, index, feature.high - feature.low + 1)


def vocabulary_input(x: tf.SparseTensor) -> tf.Tensor:
    """The string that is looked up: the value as text, '' when missing."""
    if x.dtype != tf.string:
        x = tf.SparseTensor(x.indices, tf.strings.as_string(x.values), x.dense_shape)
    dense, _ = _densify(x, "")
    return dense


def encode_vocabulary(x: tf.SparseTensor, feature: F.Vocabulary, results: dict) -> tf.Tensor:
    name = F.vocabulary_name(feature.name)
    index = tft.compute_and_apply_vocabulary(
        vocabulary_input(x),
        frequency_threshold=feature.min_count if feature.min_count > 1 else None,
        num_oov_buckets=1,
        vocab_filename=name,
    )
    # the vocabulary, then one out-of-vocabulary index
    results["size"][feature.name] = tf.cast(tft.experimental.get_vocabulary_size_by_name(name), tf.int64) + 1
    return index


def encode_quantiles(x: tf.SparseTensor, feature: F.Quantiles, results: dict) -> tf.Tensor:
    """Buckets from the exact quantiles of present values; a missing value goes to one extra
    bucket after the value buckets."""
    values = tf.cast(x.values, tf.float32)
    boundaries = exact_quantiles(values, feature.buckets, feature.name)
    results["boundaries"][feature.name] = boundaries
    buckets = tft.apply_buckets(tf.cast(x, tf.float32), boundaries)
    missing = tf.cast(tf.size(boundaries), tf.int64) + 1
    results["size"][feature.name] = missing + 1
    dense, present = _densify(buckets, tf.constant(0, tf.int64))
    return tf.where(present, dense, missing)


def derive_label(inputs: dict, label) -> tf.Tensor:
    """The dataset's label function on dense label inputs (missing numbers 0, strings "")."""
    columns = {}
    for name in label.reads:
        x = inputs[name]
        columns[name], _ = _densify(x, "" if x.dtype == tf.string else tf.zeros([], x.dtype))
    return call(label.fn, columns)


class _WriteAnalyzerResults(tft_beam.experimental.PTransformAnalyzer):
    """Writes the analyzer results (one batch's copy: they are the same in every batch)
    as JSON into Transform's temp folder; tf.Transform copies it into the output's assets."""

    def __init__(self, keys: list[tuple[str, str, bool]]):
        super().__init__()
        self.keys = keys

    def expand(self, batches):
        keys, folder = self.keys, self.base_temp_dir

        def write(samples):
            if not samples:
                raise ValueError("no rows to compute the Transform's analyzer results from")
            results: dict = {}
            for (group, name, scalar), values in zip(keys, samples[0], strict=True):
                value = np.asarray(values)[0]  # this batch's one copy
                results.setdefault(group, {})[name] = (value[0] if scalar else value).tolist()
            tf.io.gfile.makedirs(folder)
            path = os.path.join(folder, ASSET_FILE)
            with tf.io.gfile.GFile(path, "w") as f:
                json.dump(results, f, indent=1, sort_keys=True)
            return path.encode()

        return (batches
                | "NonEmpty" >> beam.Filter(lambda batch: len(batch[0]) > 0)
                | "One" >> beam.combiners.Sample.FixedSizeGlobally(1)
                | "Write" >> beam.Map(write))


def publish_analyzer_results(results: dict, rows: tf.Tensor) -> None:
    """Make the analyzer results one asset of the Transform output (not per-row features).

    The results are tied to a batch tensor (`rows`), so tf.Transform evaluates them in the
    phase after the analyzers they come from; each batch sees the same final values."""
    keys = [(group, name, results[group][name].shape.rank == 0)
            for group in sorted(results) for name in sorted(results[group])]
    batch = tf.minimum(tf.shape(rows)[0], 1)  # 1 row of each value, 0 for an empty batch
    tensors = [tf.tile(tf.reshape(results[g][n], [1, -1]), [batch, 1]) for g, n, _ in keys]
    tft.experimental.ptransform_analyzer(
        tensors, _WriteAnalyzerResults(keys), output_dtypes=[tf.string], output_shapes=[[]],
        output_asset_default_values=[b"{}"], name="analyzer_results")
    tft.annotate_asset(ASSET_KEY, ASSET_FILE)


def preprocessing_fn(inputs, custom_config):
    """tf.Transform's callback: raw features -> model features and the label.

    `custom_config["dataset"]` names the dataset package (components/datasets/)."""
    dataset = datasets.load(custom_config["dataset"])
    results: dict = {"mean": {}, "var": {}, "boundaries": {}, "size": {}}
    encoders = {F.Numeric: scale_numeric, F.Ordinal: encode_ordinal,
                F.Vocabulary: encode_vocabulary, F.Quantiles: encode_quantiles}
    outputs = {F.transformed_name(f.name): encoders[type(f)](inputs[f.name], f, results)
               for f in dataset.features}
    outputs[dataset.label.name] = derive_label(inputs, dataset.label)
    publish_analyzer_results(results, outputs[dataset.label.name])
    return outputs
