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


def _features(dataset, columns: dict, index=slice(None)) -> dict:
    return {name: columns[name][index].reshape(-1, 1) for name in model_inputs(dataset)}


def _labels(dataset, columns: dict, index=slice(None)) -> np.ndarray:
    return columns[dataset.label.name][index].astype(np.float32).reshape(-1, 1)


def run_fn(fn_args: FnArgs):
    """TFX Trainer will call this function."""
    hp, dataset = fn_args.custom_config["train"], datasets.load(fn_args.custom_config["dataset"])
    keras.utils.set_random_seed(hp["seed"])
    tf.config.experimental.enable_op_determinism()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = load_split(fn_args.train_files, tf_transform_output)
    evaluation = load_split(fn_args.eval_files, tf_transform_output)
    model = build_model(dataset, AnalyzerResults.read(fn_args.transform_output).size, hp)

    rows, steps = len(train[dataset.label.name]), fn_args.train_steps

    def train_batches():
        for index in batches(rows, hp["batch_size"], steps, hp["seed"]):
            yield _features(dataset, train, index), _labels(dataset, train, index)

    first_x, first_y = next(train_batches())
    signature = ({k: tf.TensorSpec([None, 1], v.dtype) for k, v in first_x.items()},
                 tf.TensorSpec([None, 1], first_y.dtype))
    periods, per_period = log_points(steps)
    start = time.perf_counter()
    model.fit(
        tf.data.Dataset.from_generator(train_batches, output_signature=signature),
        epochs=periods, steps_per_epoch=per_period,  # one iterator across epochs: `steps` steps in all
        validation_data=(_features(dataset, evaluation), _labels(dataset, evaluation)),
        validation_batch_size=4096,
        callbacks=[keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "keras"))],
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
