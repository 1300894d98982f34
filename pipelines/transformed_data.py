"""The Transform's output split as in-memory columns in the canonical row order that both
trainers use (pipelines/training.py). TensorFlow side.

tf.data reads the shards in parallel, each a batch of records at a time, and
`tf.io.parse_example` parses a whole batch at once with the Transform's own feature spec.
TFXIO's readers (what a Trainer's `data_accessor` returns) interleave the shards one record
at a time: on the 1.04e6 transformed taxi rows of bench/train_throughput.py (2 shards, 2
cores), its RecordBatches took 10.5 s and its TensorFlowDataset 8.1 to 20.5 s; this takes
1.8 s (2.8 s reading the shards one after another)."""

import re

import numpy as np
import tensorflow as tf
from tfx_bsl.tfxio.dataset_util import detect_compression_type

from pipelines.training import in_canonical_order


def load_split(file_patterns: list[str], tf_transform_output, batch_size: int = 65536) -> dict[str, np.ndarray]:
    """Transformed examples (features and label, one value each) -> {name: [rows] array}, canonical order."""
    spec = {}
    for name, feature in tf_transform_output.transformed_feature_spec().items():
        if not isinstance(feature, tf.io.FixedLenFeature) or np.prod(feature.shape, dtype=int) != 1:
            raise ValueError(f"transformed feature {name!r} is {feature}: the trainers take one value per row")
        spec[name] = tf.io.FixedLenFeature([], feature.dtype)  # no default: a missing value is an error
    files = sorted(path for pattern in file_patterns for path in tf.io.gfile.glob(pattern))
    compression = detect_compression_type(file_patterns)
    parsed = tf.data.Dataset.from_tensor_slices(tf.constant(files, tf.string)).interleave(
        lambda path: tf.data.TFRecordDataset(path, compression).batch(batch_size).map(
            lambda batch: tf.io.parse_example(batch, spec)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)  # any order: the rows are put in the canonical one
    columns: dict[str, list] = {name: [] for name in spec}
    try:
        for batch in parsed.prefetch(2).as_numpy_iterator():
            for name, values in batch.items():
                columns[name].append(values)
    except tf.errors.OpError as error:  # a missing or repeated value (not what Transform writes), a corrupt file
        said = re.sub(r"\{\{.*?\}\}|Error in user-defined function .*? with iterator: \S+: |Name: <unknown>, ", "",
                      error.message).strip()  # TF's message, without where in tf.data it was raised
        raise ValueError(f"transformed examples in {', '.join(file_patterns)}: {said}") from None
    return in_canonical_order({name: np.concatenate(parts) if parts else np.zeros(0, spec[name].dtype.as_numpy_dtype)
                               for name, parts in columns.items()})
