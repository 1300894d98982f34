"""The eval split's raw rows and labels, as the served models take them: what the PyTorch
evaluator scores, and what the comparison scores both models on."""

import os

import numpy as np
import tensorflow as tf
from tfx.types import artifact_utils
from tfx_bsl.tfxio.dataset_util import detect_compression_type

from components.dataset import Dataset


def _dense(sparse: tf.SparseTensor, missing) -> np.ndarray:
    """[batch, <=1] SparseTensor -> numpy [batch] with `missing` where absent."""
    values = np.full(int(sparse.dense_shape[0]), missing, dtype=object if isinstance(missing, str) else np.float64)
    got = sparse.values.numpy()
    values[sparse.indices.numpy()[:, 0]] = [v.decode("utf-8") for v in got] if isinstance(missing, str) else got
    return values


def read_eval_rows(examples, tf_transform_output, dataset: Dataset,
                   labels: bool = True) -> tuple[dict, np.ndarray | None]:
    """ExampleGen's eval split -> ({raw feature: [rows]} with NaN / "" for missing, labels);
    the labels from the Transform graph, as training saw them (labels=False: None, and the
    graph is not loaded)."""
    split_dir = artifact_utils.get_split_uri([examples], "eval")
    files = [os.path.join(split_dir, f) for f in sorted(tf.io.gfile.listdir(split_dir))]
    raw_spec = tf_transform_output.raw_feature_spec()
    columns: dict[str, list] = {name: [] for name in dataset.serving_features}
    label_parts = []
    transform = tf_transform_output.transform_features_layer() if labels else None  # a TF1 graph too
    for batch in tf.data.TFRecordDataset(files, detect_compression_type(files)).batch(4096):  # by name: .gz or not
        parsed = tf.io.parse_example(batch, raw_spec)
        if transform is not None:
            label_parts.append(transform(parsed)[dataset.label.name].numpy())
        for name in dataset.serving_features:
            columns[name].append(_dense(parsed[name], "" if dataset.is_string(name) else np.nan))
    arrays = {name: np.concatenate(parts) for name, parts in columns.items()}
    for name in dataset.serving_features:
        if dataset.is_string(name):
            arrays[name] = arrays[name].astype(str)
    return arrays, np.concatenate(label_parts) if labels else None
