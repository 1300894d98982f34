"""The Keras trainer: `run_fn` is what the TFX Trainer calls.

It trains like the PyTorch trainer, step for step (pipelines/training.py): the same rows in
the same canonical order, the same seeded batches, the same number of optimizer steps,
Adam with the same settings, eval loss on the whole eval split at the same points. Op
determinism is on, so the same data gives the same model.
"""

import os
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from components import datasets
from components.analyzer_results import AnalyzerResults
from pipelines.keras_branch.model import build_model, export_serving_model, model_inputs
from pipelines.training import batches, log_points, write_training_report
from pipelines.transformed_data import load_split


def _features(dataset, columns: dict) -> dict:
    return {name: columns[name].reshape(-1, 1) for name in model_inputs(dataset)}


def _labels(dataset, columns: dict) -> np.ndarray:
    return columns[dataset.label.name].astype(np.float32).reshape(-1, 1)


def gathered(indices: tf.data.Dataset, x: dict, y: tf.Tensor) -> tf.data.Dataset:
    """Batches of row indices -> (features, label) batches gathered from in-memory columns
    (the trainer's input, and bench/train_throughput.py's floor)."""
    return indices.map(lambda i: ({k: tf.gather(v, i) for k, v in x.items()}, tf.gather(y, i)))


class _EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard as configured (update_freq="epoch"), less its per-batch hook. At
    that frequency the hook writes nothing (no writer is active between epochs; the train
    graph it would write once does not exist in Keras 3), yet it makes a tf.summary call per
    metric on every step: 20 % of a CPU step here (a small network's 16,000-step fit: 16.4-18.3
    s, not 20.1-22.1)."""

    on_train_batch_end = keras.callbacks.Callback.on_train_batch_end  # Keras' "no hook" default


def run_fn(fn_args: FnArgs):
    """TFX Trainer will call this function."""
    hp, dataset = fn_args.custom_config["train"], datasets.load(fn_args.custom_config["dataset"])
    keras.utils.set_random_seed(hp["seed"])
    tf.config.experimental.enable_op_determinism()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = load_split(fn_args.train_files)
    evaluation = load_split(fn_args.eval_files)
    model = build_model(dataset, AnalyzerResults.read(fn_args.transform_output).size, hp)

    rows, steps = len(train[dataset.label.name]), fn_args.train_steps
    # The batches are the same row indices the PyTorch trainer draws; only the indices come
    # from Python, and tf.data gathers each batch from the in-memory columns in C++ (a
    # generator of whole batches cost as much as the training step itself).
    x = {name: tf.constant(values) for name, values in _features(dataset, train).items()}
    y = tf.constant(_labels(dataset, train))
    indices = tf.data.Dataset.from_generator(lambda: batches(rows, hp["batch_size"], steps, hp["seed"]),
                                             output_signature=tf.TensorSpec([hp["batch_size"]], tf.int64))
    periods, per_period = log_points(steps)
    start = time.perf_counter()
    model.fit(
        gathered(indices, x, y).prefetch(2),
        epochs=periods, steps_per_epoch=per_period,  # one iterator across epochs: `steps` steps in all
        validation_data=(_features(dataset, evaluation), _labels(dataset, evaluation)),
        validation_batch_size=4096,
        callbacks=[_EpochTensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "keras"))],
        verbose=0,  # the terminal shows component progress
    )
    seconds = time.perf_counter() - start
    export_serving_model(model, dataset, tf_transform_output, fn_args.serving_model_dir)
    final_eval_loss = model.evaluate(_features(dataset, evaluation), _labels(dataset, evaluation),
                                     batch_size=4096, verbose=0, return_dict=True)["loss"]
    write_training_report(fn_args.model_run_dir, framework="keras", opener=tf.io.gfile.GFile,
                          device="gpu" if tf.config.list_physical_devices("GPU") else "cpu",
                          steps=steps, optimizer_steps=int(model.optimizer.iterations.numpy()),
                          batch_size=hp["batch_size"], seconds=seconds,
                          final_eval_loss=float(final_eval_loss))
