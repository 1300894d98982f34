"""`preprocessing_fn`: the one tf.Transform both pipelines train from.

Every step is reproducible outside TensorFlow from the analyzer results alone (means,
variances, vocabulary files, bucket boundaries): affine scaling, integer offsets, a
vocabulary lookup with a single out-of-vocabulary bucket, and bucketizing. No hashing.
The PyTorch side applies the same steps at serving time, and a parity test holds them equal.

Missing values: every raw feature arrives as a SparseTensor (the curated schema gives
no fixed shape), so a missing value is an absent entry. How each kind of feature encodes
it is documented in components/features.py.
"""

import tensorflow as tf
import tensorflow_transform as tft

from components import features as F


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
        values = tf.math.log1p(tf.maximum(values, 0.0))
    return tf.SparseTensor(x.indices, values, x.dense_shape)


def scale_numeric(x: tf.SparseTensor, log: bool) -> tf.Tensor:
    v = numeric_input(x, log)
    mean, var = tft.mean(v.values), tft.var(v.values)
    std = tf.sqrt(var)
    dense, present = _densify(v, 0.0)
    # A constant feature has no spread: centre it, do not divide by zero.
    z = tf.where(std > 0, (dense - mean) / tf.where(std > 0, std, 1.0), dense - mean)
    return tf.where(present, z, 0.0)


def encode_ordinal(x: tf.SparseTensor, feature: F.Ordinal) -> tf.Tensor:
    dense, present = _densify(tf.cast(x, tf.int64), 0)
    index = dense - feature.low
    in_range = present & (index >= 0) & (index <= feature.high - feature.low)
    return tf.where(in_range, index, feature.high - feature.low + 1)


def vocabulary_input(x: tf.SparseTensor) -> tf.Tensor:
    """The string that is looked up: the value as text, '' when missing."""
    if x.dtype != tf.string:
        x = tf.SparseTensor(x.indices, tf.strings.as_string(x.values), x.dense_shape)
    dense, _ = _densify(x, "")
    return dense


def encode_vocabulary(x: tf.SparseTensor, feature: F.Vocabulary) -> tf.Tensor:
    return tft.compute_and_apply_vocabulary(
        vocabulary_input(x),
        frequency_threshold=feature.min_count if feature.min_count > 1 else None,
        num_oov_buckets=1,
        vocab_filename=F.vocabulary_name(feature.name),
    )


def encode_quantiles(x: tf.SparseTensor, feature: F.Quantiles) -> tf.Tensor:
    # Boundaries come from present values only, and are recorded in the transformed
    # schema's annotations by tft.bucketize, so another framework can read them.
    buckets = tft.bucketize(tf.cast(x, tf.float32), feature.buckets)
    dense, present = _densify(buckets, tf.constant(feature.buckets, tf.int64))
    return tf.where(present, dense, feature.buckets)


def big_tipper(tips: tf.SparseTensor, fare: tf.SparseTensor) -> tf.Tensor:
    tips, _ = _densify(tf.cast(tips, tf.float32), 0.0)
    fare, _ = _densify(tf.cast(fare, tf.float32), 0.0)
    return tf.cast(tips > F.TIP_FRACTION * fare, tf.int64)


def preprocessing_fn(inputs):
    """tf.Transform's callback: raw features -> model features and the label."""
    outputs = {}
    for f in F.NUMERIC:
        outputs[F.transformed_name(f.name)] = scale_numeric(inputs[f.name], f.log)
    for f in F.ORDINAL:
        outputs[F.transformed_name(f.name)] = encode_ordinal(inputs[f.name], f)
    for f in F.VOCABULARY:
        outputs[F.transformed_name(f.name)] = encode_vocabulary(inputs[f.name], f)
    for f in F.QUANTILES:
        outputs[F.transformed_name(f.name)] = encode_quantiles(inputs[f.name], f)
    outputs[F.LABEL] = big_tipper(inputs[F.TIPS.name], inputs[F.FARE])
    return outputs
