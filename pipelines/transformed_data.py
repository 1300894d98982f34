"""The Transform's output split as in-memory columns in the canonical row order that both
trainers use (pipelines/training.py). TensorFlow side: it reads TFRecords with tfx_bsl."""

import numpy as np
from tfx_bsl.public import tfxio

from pipelines.training import in_canonical_order


def load_split(files, data_accessor, tf_transform_output, batch_size: int = 8192) -> dict[str, np.ndarray]:
    """Transformed examples (features and label) -> {name: [rows] array}, canonical order."""
    dataset = data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1, shuffle=False),
        tf_transform_output.transformed_metadata.schema,
    )
    columns: dict[str, list] = {}
    for batch in dataset.as_numpy_iterator():
        for name, values in batch.items():
            columns.setdefault(name, []).append(np.asarray(values).reshape(-1))
    return in_canonical_order({name: np.concatenate(parts) for name, parts in columns.items()})
