"""The PyTorch trainer's `run_fn`: what TFX's Trainer (generic executor) calls.

The Trainer's process has TensorFlow loaded, and PyTorch's optimizer cannot run beside
it (see pipelines/torch_train.py). So this run_fn only does the TF-side work, then hands
over to a PyTorch process that never imports TensorFlow:
1. the transformed train/eval splits -> train.npz / eval.npz (a format PyTorch reads);
2. every Transform parameter the PyTorch preprocessing needs -> params.json;
3. `python -m pipelines.torch_train` trains, and writes the TorchScript serving model
   (raw rows -> probability) into the Trainer's serving model dir.
TensorBoard logs go to the Trainer's model_run dir, beside where Keras writes its own.
"""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from components import features as F
from pipelines.transform_params import write_params


def export_split(files, data_accessor, tf_transform_output, path: str) -> int:
    """Transformed examples -> one .npz of columns (features and label). Returns rows."""
    dataset = data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=8192, num_epochs=1, shuffle=False),
        tf_transform_output.transformed_metadata.schema,
    )
    columns: dict[str, list] = {}
    for batch in dataset.as_numpy_iterator():
        for name, values in batch.items():
            columns.setdefault(name, []).append(np.asarray(values).reshape(-1))
    arrays = {name: np.concatenate(parts) for name, parts in columns.items()}
    # Beam writes shards in no fixed order: sort rows by content so that the seeded
    # shuffle in training, and so the model, are the same from run to run.
    order = np.lexsort([arrays[name] for name in sorted(arrays)])
    np.savez(path, **{name: values[order] for name, values in arrays.items()})
    return len(arrays[F.LABEL])


def run_fn(fn_args: tfx.components.FnArgs):
    """TFX Trainer will call this function."""
    hp = fn_args.custom_config["train"]
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    data_dir = os.path.join(fn_args.model_run_dir, "torch_data")
    tf.io.gfile.makedirs(data_dir)
    write_params(tf_transform_output, os.path.join(data_dir, "params.json"))
    for split, files in (("train", fn_args.train_files), ("eval", fn_args.eval_files)):
        rows = export_split(files, fn_args.data_accessor, tf_transform_output, os.path.join(data_dir, f"{split}.npz"))
        logging.info("exported %d %s rows for PyTorch", rows, split)

    command = [sys.executable, "-m", "pipelines.torch_train", "--data", data_dir,
               "--model-dir", fn_args.serving_model_dir, "--run-dir", fn_args.model_run_dir,
               "--config", json.dumps({**hp, "train_steps": fn_args.train_steps})]
    result = subprocess.run(command, capture_output=True, text=True)
    logging.info("PyTorch training output:\n%s", result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"PyTorch training failed (exit {result.returncode}): "
                           f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ''}")

